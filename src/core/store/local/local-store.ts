/**
 * The local store: one cache folder of content-addressed objects and trees of hard links to them
 * (see layout.js). Lookups answer only with complete results; inputs handed to a stage are sealed
 * and checked after it ran; commits are crash-safe; gc and clean respect the leases of live runs.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Context, Effect, Layer } from "effect"
import { ClosureResolver } from "../../closure/code-closure.js"
import { describeError } from "../../errors.js"
import { FileHashMemo } from "../../file-hash.js"
import type { StageKey, TreeHash } from "../../hashes.js"
import { processAlive, readJsonFileSync } from "../../fs-util.js"
import { sweepStaleLocks, withFileLock } from "../../lock.js"
import { isNotFound, writeFileAtomicSync } from "../../fs-primitives.js"
import type { Cache, ProgressRecords } from "../cache.js"
import {
  type HistoryFile,
  type Materialized,
  type MemoItemRecord,
  type RunRecord,
  type StateEntry,
  STORE_FORMAT,
  StoreError,
  type TreeSeal,
} from "../records.js"
import type { RunHistory } from "../run-history.js"
import type { StoreAdmin } from "../store-admin.js"
import { type LocalLayout, localLayout } from "../layout.js"
import { importItem, importRecord, type KnownFiles, openStaging } from "./commit.js"
import { clean, gc } from "./gc.js"
import { Leases } from "./leases.js"
import { claimStoreFolder } from "./store-marker.js"
import { checkTree, quarantineObject, readdirOrEmpty, readManifest, removeTree, sealOf, storeTry, tamperedFiles } from "./trees.js"
import { verify } from "./verify.js"
import { localProgress } from "./progress.js"

/**
 * The store of this machine: the cache folder all three store services are served from (`Cache`
 * when there is no remote, `StoreAdmin` and `RunHistory` always), and what the remote tier builds on.
 */
export interface LocalStore extends Cache, StoreAdmin, RunHistory {
  readonly layout: LocalLayout
  /**
   * Stored files whose content a lookup read because their stamp had changed (for tests: an
   * honest store is checked by `stat` alone).
   */
  readonly rehashed: ReadonlyArray<string>
  readonly remote: undefined
  /** Removes staging left by dead processes (a run killed with SIGKILL). */
  readonly sweepStaging: () => Effect.Effect<number, StoreError>
  /** Installs a result made elsewhere from the files of `dir` (see `importRecord`); false when they do not make its tree. */
  readonly importResult: (record: RunRecord, dir: string, known: KnownFiles) => Effect.Effect<boolean, StoreError>
  /** Installs a memo item made elsewhere from the files of `dir`; false when they do not make its tree. */
  readonly importItem: (item: MemoItemRecord, dir: string, known: KnownFiles) => Effect.Effect<boolean, StoreError>
}

class FolderStore implements LocalStore {
  readonly layout: LocalLayout
  readonly fileHashes: FileHashMemo
  readonly closures: ClosureResolver
  readonly remote = undefined
  readonly progress: ProgressRecords
  private readonly leases: Leases
  private readonly expectedCtime = new Map<number, number>()
  readonly rehashed: Array<string> = []
  private readonly noteRehash = (file: string) => void this.rehashed.push(file)

  constructor(
    dir: string,
    readonly projectRoot: string,
  ) {
    this.layout = localLayout(dir)
    this.fileHashes = new FileHashMemo(this.layout.meta("file-hashes.json"))
    this.closures = new ClosureResolver(projectRoot, this.layout.meta("closures.json"))
    this.leases = new Leases(this.layout)
    this.progress = localProgress(this.layout)
  }

  get location(): string {
    return this.layout.dir
  }

  sweepStaging(): Effect.Effect<number, StoreError> {
    return storeTry(this.layout.tmpDir, "sweep staging", () => {
      let removed = 0
      for (const name of readdirOrEmpty(this.layout.tmpDir)) {
        const pid = Number(name.split("-")[0])
        if (Number.isInteger(pid) && pid > 0 && !processAlive(pid)) {
          fs.rmSync(path.join(this.layout.tmpDir, name), { recursive: true, force: true })
          removed++
        }
      }
      return removed
    })
  }

