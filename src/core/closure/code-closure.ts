import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { sha256 } from "../canonical.js"
import { ClosureError, describeError, FileError } from "../errors.js"
import { atomicWriteFileSync, readJsonFileSync } from "../fs-util.js"
import { type FileStamp, isRacy, sameStamp, statStamp } from "../stamp.js"
import { type ModuleImport, moduleImports, type NamedReexport, namedReexports } from "./imports.js"
import { installedVersions } from "./packages.js"
import { loadResolveConfig, packageOfFile, type ResolveConfig, resolveSpecifier } from "./module-resolution.js"

/**
 * The code closure of a stage: the modules that hold its code (where `defineStage` was called, and
 * any factory in between) and every project module they import, transitively, resolved as tsx
 * resolves them, plus the npm packages imported, with their installed versions.
 *
 * Two kinds of module are not followed: cairn's own core (the engine: versioned by the key format),
 * and a module of another stage when only stage definitions are imported from it (a stage sees its
 * upstream through the upstream's output hash, so editing that stage reruns this one only when the
 * output changes: early cutoff). Importing anything else from a stage module (a helper, a
 * constant) puts the whole module in the closure. An index of named re-exports only (`cairn/ml`,
 * src/ml/index.ts) is hashed, and of the modules behind it only those the names taken come from
 * are followed: a stage that takes `klDivergenceScore` from `cairn/ml` depends on the metric's
 * module, not on the training loop's.
 */
export interface CodeClosure {
  /** Project-relative path → sha256 of the file's bytes. */
  readonly files: Readonly<Record<string, string>>
  /** Package name → installed version, for every package the closure imports and their dependencies. */
  readonly packages: Readonly<Record<string, string>>
  /** sha256 over `files`: the code field of a cache key. */
  readonly hash: string
  /**
   * Every path whose change can change this closure (absolute): its files, the stage modules it
   * looked at and did not follow, resolution candidates that must stay absent, tsconfig and
   * package.json. The fast path stamps them all.
   */
  readonly watch: ReadonlyArray<string>
  /** Imports that cannot be followed (a computed `import(expr)`), "file: what". */
  readonly untracked: ReadonlyArray<string>
}

/** For each module defining stages of the plan: the names it exports stage definitions under. */
export type StageExports = ReadonlyMap<string, ReadonlySet<string>>

interface MemoRecord {
  /** Every watched path's stamp (null: must stay absent). */
  readonly stamps: Record<string, FileStamp | null>
  readonly files: Record<string, string>
  readonly externals: ReadonlyArray<string>
  readonly untracked: ReadonlyArray<string>
}

const HERE = path.dirname(fileURLToPath(import.meta.url))
/** cairn's engine: its core folder and the public entry re-exporting it. */
const CORE_DIR = path.resolve(HERE, "..") + path.sep
const PUBLIC_ENTRY = path.resolve(HERE, "..", "..", "index.ts")
const isFramework = (file: string) => file.startsWith(CORE_DIR) || file === PUBLIC_ENTRY

const readFile = (file: string): Effect.Effect<Buffer, FileError> =>
  Effect.try({
    try: () => fs.readFileSync(file),
    catch: (error) => new FileError({ file, operation: "read", detail: describeError(error), cause: error }),
  })

const sortedRecord = (entries: Iterable<readonly [string, string]>): Record<string, string> =>
  Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))

const exportsKey = (stageExports: StageExports) =>
  [...stageExports]
    .map(([f, names]) => `${f}:${[...names].sort().join(",")}`)
    .sort()
    .join("|")

/**
 * Computes code closures, memoised on disk by the stamps of every path a closure depends on: when
 * none changed, neither can the import graph, and nothing is parsed or read.
 */
export class ClosureResolver {
  private readonly memo: Record<string, MemoRecord>
  private dirty = false
  private config: ResolveConfig | undefined

  constructor(
    private readonly root: string,
    private readonly memoFile: string,
  ) {
    this.memo = readJsonFileSync<Record<string, MemoRecord>>(memoFile) ?? {}
  }

  private resolveConfig(): ResolveConfig {
    return (this.config ??= loadResolveConfig(this.root))
  }

