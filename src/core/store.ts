import * as fs from "node:fs"
import * as path from "node:path"
import { Context, Effect, Either, Layer, type Scope } from "effect"
import { type Json, canonicalJson, sha256 } from "./canonical.js"
import { FileError, UnhashableValue } from "./errors.js"
import { FileHashMemo, hashFileContent, listFiles } from "./file-hash.js"
import { ClosureResolver } from "./closure.js"
import { atomicWriteFileSync, fsTry, isAlreadyExists, isNotFound, processAlive, readJsonFileSync, removeTree } from "./fs-util.js"
import type { KeyRecord } from "./key.js"
import { withFileLock } from "./lock.js"

/** Bumped when the store layout changes. */
export const STORE_FORMAT = 1

/** A stage's stored output. */
export interface StoredOutput {
  /** Content hash of files + value + metrics: what consumers' keys see. */
  readonly hash: string
  /** Hash of the file tree (dir `trees/<tree>`). */
  readonly tree: string
  readonly value: Json
  readonly metrics: Readonly<Record<string, Json>>
  readonly files: number
  readonly bytes: number
}

/** What the store keeps per cache key: the result, and why it has this key (lineage). */
export interface RunRecord {
  readonly format: number
  readonly key: string
  readonly id: string
  readonly pipeline: string
  readonly fields: KeyRecord
  readonly codeFiles: Readonly<Record<string, string>>
  /** Input name → cache key(s) of the runs that produced the inputs. */
  readonly parents: Readonly<Record<string, string | ReadonlyArray<string>>>
  readonly output: StoredOutput
  /** Keys of the memo items this run used (kept alive by it in `gc`). */
  readonly items: ReadonlyArray<string>
  readonly startedAt: string
  readonly seconds: number
}

/** The last key a stage instance had in a pipeline: what `status` compares against. */
export interface StateEntry {
  readonly key: string
  readonly fields: KeyRecord | undefined
  readonly codeFiles: Readonly<Record<string, string>>
  /** For sources: the file manifest (path → hash), so status can name changed files. */
  readonly manifest?: Readonly<Record<string, string>>
  readonly at: string
}

export interface MemoItemRecord {
  readonly format: number
  readonly key: string
  readonly tree: string
  readonly value: Json
}

/** The result of `cairn gc`. */
export interface GcReport {
  readonly removedRuns: number
  readonly removedItems: number
  readonly removedTrees: number
  readonly removedObjects: number
  readonly bytesBefore: number
  readonly bytesAfter: number
}

const shard = (hash: string) => hash.slice(0, 2)

/** Files known to be store objects, by (dev, ino): their hash needs no reading at commit. */
export type KnownFiles = Map<string, string>
export const inodeKey = (st: fs.Stats) => `${st.dev}:${st.ino}`

/**
 * The content-addressed store under one cache directory:
 * `objects/ab/<sha256>` file blobs (deduplicated), `trees/<hash>/` materialised artifact folders
 * (hard links to objects), `runs/ab/<key>.json` run records, `items/ab/<key>.json` memo items,
 * `locks/`, `tmp/` (staging; swept when its process is dead), `state/` (last key per stage
 * instance and pipeline) and `history/` (one report per `cairn run`).
 */
export class Store {
  readonly fileHashes: FileHashMemo
  readonly closures: ClosureResolver

  constructor(
    readonly dir: string,
    readonly projectRoot: string,
  ) {
    this.fileHashes = new FileHashMemo(path.join(dir, "meta", "file-hashes.json"))
    this.closures = new ClosureResolver(projectRoot, path.join(dir, "meta", "closures.json"))
  }

  objectPath(hash: string) {
    return path.join(this.dir, "objects", shard(hash), hash)
  }
  treeDir(tree: string) {
    return path.join(this.dir, "trees", tree)
  }
  recordPath(key: string) {
    return path.join(this.dir, "runs", shard(key), `${key}.json`)
  }
  itemPath(key: string) {
    return path.join(this.dir, "items", shard(key), `${key}.json`)
  }
  manifestPath(tree: string) {
    return path.join(this.dir, "manifests", shard(tree), `${tree}.json`)
  }
  /** A stored tree's files: relative path → object hash. */
  treeManifest(tree: string): Map<string, string> {
    const m = readJsonFileSync<{ entries: Array<[string, string, number]> }>(this.manifestPath(tree))
    return new Map((m?.entries ?? []).map(([rel, hash]) => [rel, hash]))
  }
  lockPath(key: string) {
    return path.join(this.dir, "locks", `${key}.lock`)
  }
  statePath(pipeline: string, id: string) {
    return path.join(this.dir, "state", pipeline, `${encodeURIComponent(id)}.json`)
  }
  historyDir(pipeline: string) {
    return path.join(this.dir, "history", pipeline)
  }