  lookup(key: StageKey): Effect.Effect<RunRecord | undefined, StoreError> {
    return Effect.gen(this, function* () {
      const record = readJsonFileSync<RunRecord>(this.layout.record(key))
      if (!record || record.format !== STORE_FORMAT || record.key !== key) return undefined
      yield* this.leases.register([["r", key], ["t", record.output.tree], ...record.items.map((i) => ["i", i] as const)])
      // After registering: whatever is still here stays while our lease lasts.
      if (!fs.existsSync(this.layout.record(key))) return undefined
      const check = yield* checkTree(this.layout, record.output.tree, this.noteRehash)
      if (!check.ok) {
        // Half a result is no result: a miss, and the broken tree goes so a rerun can rebuild it.
        yield* removeTree(this.layout, record.output.tree)
        return undefined
      }
      return record
    })
  }

  materialize(tree: TreeHash): Effect.Effect<Materialized, StoreError> {
    return Effect.gen(this, function* () {
      yield* this.leases.register([["t", tree]])
      const check = yield* checkTree(this.layout, tree, this.noteRehash)
      if (!check.ok) {
        return yield* new StoreError({ reason: "incomplete", path: check.file, operation: "read stored result", detail: check.detail })
      }
      const dir = this.layout.tree(tree)
      return { dir, seal: sealOf(tree, dir, check.entries, check.stats) }
    })
  }

  checkSeal(seal: TreeSeal) {
    return Effect.gen(this, function* () {
      const tampered = yield* tamperedFiles(this.layout, seal, this.expectedCtime)
      if (tampered.length === 0) return tampered
      // The stored tree was written into: its objects are no longer what their names say.
      const byRel = new Map((readManifest(this.layout, seal.tree) ?? []).map((e) => [e[0], e[1]] as const))
      for (const t of tampered) {
        const hash = byRel.get(t.file)
        if (hash && t.change === "modified") yield* quarantineObject(this.layout, hash)
      }
      yield* removeTree(this.layout, seal.tree)
      return tampered
    })
  }

  lookupItem(key: StageKey) {
    return Effect.gen(this, function* () {
      const record = readJsonFileSync<MemoItemRecord>(this.layout.item(key))
      if (!record || record.format !== STORE_FORMAT || record.key !== key) return undefined
      yield* this.leases.register([
        ["i", key],
        ["t", record.tree],
      ])
      if (!fs.existsSync(this.layout.item(key))) return undefined
      const check = yield* checkTree(this.layout, record.tree, this.noteRehash)
      if (!check.ok) {
        yield* removeTree(this.layout, record.tree)
        return undefined
      }
      const dir = this.layout.tree(record.tree)
      return { record, files: { dir, seal: sealOf(record.tree, dir, check.entries, check.stats) } }
    })
  }

  staging(label: string) {
    return openStaging(this.commitContext(), label)
  }

  importResult(record: RunRecord, dir: string, known: KnownFiles): Effect.Effect<boolean, StoreError> {
    return importRecord(this.commitContext(), record, dir, known)
  }

  importItem(item: MemoItemRecord, dir: string, known: KnownFiles): Effect.Effect<boolean, StoreError> {
    return importItem(this.commitContext(), item, dir, known)
  }

  private commitContext() {
    return { layout: this.layout, leases: this.leases, expectedCtime: this.expectedCtime }
  }

  lock(key: StageKey, onWait?: () => Effect.Effect<void>) {
    return Effect.mapError(
      Effect.asVoid(withFileLock(this.layout.lock(key), onWait ? () => onWait() : undefined)),
      (e) => new StoreError({ reason: "io", path: e.file, operation: "lock", detail: e.detail, cause: e }),
    )
  }

  lease() {
    return Effect.zipRight(
      storeTry(this.layout.locksDir, "sweep stale locks", () => sweepStaleLocks(this.layout.locksDir)),
      this.leases.acquire(),
    )
  }