  /** The closure of the modules `entries` (absolute paths). */
  closureOf(entries: ReadonlyArray<string>, stageExports: StageExports = new Map()): Effect.Effect<CodeClosure, ClosureError | FileError> {
    return Effect.gen(this, function* () {
      const roots = [...new Set(entries.map((e) => path.resolve(e)))].sort()
      const memoKey = sha256(`${roots.join("|")}#${exportsKey(stageExports)}`)
      const known = this.memo[memoKey]
      const graph =
        known && Object.entries(known.stamps).every(([f, s]) => (s === null ? statStamp(f) === undefined : sameStamp(statStamp(f), s)))
          ? known
          : yield* this.walk(roots, stageExports, memoKey)
      return {
        files: graph.files,
        packages: installedVersions(this.root, graph.externals),
        hash: sha256(JSON.stringify(graph.files)),
        watch: Object.keys(graph.stamps).sort(),
        untracked: graph.untracked,
      }
    })
  }

  private walk(roots: ReadonlyArray<string>, stageExports: StageExports, memoKey: string) {
    return Effect.gen(this, function* () {
      const config = this.resolveConfig()
      const followed = new Set<string>()
      const watched = new Set<string>(config.configFiles)
      const absent = new Set<string>()
      const externals = new Set<string>()
      const untracked: Array<string> = []
      const files: Array<[string, string]> = []
      const queue = [...roots]
      /** Index modules taken by name: hashed, but only the modules behind the names taken are followed. */
      const indexes = new Map<string, ReadonlyArray<NamedReexport> | undefined>()
      const follow = (
        specifier: string,
        names: ModuleImport["names"],
        kind: ModuleImport["kind"],
        file: string,
      ): Effect.Effect<void, ClosureError | FileError> =>
        Effect.gen(this, function* () {
          const r = resolveSpecifier(specifier, file, config)
          if (r.kind === "builtin") return
          for (const p of r.probes) absent.add(p)
          if (r.kind === "package") {
            externals.add(r.name)
            return
          }
          if (r.kind === "unresolved") {
            // tsx fails the same import at run time; a dynamic one may be optional (try/catch).
            if (kind === "static") return yield* new ClosureError({ file, detail: `cannot resolve "${specifier}"` })
            return
          }
          const target = r.file
          if (isFramework(target)) return
          const pkg = packageOfFile(target)
          if (pkg) {
            externals.add(pkg)
            return
          }
          const stages = stageExports.get(target)
          if (stages && names !== "*" && names.length > 0 && names.every((n) => stages.has(n))) {
            watched.add(target) // what it exports decided that it is not followed
            return
          }
          if (kind === "static" && names !== "*" && names.length > 0) {
            if (!indexes.has(target)) {
              const bytes = yield* readFile(target)
              const reexports = yield* namedReexports(target, bytes.toString("utf8"), config.tsconfigRaw)
              indexes.set(target, reexports)
              if (reexports !== undefined) {
                watched.add(target)
                files.push([path.relative(this.root, target).split(path.sep).join("/"), sha256(bytes)])
              }
            }
            const reexports = indexes.get(target)
            if (reexports !== undefined) {
              for (const re of reexports) {
                const taken = re.imported.filter((_, i) => names.includes(re.exported[i]!))
                if (taken.length > 0) yield* follow(re.specifier, taken, "static", target)
              }
              return
            }
          }
          queue.push(target)
        })
      while (queue.length > 0) {
        const file = queue.pop()!
        if (followed.has(file)) continue
        followed.add(file)
        watched.add(file)
        const bytes = yield* readFile(file)
        files.push([path.relative(this.root, file).split(path.sep).join("/"), sha256(bytes)])
        for (const imp of yield* moduleImports(file, bytes.toString("utf8"), config.tsconfigRaw)) {
          if (imp.specifier === undefined) {
            untracked.push(`${path.relative(this.root, file)}: import() of a computed specifier`)
            continue
          }
          yield* follow(imp.specifier, imp.names, imp.kind, file)
        }
      }
      const stamps: Record<string, FileStamp | null> = {}
      for (const p of watched) stamps[p] = statStamp(p) ?? null
      for (const p of absent) if (!(p in stamps)) stamps[p] = statStamp(p) ?? null
      const record: MemoRecord = { stamps, files: sortedRecord(files), externals: [...externals].sort(), untracked }
      const now = Date.now()
      // A file edited this instant could be edited again within its timestamp's tick unseen: such a
      // closure is used but not remembered.
      if (!Object.values(stamps).some((s) => s !== null && isRacy(s, now))) {
        this.memo[memoKey] = record
        this.dirty = true
      }
      return record
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