  /** The run record for a key, if its output is complete in the store. */
  lookup(key: string): Effect.Effect<RunRecord | undefined> {
    return Effect.sync(() => {
      const record = readJsonFileSync<RunRecord>(this.recordPath(key))
      if (!record || record.format !== STORE_FORMAT) return undefined
      // A record whose tree was removed behind our back (manual deletion) is not a hit.
      if (!fs.existsSync(this.treeDir(record.output.tree))) return undefined
      return record
    })
  }

  /** Marks a record as used now (least-recently-used order for `gc --max-size`). */
  touch(key: string): Effect.Effect<void> {
    return Effect.sync(() => {
      const now = new Date()
      try {
        fs.utimesSync(this.recordPath(key), now, now)
      } catch (error) {
        if (!isNotFound(error)) throw error
      }
    })
  }

  /** A fresh staging directory under `tmp/`, removed when the scope closes. */
  staging(label: string): Effect.Effect<string, FileError, Scope.Scope> {
    return Effect.acquireRelease(
      fsTry(path.join(this.dir, "tmp"), "create staging dir", () => {
        const base = path.join(this.dir, "tmp")
        fs.mkdirSync(base, { recursive: true })
        return fs.mkdtempSync(path.join(base, `${process.pid}-${label.replace(/[^a-zA-Z0-9-]/g, "_")}-`))
      }),
      (dir) => Effect.orDie(removeTree(dir)),
    )
  }

  /** Removes staging left by dead processes (a run killed with SIGKILL). */
  sweepStaging(): Effect.Effect<number, FileError> {
    return fsTry(path.join(this.dir, "tmp"), "sweep", () => {
      const base = path.join(this.dir, "tmp")
      let removed = 0
      let entries: Array<string>
      try {
        entries = fs.readdirSync(base)
      } catch (error) {
        if (isNotFound(error)) return 0
        throw error
      }
      for (const name of entries) {
        const pid = Number(name.split("-")[0])
        if (Number.isInteger(pid) && pid > 0 && !processAlive(pid)) {
          fs.rmSync(path.join(base, name), { recursive: true, force: true })
          removed++
        }
      }
      return removed
    })
  }

  /** Holds the per-key lock for the scope (another process computing the same key makes us wait). */
  lock(key: string, onWait?: () => Effect.Effect<void>) {
    return withFileLock(this.lockPath(key), onWait ? () => onWait() : undefined)
  }

  /**
   * Moves the files of `dir` into the store: each file becomes (or is deduplicated against) an
   * object, and a tree folder of hard links is made. Returns the tree hash. `known` gives the
   * hashes of files that are hard links to objects already (no reading needed).
   */
  commitTree(dir: string, known: KnownFiles): Effect.Effect<{ tree: string; files: number; bytes: number }, FileError> {
    return Effect.gen(this, function* () {
      const rels = yield* listFiles(dir)
      const entries: Array<[string, string, number]> = []
      let bytes = 0
      for (const rel of rels) {
        const abs = path.join(dir, rel)
        const st = yield* fsTry(abs, "stat", () => fs.statSync(abs))
        const hash = known.get(inodeKey(st)) ?? (yield* hashFileContent(abs))
        entries.push([rel, hash, st.size])
        bytes += st.size
        const obj = this.objectPath(hash)
        yield* fsTry(obj, "store object", () => {
          if (fs.existsSync(obj)) return
          fs.mkdirSync(path.dirname(obj), { recursive: true })
          // A hard link keeps the staged file intact for the tree below; the object appears atomically.
          try {
            fs.linkSync(abs, obj)
          } catch (error) {
            if (!isAlreadyExists(error)) throw error
          }
          fs.chmodSync(obj, 0o444)
        })
      }
      const tree = sha256(JSON.stringify(entries))
      const target = this.treeDir(tree)
      const manifest = this.manifestPath(tree)
      if (!fs.existsSync(manifest)) yield* atomicWriteFileSync(manifest, JSON.stringify({ entries }))
      if (!fs.existsSync(target)) {
        const tmp = path.join(this.dir, "tmp", `${process.pid}-tree-${tree.slice(0, 16)}-${Math.random().toString(36).slice(2)}`)
        yield* fsTry(tmp, "build tree", () => {
          fs.mkdirSync(tmp, { recursive: true })
          for (const [rel, hash] of entries) {
            const dest = path.join(tmp, rel)
            fs.mkdirSync(path.dirname(dest), { recursive: true })
            fs.linkSync(this.objectPath(hash), dest)
          }
          fs.mkdirSync(path.dirname(target), { recursive: true })
          try {
            fs.renameSync(tmp, target)
          } catch (error) {
            // Another process made the same tree first: theirs is identical.
            const code = (error as NodeJS.ErrnoException).code
            if (code !== "ENOTEMPTY" && code !== "EEXIST") throw error
            fs.rmSync(tmp, { recursive: true, force: true })
          }
        })
      }
      return { tree, files: entries.length, bytes }
    })
  }

