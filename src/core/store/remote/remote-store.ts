/**
 * The store with a shared remote cache behind the local one. Everything is the local store's (runs
 * read and write only local trees); the remote adds two things:
 *
 * - a lookup that misses locally asks the remote: its entry is checked, every blob it names is
 *   fetched (or taken from the local objects), hash-checked, and committed as a local tree, and only
 *   then the record is installed locally; a blob missing or corrupt on the server makes the whole
 *   entry a miss. Memo items (`lookupItem`) likewise.
 * - a result committed locally is pushed, in the background (awaited when the layer closes): its
 *   memo items first, then its own files; each entry's blobs are uploaded (those the server holds at
 *   their size are skipped), hash-checked as they stream and checked present afterwards, and the
 *   entry (`ac/<key>`) is written last: a failed or half-done push leaves no entry.
 *
 * A key this process committed is never fetched back from the remote in the same run (its push may
 * be in flight: it is this run's own result). `readonly` never writes. The remote never fails a run:
 * a server that cannot be reached is warned about once and not used again for the rest of the run
 * (reads and writes trip separately on server errors, together on lost connections).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Data, Effect, Either, Exit, Fiber, Layer, type Scope } from "effect"
import { describeError, FileError } from "../../errors.js"
import { hashFileContent } from "../../file-hash.js"
import { isNotFound } from "../../stamp.js"
import { type ArtifactStore, CacheStore, type RunRecord, type Staging, StoreError, type TreeSeal } from "../artifact-store.js"
import { inodeKey, type KnownFiles } from "../local/commit.js"
import { LocalStore } from "../local/local-store.js"
import { storeTry } from "../local/trees.js"
import { decodeEntry, type RemoteEntry, type RemoteFile } from "./entries.js"
import { pushResult } from "./push-result.js"
import { type RemoteCache, RemoteCacheError, RemoteCacheService, type RemoteWarn } from "./remote-cache.js"

export interface RemoteStoreOptions {
  /** Never write to the remote (`--remote-cache-readonly`). */
  readonly readonly?: boolean
  /** Where warnings go (default: stderr). */
  readonly warn?: RemoteWarn
  /** Blobs moved (or checked) at once, by all lookups and pushes together (default 4). */
  readonly transfers?: number
}

const DEFAULT_TRANSFERS = 4

/** A blob an entry names is not on the server (or not as named): the entry is a miss. */
class BlobUnavailable extends Data.TaggedError("BlobUnavailable")<{ readonly hash: string }> {}

/** A push that cannot go on (what it found is logged, never raised). */
class PushStopped extends Data.TaggedError("PushStopped")<{ readonly detail: string }> {}

const fileStoreError = (e: FileError) => new StoreError({ reason: "io", path: e.file, operation: e.operation, detail: e.detail, cause: e })

export class RemoteStore implements ArtifactStore {
  /** Keys (of runs and memo items) this process committed: never fetched back in this run. */
  private readonly own = new Set<string>()
  /** Blobs found missing or corrupt on the server: uploaded again by a push, whatever `has` says. */
  private readonly suspect = new Set<string>()
  private readonly pushes: Array<Fiber.RuntimeFiber<void>> = []
  private readDown = false
  private writeDown = false
  private readonly warn: RemoteWarn

  constructor(
    readonly local: LocalStore,
    readonly remote: RemoteCache,
    private readonly transfers: Effect.Semaphore,
    private readonly options: RemoteStoreOptions,
  ) {
    this.warn = options.warn ?? ((message: string) => Effect.sync(() => process.stderr.write(`warning: ${message}\n`)))
  }

  /** The local store in `dir` with the remote cache of the context behind it; closing it awaits the pushes. */
  static layer = (dir: string, projectRoot: string, options: RemoteStoreOptions = {}): Layer.Layer<CacheStore, StoreError, RemoteCacheService> =>
    Layer.scoped(
      CacheStore,
      Effect.gen(function* () {
        const local = yield* LocalStore.make(dir, projectRoot)
        const remote = yield* RemoteCacheService
        const transfers = yield* Effect.makeSemaphore(options.transfers ?? DEFAULT_TRANSFERS)
        const store = new RemoteStore(local, remote, transfers, options)
        yield* Effect.addFinalizer((exit) => store.flush(Exit.isInterrupted(exit)))
        return store as ArtifactStore
      }),
    )

  get location(): string {
    return this.local.location
  }

  get projectRoot(): string {
    return this.local.projectRoot
  }

  get fileHashes() {
    return this.local.fileHashes
  }

  get closures() {
    return this.local.closures
  }

