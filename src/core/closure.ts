import * as fs from "node:fs"
import { builtinModules } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { sha256 } from "./canonical.js"
import { ClosureError, FileError } from "./errors.js"
import { type FileStamp, stampOf } from "./file-hash.js"
import { atomicWriteFileSync, readJsonFileSync } from "./fs-util.js"

/**
 * The code closure of a module: the module and every project-local module it imports, transitively
 * (static and literal dynamic imports, and worker entries written as `new URL("./x.ts", import.meta.url)`),
 * resolved from the real import graph by esbuild, plus the npm packages it imports, with their versions
 * from the lockfile.
 */
export interface CodeClosure {
  /** Project-relative path → sha256 of the file's bytes. */
  readonly files: Readonly<Record<string, string>>
  /** Package name → version, for every package the closure imports, and their dependencies. */
  readonly packages: Readonly<Record<string, string>>
  /** sha256 over `files`: the code field of a cache key. */
  readonly hash: string
}

interface MemoRecord {
  readonly stamps: Record<string, FileStamp>
  readonly closure: CodeClosure
}

const WORKER_URL = /new\s+URL\(\s*["'`](\.{1,2}\/[^"'`]+)["'`]\s*,\s*import\.meta\.url\s*\)/g

/** "@scope/name/sub/path" → "@scope/name"; "name/sub" → "name"; node builtins → undefined. */
export const packageNameOf = (specifier: string): string | undefined => {
  if (specifier.startsWith("node:") || specifier.startsWith(".") || specifier.startsWith("/")) return undefined
  const parts = specifier.split("/")
  const name = specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]
  if (!name) return undefined
  // Bare builtins without the node: prefix ("fs", "path").
  if (!specifier.startsWith("@") && isBuiltin(name)) return undefined
  return name
}

const isBuiltin = (name: string): boolean => builtinModules.includes(name)

interface Lockfile {
  readonly packages?: Record<string, { version?: string; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }>
}

/** Versions of `names` and everything they depend on, from package-lock.json (or installed package.json). */
export const packageVersions = (root: string, names: Iterable<string>): Record<string, string> => {
  const lock = readJsonFileSync<Lockfile>(path.join(root, "package-lock.json"))
  const out: Record<string, string> = {}
  const queue = [...names]
  while (queue.length > 0) {
    const name = queue.pop()!
    if (name in out) continue
    // The lockfile when there is one, else the installed package.json.
    const entry =
      lock?.packages?.[`node_modules/${name}`] ??
      readJsonFileSync<{ version?: string; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }>(
        path.join(root, "node_modules", name, "package.json"),
      )
    out[name] = entry?.version ?? "unknown"
    for (const dep of Object.keys({ ...entry?.dependencies, ...entry?.optionalDependencies })) queue.push(dep)
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

const sortedRecord = (entries: Iterable<[string, string]>): Record<string, string> =>
  Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))

const statStamp = (file: string): FileStamp | undefined => {
  try {
    return stampOf(fs.statSync(file))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw error
  }
}

/**
 * cairn's own core (this folder) is the engine, not the stage's code: it is versioned by the key
 * format, and editing the runner must not invalidate every cached result.
 */
const CORE_DIR = path.dirname(fileURLToPath(import.meta.url)) + path.sep

/**
 * Keeps cairn's core out of closures, and the modules of other stages too: a stage sees its
 * upstream stages through their artifacts (content hashes), not through their code, so editing
 * an upstream stage reruns this one only when the upstream output changes (early cutoff).
 */
const externalPlugin = (exclude: ReadonlySet<string>) => ({
  name: "cairn-closure-external",
  setup(build: { onResolve: (opts: { filter: RegExp }, cb: (args: { path: string; resolveDir: string }) => { path: string; external: boolean } | undefined) => void }) {
    build.onResolve({ filter: /^(\.{1,2}\/|\/)/ }, (args) => {
      const abs = resolveTsSibling(path.resolve(args.resolveDir, args.path))
      return abs && (abs.startsWith(CORE_DIR) || exclude.has(abs)) ? { path: abs, external: true } : undefined
    })
  },
})

/** Resolves the import graph of `entries` (absolute paths) with esbuild. */
const resolveGraph = (root: string, entries: ReadonlyArray<string>, exclude: ReadonlySet<string>) =>
  Effect.tryPromise({
    try: async () => {
      const esbuild = await import("esbuild")
      const local = new Set<string>()
      const externals = new Set<string>()
      let pending = [...entries]
      while (pending.length > 0) {
        const result = await esbuild.build({
          entryPoints: pending,
          absWorkingDir: root,
          bundle: true,
          write: false,
          metafile: true,
          platform: "node",
          format: "esm",
          packages: "external",
          splitting: true,
          outdir: path.join(root, ".cairn-closure-out"),
          logLevel: "silent",
          plugins: [externalPlugin(exclude)],
        })
        const next: Array<string> = []
        for (const [rel, input] of Object.entries(result.metafile.inputs)) {
          const abs = path.resolve(root, rel)
          if (local.has(abs)) continue
          local.add(abs)
          for (const imp of input.imports) {
            if (imp.external) {
              const name = packageNameOf(imp.path)
              if (name) externals.add(name)
            }
          }
          const text = fs.readFileSync(abs, "utf8")
          for (const m of text.matchAll(WORKER_URL)) {
            const target = resolveTsSibling(path.resolve(path.dirname(abs), m[1]!))
            if (target && !local.has(target)) next.push(target)
          }
        }
        pending = next.filter((f) => !local.has(f))
      }
      return { local, externals }
    },
    catch: (error) => {
      const err = error as { errors?: Array<{ text: string; location?: { file: string; line: number } }> }
      const first = err.errors?.[0]
      return new ClosureError({
        file: first?.location?.file ?? entries[0] ?? root,
        detail: first ? `${first.text}${first.location ? ` (line ${first.location.line})` : ""}` : String(error),
      })
    },
  })

/** "./x.js" written in TypeScript source refers to "./x.ts" on disk. */
const resolveTsSibling = (abs: string): string | undefined => {
  const candidates = [abs, abs.replace(/\.js$/, ".ts"), abs.replace(/\.mjs$/, ".mts")]
  return candidates.find((c) => fs.existsSync(c))
}

/**
 * Computes code closures, memoised on disk by the stamps of every file in a closure: when none of
 * them changed, the import graph cannot have changed either, and nothing is parsed or read.
 */
export class ClosureResolver {
  private readonly memo: Record<string, MemoRecord>
  private dirty = false

  constructor(
    private readonly root: string,
    private readonly memoFile: string,
  ) {
    this.memo = readJsonFileSync<Record<string, MemoRecord>>(memoFile) ?? {}
  }

  /** The closure of `entry`, not following imports of the modules in `exclude` (other stages). */
  closureOf(entry: string, exclude: ReadonlyArray<string> = []): Effect.Effect<CodeClosure, ClosureError | FileError> {
    return Effect.gen(this, function* () {
      const abs = path.resolve(entry)
      const excluded = new Set(exclude.map((e) => path.resolve(e)).filter((e) => e !== abs))
      const memoKey = `${abs}|${[...excluded].sort().join("|")}`
      const known = this.memo[memoKey]
      if (known && Object.entries(known.stamps).every(([f, s]) => sameStamp(statStamp(f), s))) {
        return known.closure
      }
      const { local, externals } = yield* resolveGraph(this.root, [abs], excluded)
      const stamps: Record<string, FileStamp> = {}
      const files: Array<[string, string]> = []
      for (const file of local) {
        const bytes = yield* Effect.try({
          try: () => fs.readFileSync(file),
          catch: (error) => new FileError({ file, operation: "read", detail: String((error as Error).message) }),
        })
        const stamp = statStamp(file)
        if (stamp) stamps[file] = stamp
        files.push([path.relative(this.root, file).split(path.sep).join("/"), sha256(bytes)])
      }
      const fileRecord = sortedRecord(files)
      const closure: CodeClosure = {
        files: fileRecord,
        packages: packageVersions(this.root, externals),
        hash: sha256(JSON.stringify(fileRecord)),
      }
      this.memo[memoKey] = { stamps, closure }
      this.dirty = true
      return closure
    })
  }

  save(): Effect.Effect<void, FileError> {
    return Effect.suspend(() => {
      if (!this.dirty) return Effect.void
      this.dirty = false
      const merged = { ...(readJsonFileSync<Record<string, MemoRecord>>(this.memoFile) ?? {}), ...this.memo }
      return atomicWriteFileSync(this.memoFile, JSON.stringify(merged))
    })
  }
}

const sameStamp = (a: FileStamp | undefined, b: FileStamp): boolean =>
  a !== undefined && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino
