/**
 * Trees of the local store: a folder of hard links to objects, described by a manifest of
 * (path, hash, size, mtime, ctime, inode) entries. A tree is complete when every entry is there with
 * its size; a file whose stamp changed in any other way is rehashed (a `touch` or a new hard link is
 * harmless, a write is corruption, even one that puts the mtime back: that changes the ctime, which
 * no user can set back). The stamps are recorded after the store's own last link to each file, so an
 * honest store is checked by `stat` alone.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import type { TreeHash } from "../../hashes.js"
import { failpoint } from "../../failpoint.js"
import { hashFileContent } from "../../file-hash.js"
import { describeError } from "../../errors.js"
import { readJsonFileSync } from "../../fs-util.js"
import { isNotFound, tempName, writeFileAtomicSync } from "../../fs-primitives.js"
import { StoreError, type TamperedFile, type TreeSeal } from "../records.js"
import type { LocalLayout } from "../layout.js"

/**
 * One file of a tree: relative path, object hash, size, and the object's mtime, ctime and inode as
 * last checked (a manifest of an older cairn has no ctime and inode: its files are rehashed once).
 */
export type TreeEntry = readonly [rel: string, hash: string, size: number, mtimeMs: number, ctimeMs?: number, ino?: number]

/** The entry of a file of content `hash` whose stamp is `st`. */
export const entryOf = (rel: string, hash: string, st: fs.Stats): TreeEntry => [rel, hash, st.size, st.mtimeMs, st.ctimeMs, st.ino]

/** Whether `st` is the stamp `entry` recorded (the file was not touched since). */
export const sameEntryStamp = (entry: TreeEntry, st: fs.Stats) =>
  st.size === entry[2] && st.mtimeMs === entry[3] && st.ctimeMs === entry[4] && st.ino === entry[5]

export const ioError = (file: string, operation: string) => (error: unknown) =>
  new StoreError({ reason: "io", path: file, operation, detail: describeError(error), cause: error })

/** Runs a synchronous file operation of the store, mapping a thrown error to a StoreError. */
export const storeTry = <A>(file: string, operation: string, f: () => A): Effect.Effect<A, StoreError> =>
  Effect.try({ try: f, catch: ioError(file, operation) })

export const readManifest = (layout: LocalLayout, tree: string): ReadonlyArray<TreeEntry> | undefined =>
  readJsonFileSync<{ entries?: Array<TreeEntry> }>(layout.manifest(tree))?.entries

export const writeManifest = (layout: LocalLayout, tree: string, entries: ReadonlyArray<TreeEntry>) =>
  storeTry(layout.manifest(tree), "write manifest", () => writeFileAtomicSync(layout.manifest(tree), JSON.stringify({ entries })))

/** The file's stats, or undefined when it does not exist (any other failure is thrown). */
export const statOrUndefined = (file: string): fs.Stats | undefined => {
  try {
    return fs.statSync(file)
  } catch (error) {
    if (isNotFound(error)) return undefined
    throw error
  }
}

/** Moves an object found corrupt aside (kept for inspection, never served again). */
export const quarantineObject = (layout: LocalLayout, hash: string) =>
  storeTry(layout.object(hash), "quarantine", () => {
    fs.mkdirSync(layout.quarantineDir, { recursive: true })
    try {
      fs.renameSync(layout.object(hash), path.join(layout.quarantineDir, `${hash}-${Date.now()}`))
    } catch (error) {
      if (!isNotFound(error)) throw error
    }
  })

/** Removes a tree: renamed away first (readers see it whole or not at all), then deleted. */
export const removeTree = (layout: LocalLayout, tree: string) =>
  storeTry(layout.tree(tree), "remove tree", () => {
    const aside = tempName(path.join(layout.tmpDir, `${process.pid}-rm-${tree.slice(0, 12)}`))
    fs.mkdirSync(layout.tmpDir, { recursive: true })
    try {
      fs.renameSync(layout.tree(tree), aside)
    } catch (error) {
      if (!isNotFound(error)) throw error
      return
    }
    failpoint("remove-tree")
    fs.rmSync(aside, { recursive: true, force: true })
  })

export type TreeCheck =
  | { readonly ok: true; readonly entries: ReadonlyArray<TreeEntry>; readonly stats: ReadonlyArray<fs.Stats> }
  | { readonly ok: false; readonly file: string; readonly detail: string }

/**
 * Whether a stored tree is complete: its manifest readable, every file present with its size and
 * stamp. A file whose stamp changed (mtime, ctime or inode) is rehashed: one whose content still
 * matches is accepted (and the manifest updated, so it is read once), one whose content changed is
 * quarantined with every tree holding it, and the tree is a miss. `rehashed` hears of every file read.
 */