  lookup(key: string): Effect.Effect<RunRecord | undefined, StoreError> {
    return Effect.gen(this, function* () {
      const hit = yield* this.local.lookup(key)
      if (hit || this.own.has(key)) return hit
      const entry = yield* this.fetchEntry(key, "run")
      if (entry?.kind !== "run") return undefined
      const installed = yield* this.install(key, entry.files, (dir, known) => this.local.importResult(entry.record, dir, known))
      return installed ? yield* this.local.lookup(key) : undefined
    })
  }

  lookupItem(key: string) {
    return Effect.gen(this, function* () {
      const hit = yield* this.local.lookupItem(key)
      if (hit || this.own.has(key)) return hit
      const entry = yield* this.fetchEntry(key, "item")
      if (entry?.kind !== "item") return undefined
      const installed = yield* this.install(key, entry.files, (dir, known) => this.local.importItem(entry.record, dir, known))
      return installed ? yield* this.local.lookupItem(key) : undefined
    })
  }

  staging(label: string): Effect.Effect<Staging, StoreError, Scope.Scope> {
    return Effect.map(this.local.staging(label), (s) => ({
      ...s,
      commit: (record, value, metrics) => Effect.tap(s.commit(record, value, metrics), (full) => this.committed(full)),
    }))
  }

  materialize(tree: string) {
    return this.local.materialize(tree)
  }

  checkSeal(seal: TreeSeal) {
    return this.local.checkSeal(seal)
  }

  lock(key: string, onWait?: () => Effect.Effect<void>) {
    return this.local.lock(key, onWait)
  }

  lease() {
    return this.local.lease()
  }

  touch(key: string) {
    return this.local.touch(key)
  }

  readState(pipeline: string, id: string) {
    return this.local.readState(pipeline, id)
  }

  writeState(pipeline: string, id: string, entry: Parameters<ArtifactStore["writeState"]>[2]) {
    return this.local.writeState(pipeline, id, entry)
  }

  writeHistory(pipeline: string, runId: string, body: unknown) {
    return this.local.writeHistory(pipeline, runId, body)
  }

  listHistory(pipeline?: string) {
    return this.local.listHistory(pipeline)
  }

  saveMemos() {
    return this.local.saveMemos()
  }

  gc(options: { readonly keepLast?: number; readonly maxBytes?: number }) {
    return this.local.gc(options)
  }

  verify() {
    return this.local.verify()
  }

  clean() {
    return this.local.clean()
  }

  replayFacts(pipeline: string, keys: ReadonlyArray<string>) {
    return this.local.replayFacts(pipeline, keys)
  }

  /** Stops using one side of the remote for the rest of the run, saying so once. */
  private trip(error: RemoteCacheError, side: "read" | "write"): Effect.Effect<void> {
    return Effect.suspend(() => {
      const both = error.reason === "network" || error.reason === "timeout"
      const read = (both || side === "read") && !this.readDown
      const write = (both || side === "write") && !this.writeDown && !this.options.readonly
      if (read) this.readDown = true
      if (write) this.writeDown = true
      if (!read && !write) return Effect.void
      const what = read && (write || this.writeDown || this.options.readonly) ? "not used" : read ? "not read" : "not written to"
      return this.warn(`${error.message}: remote cache ${this.remote.url} ${what} for the rest of this run (the local cache still is)`)
    })
  }

  /** A remote read: `fallback` when the remote is down or fails now; a local disk failure stays one. */
  private reading<A>(effect: Effect.Effect<A, RemoteCacheError | FileError>, fallback: A): Effect.Effect<A, StoreError> {
    return Effect.suspend(() =>
      this.readDown
        ? Effect.succeed(fallback)
        : Effect.catchAll(effect, (e) => (e instanceof FileError ? Effect.fail(fileStoreError(e)) : Effect.as(this.trip(e, "read"), fallback))),
    )
  }

  /** The remote's checked entry for `key`, or undefined (a miss, a bad entry, the remote down). */
  private fetchEntry(key: string, kind: RemoteEntry["kind"]) {
    return Effect.gen(this, function* () {
      const bytes = yield* this.reading(this.remote.get("ac", key), undefined)
      if (bytes === undefined) return undefined
      const entry = decodeEntry(bytes, key, kind)
      if (Either.isRight(entry)) return entry.right
      yield* this.warn(`remote cache ${this.remote.url}/ac/${key}: ${entry.left}: a miss`)
      return undefined
    })
  }

