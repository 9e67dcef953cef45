/**
 * Versions of the npm packages a closure imports, and of everything they depend on, as installed:
 * from npm's record of the installed tree (`node_modules/.package-lock.json`), else the lockfile,
 * else each package's own package.json. Read fresh for every key (the files are memoised by their
 * stamps within a process), so a dependency upgrade changes the key of every stage that imports it.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { readJsonFileSync } from "../fs-util.js"
import { sameStamp, statStamp, type FileStamp } from "../stamp.js"

interface LockEntry {
  readonly version?: string
  readonly dependencies?: Readonly<Record<string, string>>
  readonly optionalDependencies?: Readonly<Record<string, string>>
}

interface Lockfile {
  readonly packages?: Readonly<Record<string, LockEntry>>
}

/** The files whose content decides the installed versions, most trusted first. */
export const lockfilesOf = (root: string): ReadonlyArray<string> => [
  path.join(root, "node_modules", ".package-lock.json"),
  path.join(root, "package-lock.json"),
]

const cache = new Map<string, { stamp: FileStamp; lock: Lockfile }>()

const readLockfile = (file: string): Lockfile | undefined => {
  const stamp = statStamp(file)
  if (!stamp) return undefined
  const known = cache.get(file)
  if (known && sameStamp(known.stamp, stamp)) return known.lock
  const lock = readJsonFileSync<Lockfile>(file)
  if (!lock?.packages) return undefined
  cache.set(file, { stamp, lock })
  return lock
}

/** `node_modules/a/node_modules/b`, then `node_modules/b`: where `name` resolves from `from`. */
const lookupFrom = (packages: Readonly<Record<string, LockEntry>>, from: string, name: string): [string, LockEntry] | undefined => {
  let base = from
  for (;;) {
    const key = base ? `${base}/node_modules/${name}` : `node_modules/${name}`
    const entry = packages[key]
    if (entry) return [key, entry]
    if (!base) return undefined
    const i = base.lastIndexOf("/node_modules/")
    base = i < 0 ? "" : base.slice(0, i)
  }
}

/** Package name → installed version for `names` and their dependencies, sorted by name. */
export const installedVersions = (root: string, names: Iterable<string>): Record<string, string> => {
  const lock = lockfilesOf(root)
    .map(readLockfile)
    .find((l) => l !== undefined)
  const out: Record<string, string> = {}
  const queue: Array<[string, string]> = [...names].map((n) => ["", n])
  while (queue.length > 0) {
    const [from, name] = queue.pop()!
    let entry: LockEntry | undefined
    let at = ""
    if (lock?.packages) {
      const found = lookupFrom(lock.packages, from, name)
      if (found) [at, entry] = found
    } else {
      entry = readJsonFileSync<LockEntry>(path.join(root, "node_modules", name, "package.json"))
      at = `node_modules/${name}`
    }
    // Two installed copies of one name at different versions: both are listed.
    const version = entry?.version ?? (fs.existsSync(path.join(root, "node_modules", name)) ? "unknown" : "missing")
    const label = out[name] === undefined || out[name] === version ? name : `${name}@${at}`
    if (label in out) continue
    out[label] = version
    for (const dep of Object.keys({ ...entry?.dependencies, ...entry?.optionalDependencies })) queue.push([at, dep])
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}