export const checkTree = (layout: LocalLayout, tree: string, rehashed?: (file: string) => void): Effect.Effect<TreeCheck, StoreError> =>
  Effect.gen(function* () {
    const entries = readManifest(layout, tree)
    if (!entries) return { ok: false, file: layout.manifest(tree), detail: "no manifest" } as const
    const dir = layout.tree(tree)
    const stats: Array<fs.Stats> = []
    let repaired: Array<TreeEntry> | undefined
    for (const [i, entry] of entries.entries()) {
      const [rel, hash, size] = entry
      const file = path.join(dir, rel)
      const st = yield* storeTry(file, "stat", () => statOrUndefined(file))
      if (!st) return { ok: false, file, detail: "missing" } as const
      if (st.size !== size) return { ok: false, file, detail: `size ${st.size}, stored ${size}` } as const
      if (!sameEntryStamp(entry, st)) {
        rehashed?.(file)
        const actual = yield* Effect.mapError(hashFileContent(file), (e) => ioError(file, "hash")(e))
        if (actual !== hash) {
          yield* quarantineIfObject(layout, hash, st)
          return { ok: false, file, detail: "content changed" } as const
        }
        repaired ??= [...entries]
        repaired[i] = entryOf(rel, hash, st)
      }
      stats.push(st)
    }
    if (repaired) yield* writeManifest(layout, tree, repaired)
    return { ok: true, entries: repaired ?? entries, stats } as const
  })

/**
 * Records the new ctime of the files `rels` of `tree` after the store itself linked or unlinked them
 * (their content checked beforehand by whoever calls this): an entry is updated only when its size,
 * mtime and inode are unchanged, else it stays as it was and the next lookup rehashes the file.
 */
export const restampTree = (layout: LocalLayout, tree: string, rels?: ReadonlySet<string>) =>
  storeTry(layout.manifest(tree), "restamp", () => {
    const entries = readManifest(layout, tree)
    if (!entries) return
    let changed = false
    const updated = entries.map((entry) => {
      if (rels && !rels.has(entry[0])) return entry
      const st = statOrUndefined(path.join(layout.tree(tree), entry[0]))
      if (!st || sameEntryStamp(entry, st) || st.size !== entry[2] || st.mtimeMs !== entry[3] || st.ino !== entry[5]) return entry
      changed = true
      return entryOf(entry[0], entry[1], st)
    })
    if (changed) writeFileAtomicSync(layout.manifest(tree), JSON.stringify({ entries: updated }))
  })

/** Quarantines the object `hash` when `st` (a changed tree file) is that object's inode. */
const quarantineIfObject = (layout: LocalLayout, hash: string, st: fs.Stats) =>
  Effect.gen(function* () {
    const obj = yield* storeTry(layout.object(hash), "stat", () => statOrUndefined(layout.object(hash)))
    if (obj && obj.ino === st.ino && obj.dev === st.dev) yield* quarantineObject(layout, hash)
  })

/** The stamps a stage's input tree has when it is handed over. */
export const sealOf = (tree: TreeHash, dir: string, entries: ReadonlyArray<TreeEntry>, stats: ReadonlyArray<fs.Stats>): TreeSeal => ({
  tree,
  dir,
  files: entries.map(([rel], i) => {
    const st = stats[i]!
    return [rel, st.size, st.mtimeMs, st.ctimeMs, st.ino] as const
  }),
})

/**
 * What changed in a sealed tree. `expectedCtime` holds the change times the store itself caused
 * (hard links made by `place`); any other change of time is checked by rehashing, so a link made by
 * another process is no false alarm while a write (even one that restores mtime) is caught.
 */
export const tamperedFiles = (
  layout: LocalLayout,
  seal: TreeSeal,
  expectedCtime: ReadonlyMap<number, number>,
): Effect.Effect<ReadonlyArray<TamperedFile>, StoreError> =>
  Effect.gen(function* () {
    const entries = new Map((readManifest(layout, seal.tree) ?? []).map((e) => [e[0], e] as const))
    const out: Array<TamperedFile> = []
    const sealed = new Set<string>()
    for (const [rel, size, mtimeMs, ctimeMs, ino] of seal.files) {
      sealed.add(rel)
      const file = path.join(seal.dir, rel)
      const st = yield* storeTry(file, "stat", () => statOrUndefined(file))
      if (!st) {
        out.push({ file: rel, change: "removed" })
        continue
      }
      if (st.size !== size || st.mtimeMs !== mtimeMs || st.ino !== ino) {
        out.push({ file: rel, change: "modified" })
        continue
      }
      if (st.ctimeMs === ctimeMs || st.ctimeMs === expectedCtime.get(ino)) continue
      const hash = entries.get(rel)?.[1]
      const actual = yield* Effect.mapError(hashFileContent(file), (e) => ioError(file, "hash")(e))
      if (actual !== hash) out.push({ file: rel, change: "modified" })
    }
    const present = yield* storeTry(seal.dir, "list", () => listRelative(seal.dir))
    for (const rel of present) if (!sealed.has(rel)) out.push({ file: rel, change: "added" })
    return out
  })

/** Every entry (file or other) under a folder, relative, '/'-separated; [] when it is gone. */
export const listRelative = (dir: string): Array<string> => {
  const out: Array<string> = []
  const walk = (rel: string) => {
    let entries: Array<fs.Dirent>
    try {
      entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true })
    } catch (error) {
      if (isNotFound(error)) return
      throw error
    }
    for (const e of entries) {
      const child = rel ? `${rel}/${e.name}` : e.name
      if (e.isDirectory()) walk(child)
      else out.push(child)
    }
  }
  walk("")
  return out.sort()
}

/** The names in a store folder; none when the folder does not exist (yet). */
export const readdirOrEmpty = (dir: string): Array<string> => {
  try {
    return fs.readdirSync(dir)
  } catch (error) {
    if (isNotFound(error)) return []
    throw error
  }
}