  /**
   * Fetches an entry's files into a staging folder of the local store and hands them (with their
   * hashes, by inode) to `commit`; false when a blob is unavailable or they do not make the entry's tree.
   */
  private install(key: string, files: ReadonlyArray<RemoteFile>, commit: (dir: string, known: KnownFiles) => Effect.Effect<boolean, StoreError>) {
    return Effect.scoped(
      Effect.gen(this, function* () {
        const staging = yield* this.local.staging(`remote-${key.slice(0, 12)}`)
        const known: KnownFiles = new Map()
        const fetched = yield* Effect.either(
          Effect.forEach(files, ([rel, hash, size]) => this.transfers.withPermits(1)(this.fetchFile(path.join(staging.outDir, ...rel.split("/")), hash, size, known)), {
            concurrency: this.options.transfers ?? DEFAULT_TRANSFERS,
            discard: true,
          }),
        )
        if (Either.isLeft(fetched)) {
          if (!(fetched.left instanceof BlobUnavailable)) return yield* Effect.fail(fetched.left)
          if (!this.readDown) yield* this.warn(`remote cache ${this.remote.url}/ac/${key}: its blob cas/${fetched.left.hash} is not on the server (intact): a miss`)
          return false
        }
        const installed = yield* commit(staging.outDir, known)
        if (!installed) yield* this.warn(`remote cache ${this.remote.url}/ac/${key}: its files do not make the tree it names: a miss`)
        return installed
      }),
    )
  }

  /** One blob of an entry at `dest`: linked from the local objects when they hold it intact, else downloaded. */
  private fetchFile(dest: string, hash: string, size: number, known: KnownFiles): Effect.Effect<void, StoreError | BlobUnavailable> {
    return Effect.gen(this, function* () {
      yield* storeTry(dest, "create folder", () => fs.mkdirSync(path.dirname(dest), { recursive: true }))
      if (!(yield* this.linkLocalObject(hash, dest))) {
        const got = yield* this.reading(this.remote.download(hash, dest), false)
        if (!got) {
          this.suspect.add(hash)
          return yield* new BlobUnavailable({ hash })
        }
      }
      const st = yield* storeTry(dest, "stat", () => fs.statSync(dest))
      if (st.size !== size) return yield* new BlobUnavailable({ hash })
      known.set(inodeKey(st), hash)
    })
  }

  /** Links the local object `hash` to `dest` when it is there and its content is still its name. */
  private linkLocalObject(hash: string, dest: string): Effect.Effect<boolean, StoreError> {
    const object = this.local.layout.object(hash)
    return Effect.gen(function* () {
      if (!fs.existsSync(object)) return false
      const actual = yield* Effect.either(hashFileContent(object))
      if (Either.isLeft(actual) || actual.right !== hash) return false
      return yield* storeTry(dest, "link", () => {
        try {
          fs.linkSync(object, dest)
          return true
        } catch (error) {
          // Removed by a gc meanwhile: download it instead.
          if (isNotFound(error)) return false
          throw error
        }
      })
    })
  }

  /** After a local commit: the key is this run's own, and its push starts. */
  private committed(record: RunRecord): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.own.add(record.key)
      for (const item of record.items) this.own.add(item)
      if (this.options.readonly || this.writeDown) return Effect.void
      return Effect.map(Effect.forkDaemon(this.push(record)), (fiber) => void this.pushes.push(fiber))
    })
  }

  /** Waits for the pushes under way (or stops them when the run was interrupted). */
  private flush(interrupted: boolean): Effect.Effect<void> {
    return Effect.suspend(() => {
      const fibers = this.pushes.splice(0)
      return interrupted ? Fiber.interruptAll(fibers) : Effect.asVoid(Fiber.awaitAll(fibers))
    })
  }

  /** Pushes a committed result (see push-result.ts); what stops it is warned about, never raised. */
  private push(record: RunRecord): Effect.Effect<void> {
    return pushResult(this.local, this.remote, record, {
      remote: (effect) => this.writing(effect),
      stop: (detail) => new PushStopped({ detail }),
      transfers: this.options.transfers ?? DEFAULT_TRANSFERS,
      perBlob: (effect) => this.transfers.withPermits(1)(effect),
      suspect: (hash) => this.suspect.has(hash),
      uploaded: (hash) => void this.suspect.delete(hash),
    }).pipe(
      Effect.catchAll((e) => (this.writeDown ? Effect.void : this.warn(`result ${record.key} not pushed to ${this.remote.url}: ${e instanceof PushStopped ? e.detail : describeError(e)}`))),
    )
  }

  /**
   * A remote write step of a push: a failure stops the push (with no entry written); a server or
   * connection failure also stops further pushes. A file of ours that changed is not the remote's fault.
   */
  private writing<A>(effect: Effect.Effect<A, RemoteCacheError | FileError>): Effect.Effect<A, PushStopped> {
    return Effect.suspend(() =>
      this.writeDown
        ? Effect.fail(new PushStopped({ detail: "the remote cache is not written to" }))
        : Effect.catchAll(effect, (e) =>
            e instanceof RemoteCacheError && e.reason !== "content"
              ? Effect.zipRight(this.trip(e, "write"), Effect.fail(new PushStopped({ detail: e.message })))
              : Effect.fail(new PushStopped({ detail: e.message })),
          ),
    )
  }
}