  touch(key: StageKey): Effect.Effect<void> {
    return Effect.sync(() => {
      const now = new Date()
      try {
        fs.utimesSync(this.layout.record(key), now, now)
      } catch (error) {
        if (!isNotFound(error)) throw error
      }
    })
  }

  readState(pipeline: string, id: string): Effect.Effect<StateEntry | undefined> {
    return Effect.sync(() => readJsonFileSync<StateEntry>(this.layout.state(pipeline, id)))
  }

  writeState(pipeline: string, id: string, entry: StateEntry) {
    const file = this.layout.state(pipeline, id)
    return storeTry(file, "write state", () => writeFileAtomicSync(file, JSON.stringify(entry)))
  }

  writeHistory(pipeline: string, runId: string, body: unknown) {
    const file = path.join(this.layout.history(pipeline), `${runId}.json`)
    return storeTry(file, "write history", () => writeFileAtomicSync(file, JSON.stringify(body, null, 1)))
  }

  listHistory(pipeline?: string): Effect.Effect<ReadonlyArray<HistoryFile>> {
    return Effect.sync(() => {
      const out: Array<HistoryFile> = []
      for (const p of pipeline ? [pipeline] : readdirOrEmpty(this.layout.historyRoot)) {
        for (const f of readdirOrEmpty(this.layout.history(p))
          .filter((n) => n.endsWith(".json"))
          .sort()) {
          const file = path.join(this.layout.history(p), f)
          const runId = f.replace(/\.json$/, "")
          try {
            out.push({ runId, file, body: JSON.parse(fs.readFileSync(file, "utf8")) })
          } catch (error) {
            // Gone since the listing (a gc): nothing to show. Anything else is shown as unreadable, not dropped.
            if (!isNotFound(error)) out.push({ runId, file, body: undefined, unreadable: describeError(error) })
          }
        }
      }
      return out
    })
  }

  saveMemos() {
    return Effect.mapError(
      Effect.zipRight(this.fileHashes.save(), this.closures.save()),
      (e) => new StoreError({ reason: "io", path: e.file, operation: e.operation, detail: e.detail, cause: e }),
    )
  }

  gc(options: { readonly keepLast?: number; readonly maxBytes?: number }) {
    return gc(this.layout, this.leases, options)
  }

  verify() {
    return verify(this.layout, this.leases)
  }

  clean() {
    return clean(this.layout, this.leases)
  }

  replayFacts(pipeline: string, keys: ReadonlyArray<string>) {
    return storeTry(this.layout.dir, "stamp results", () => {
      const watch: Array<string> = []
      const exists: Array<string> = []
      for (const key of keys) {
        const record = readJsonFileSync<RunRecord>(this.layout.record(key))
        if (!record) throw new Error(`result ${key} is not in the store`)
        exists.push(this.layout.record(key))
        // A lookup checks the result's tree (not its memo items): the fast path watches the same.
        const tree = record.output.tree
        watch.push(this.layout.manifest(tree))
        for (const [rel] of readManifest(this.layout, tree) ?? []) watch.push(path.join(this.layout.tree(tree), rel))
      }
      return { watch, exists, touch: exists, history: this.layout.history(pipeline) }
    })
  }
}

/** A local store in `dir` for the project at `projectRoot`, with staging of dead processes swept. */
const make = (dir: string, projectRoot: string): Effect.Effect<LocalStore, StoreError> =>
  Effect.gen(function* () {
    const store = new FolderStore(path.resolve(dir), path.resolve(projectRoot))
    yield* claimStoreFolder(store.layout)
    yield* store.sweepStaging()
    return store
  })

const tag = Context.GenericTag<LocalStore>("cairn/LocalStore")

export const LocalStore = Object.assign(tag, {
  make,
  layer: (dir: string, projectRoot: string): Layer.Layer<LocalStore, StoreError> => Layer.effect(tag, make(dir, projectRoot)),
})