  /** Hashes an output: the tree, the value and the metrics together. */
  outputHash(tree: string, value: unknown, metrics: unknown): Either.Either<string, UnhashableValue> {
    return Either.map(canonicalJson({ tree, value, metrics }), sha256)
  }

  writeRecord(record: RunRecord): Effect.Effect<void, FileError> {
    return atomicWriteFileSync(this.recordPath(record.key), JSON.stringify(record))
  }

  readItem(key: string): Effect.Effect<MemoItemRecord | undefined> {
    return Effect.sync(() => {
      const item = readJsonFileSync<MemoItemRecord>(this.itemPath(key))
      if (!item || item.format !== STORE_FORMAT || !fs.existsSync(this.treeDir(item.tree))) return undefined
      return item
    })
  }

  writeItem(item: MemoItemRecord): Effect.Effect<void, FileError> {
    return atomicWriteFileSync(this.itemPath(item.key), JSON.stringify(item))
  }

  readState(pipeline: string, id: string): Effect.Effect<StateEntry | undefined> {
    return Effect.sync(() => readJsonFileSync<StateEntry>(this.statePath(pipeline, id)))
  }

  writeState(pipeline: string, id: string, entry: StateEntry): Effect.Effect<void, FileError> {
    return atomicWriteFileSync(this.statePath(pipeline, id), JSON.stringify(entry))
  }

  /** Saves what the memos learned (file hashes, code closures). */
  saveMemos(): Effect.Effect<void, FileError> {
    return Effect.zipRight(this.fileHashes.save(), this.closures.save())
  }

  /** Total bytes of objects (trees are hard links to them). */
  size(): Effect.Effect<number, FileError> {
    return fsTry(this.dir, "measure", () => {
      let total = 0
      const objects = path.join(this.dir, "objects")
      if (!fs.existsSync(objects)) return 0
      for (const s of fs.readdirSync(objects)) {
        for (const o of fs.readdirSync(path.join(objects, s))) total += fs.statSync(path.join(objects, s, o)).size
      }
      return total
    })
  }

  /**
   * Garbage collection: keeps the runs referenced by each stage instance's current state and by the
   * last `keepLast` runs of every pipeline (all when undefined), then, while the store is larger than
   * `maxBytes`, drops the least recently used of the rest and then of the kept ones; finally
   * sweeps memo items, trees and objects nothing references.
   */
  gc(options: { readonly keepLast?: number; readonly maxBytes?: number }): Effect.Effect<GcReport, FileError> {
    return fsTry(this.dir, "gc", () => {
      const bytesBefore = Effect.runSync(this.size())
      const records = new Map<string, { record: RunRecord; file: string; used: number }>()
      const runsDir = path.join(this.dir, "runs")
      if (fs.existsSync(runsDir)) {
        for (const s of fs.readdirSync(runsDir)) {
          for (const f of fs.readdirSync(path.join(runsDir, s))) {
            const file = path.join(runsDir, s, f)
            const record = readJsonFileSync<RunRecord>(file)
            if (record) records.set(record.key, { record, file, used: fs.statSync(file).mtimeMs })
            else fs.rmSync(file, { force: true })
          }
        }
      }
      // Roots: current state of every instance, and the runs of the last N history entries.
      const roots = new Set<string>()
      const stateDir = path.join(this.dir, "state")
      if (fs.existsSync(stateDir)) {
        for (const p of fs.readdirSync(stateDir)) {
          for (const f of fs.readdirSync(path.join(stateDir, p))) {
            const entry = readJsonFileSync<StateEntry>(path.join(stateDir, p, f))
            if (entry) roots.add(entry.key)
          }
        }
      }
      const historyRoot = path.join(this.dir, "history")
      const keepLast = options.keepLast
      if (fs.existsSync(historyRoot)) {
        for (const p of fs.readdirSync(historyRoot)) {
          const files = fs.readdirSync(path.join(historyRoot, p)).sort()
          const kept = keepLast === undefined ? files : files.slice(Math.max(0, files.length - keepLast))
          for (const f of files) {
            if (!kept.includes(f)) fs.rmSync(path.join(historyRoot, p, f), { force: true })
          }
          for (const f of kept) {
            const h = readJsonFileSync<{ stages?: Array<{ key?: string }> }>(path.join(historyRoot, p, f))
            for (const s of h?.stages ?? []) if (s.key) roots.add(s.key)
          }
        }
      }
      let removedRuns = 0
      const drop = (key: string) => {
        const r = records.get(key)
        if (!r) return
        fs.rmSync(r.file, { force: true })
        records.delete(key)
        removedRuns++
      }
      if (keepLast !== undefined) for (const key of [...records.keys()]) if (!roots.has(key)) drop(key)
      const sweep = () => this.sweepUnreferenced(records)
      let swept = sweep()
      if (options.maxBytes !== undefined) {
        const order = [...records.values()].sort((a, b) => {
          const ra = roots.has(a.record.key) ? 1 : 0
          const rb = roots.has(b.record.key) ? 1 : 0
          return ra - rb || a.used - b.used
        })
        for (const r of order) {
          if (Effect.runSync(this.size()) <= options.maxBytes) break
          drop(r.record.key)
          const more = sweep()
          swept = {
            items: swept.items + more.items,
            trees: swept.trees + more.trees,
            objects: swept.objects + more.objects,
          }
        }
      }
      return {
        removedRuns,
        removedItems: swept.items,
        removedTrees: swept.trees,
        removedObjects: swept.objects,
        bytesBefore,
        bytesAfter: Effect.runSync(this.size()),
      }
    })
  }

  private sweepUnreferenced(records: Map<string, { record: RunRecord }>) {
    const liveItems = new Set<string>()
    const liveTrees = new Set<string>()
    for (const { record } of records.values()) {
      liveTrees.add(record.output.tree)
      for (const i of record.items) liveItems.add(i)
    }
    let items = 0
    const itemsDir = path.join(this.dir, "items")
    if (fs.existsSync(itemsDir)) {
      for (const s of fs.readdirSync(itemsDir)) {
        for (const f of fs.readdirSync(path.join(itemsDir, s))) {
          const key = f.replace(/\.json$/, "")
          const file = path.join(itemsDir, s, f)
          if (!liveItems.has(key)) {
            fs.rmSync(file, { force: true })
            items++
          } else {
            const item = readJsonFileSync<MemoItemRecord>(file)
            if (item) liveTrees.add(item.tree)
          }
        }
      }
    }
    let trees = 0
    const liveObjects = new Set<string>()
    const treesDir = path.join(this.dir, "trees")
    if (fs.existsSync(treesDir)) {
      for (const t of fs.readdirSync(treesDir)) {
        const dir = path.join(treesDir, t)
        if (!liveTrees.has(t)) {
          fs.rmSync(dir, { recursive: true, force: true })
          fs.rmSync(this.manifestPath(t), { force: true })
          trees++
          continue
        }
        for (const rel of Effect.runSync(listFiles(dir))) {
          liveObjects.add(inodeKey(fs.statSync(path.join(dir, rel))))
        }
      }
    }
    let objects = 0
    const objectsDir = path.join(this.dir, "objects")
    if (fs.existsSync(objectsDir)) {
      for (const s of fs.readdirSync(objectsDir)) {
        for (const o of fs.readdirSync(path.join(objectsDir, s))) {
          const file = path.join(objectsDir, s, o)
          if (!liveObjects.has(inodeKey(fs.statSync(file)))) {
            fs.rmSync(file, { force: true })
            objects++
          }
        }
      }
    }
    return { items, trees, objects }
  }

  /** Removes the whole store. */
  clean(): Effect.Effect<void, FileError> {
    return removeTree(this.dir)
  }
}

/** The store service: one cache directory. */
export class CacheStore extends Context.Tag("cairn/CacheStore")<CacheStore, Store>() {
  static layer = (dir: string, projectRoot: string) =>
    Layer.effect(
      CacheStore,
      Effect.gen(function* () {
        const store = new Store(path.resolve(dir), path.resolve(projectRoot))
        yield* fsTry(store.dir, "create cache dir", () => fs.mkdirSync(store.dir, { recursive: true }))
        yield* store.sweepStaging()
        return store
      }),
    )
}
