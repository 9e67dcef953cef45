/**
 * The cache with a shared remote cache behind the local store (`Cache.layerRemote`): the remote tier
 * wraps only the cache (administration and run history stay the local store's), and everything
 * else is the local store's (runs read and write only local trees); the remote adds two things:
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
 * be in flight: it is this run's own result). An entry found unusable is warned about once and not
 * fetched again while the server holds the same bytes (the runner looks a key up twice: before and
 * after taking its lock). An entry's files that cannot be written here are a miss with a warning. `readonly` never writes. The remote never fails a run:
 * a server that cannot be reached is warned about once and not used again for the rest of the run
 * (reads and writes trip separately on server errors, together on lost connections).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Data, Effect, Either, Exit, Fiber, type Scope } from "effect"
import { sha256 } from "../../canonical.js"
import { describeError, FileError } from "../../errors.js"
import { hashFileContent } from "../../file-hash.js"
import type { StageKey, TreeHash } from "../../hashes.js"
import { isNotFound } from "../../fs-primitives.js"
import type { Cache, ProgressRecords, RemoteTier } from "../cache.js"
import { inodeKey, type KnownFiles } from "../local/commit.js"
import type { LocalStore } from "../local/local-store.js"
import { storeTry } from "../local/trees.js"
import { type RunRecord, type Staging, StoreError, type TreeSeal } from "../records.js"
import { decodeIndex, decodeRecord, isEarlierFormat, RECORD_PATH, type RemoteEntry, type RemoteFile } from "./entries.js"
import { pushResult } from "./push-result.js"
import { MAX_ENTRY_BYTES, type RemoteCache, RemoteCacheError, type RemoteWarn, onceEach, warnOnStderr } from "./remote-cache.js"
import { shareResult } from "./share-result.js"
import { remoteProgress } from "./remote-progress.js"

export interface RemoteStoreOptions {
  /** Never write to the remote (`--remote-cache-readonly`). */
  readonly readonly?: boolean
  /**
   * Push each progress record when it is saved, awaited (default: unless `readonly`). A queue worker
   * does, its results being shared explicitly: the worker that takes over a job continues from them.
   */
  readonly pushProgress?: boolean
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

export class RemoteStore implements Cache {
  /** Keys (of runs and memo items) this process committed: never fetched back in this run. */
  private readonly own = new Set<string>()
  /**
   * Entries (by the sha256 of their bytes) found unusable and warned about in this run: the same
   * bytes again are a miss without a word or a download. By bytes, not by key: a good entry pushed
   * later under the key (a queue worker's) is still found.
   */
  private readonly refused = new Set<string>()
  /** Blobs found missing or corrupt on the server: uploaded again by a push, whatever `has` says. */
  private readonly suspect = new Set<string>()
  private readonly pushes: Array<Fiber.RuntimeFiber<void>> = []
  /** Whether an entry of an earlier cairn was warned about in this run (one line for them all). */
  private warnedEarlier = false
  private readDown = false
  private writeDown = false
  private readonly warn: RemoteWarn
  /** The remote tier, for the queue: what the remote holds, and a result of ours put there now. */
  readonly remote: RemoteTier
  /** Progress records: the local store's, each save pushed, a newer remote one pulled (remote-progress.ts). */
  readonly progress: ProgressRecords

  constructor(
    readonly local: LocalStore,
    private readonly server: RemoteCache,
    private readonly transfers: Effect.Semaphore,
    private readonly options: RemoteStoreOptions,
  ) {
    this.warn = onceEach(options.warn ?? warnOnStderr)
    this.remote = {
      url: server.url,
      holds: (key) => Effect.orElseSucceed(server.has("ac", key), () => false),
      share: (record) => shareResult(local, server, record),
    }
    this.progress = remoteProgress(local, server, { push: options.pushProgress ?? !options.readonly, warn: this.warn })
  }

  /** The cache of `local` with `remote` behind it, for the scope: closing it awaits the pushes (stops them when interrupted). */
  static make = (local: LocalStore, remote: RemoteCache, options: RemoteStoreOptions = {}): Effect.Effect<RemoteStore, never, Scope.Scope> =>
    Effect.gen(function* () {
      const transfers = yield* Effect.makeSemaphore(options.transfers ?? DEFAULT_TRANSFERS)
      const store = new RemoteStore(local, remote, transfers, options)
      yield* Effect.addFinalizer((exit) => store.flush(Exit.isInterrupted(exit)))
      return store
    })

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

  lookup(key: StageKey): Effect.Effect<RunRecord | undefined, StoreError> {
    return Effect.gen(this, function* () {
      const hit = yield* this.local.lookup(key)
      if (hit || this.own.has(key)) return hit
      const fetched = yield* this.fetchEntry(key, "run")
      const entry = fetched?.entry
      if (fetched === undefined || entry?.kind !== "run") return undefined
      const installed = yield* this.install(key, fetched.digest, entry.files, (dir, known) => this.local.importResult(entry.record, dir, known))
      return installed ? yield* this.local.lookup(key) : undefined
    })
  }

  lookupItem(key: StageKey) {
    return Effect.gen(this, function* () {
      const hit = yield* this.local.lookupItem(key)
      if (hit || this.own.has(key)) return hit
      const fetched = yield* this.fetchEntry(key, "item")
      const entry = fetched?.entry
      if (fetched === undefined || entry?.kind !== "item") return undefined
      const installed = yield* this.install(key, fetched.digest, entry.files, (dir, known) => this.local.importItem(entry.record, dir, known))
      return installed ? yield* this.local.lookupItem(key) : undefined
    })
  }

  staging(label: string): Effect.Effect<Staging, StoreError, Scope.Scope> {
    return Effect.map(this.local.staging(label), (s) => ({
      ...s,
      commit: (record, value, metrics) => Effect.tap(s.commit(record, value, metrics), (full) => this.committed(full)),
    }))
  }

  materialize(tree: TreeHash) {
    return this.local.materialize(tree)
  }

  checkSeal(seal: TreeSeal) {
    return this.local.checkSeal(seal)
  }

  lock(key: StageKey, onWait?: () => Effect.Effect<void>) {
    return this.local.lock(key, onWait)
  }

  lease() {
    return this.local.lease()
  }

  touch(key: StageKey) {
    return this.local.touch(key)
  }

  saveMemos() {
    return this.local.saveMemos()
  }

  /** Stops using one side of the remote for the rest of the run, saying so once. */
  private trip(error: RemoteCacheError, side: "read" | "write"): Effect.Effect<void> {
    return Effect.suspend(() => {
      const both = error.reason === "network" || error.reason === "timeout" || error.reason === "denied"
      const read = (both || side === "read") && !this.readDown
      const write = (both || side === "write") && !this.writeDown && !this.options.readonly
      if (read) this.readDown = true
      if (write) this.writeDown = true
      if (!read && !write) return Effect.void
      const what = read && (write || this.writeDown || this.options.readonly) ? "not used" : read ? "not read" : "not written to"
      return this.warn(`${error.message}: remote cache ${this.server.url} ${what} for the rest of this run (the local cache still is)`)
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

  /**
   * The remote's checked entry for `key` with the digest of its bytes, or undefined (a miss, a bad
   * entry, the remote down): its ActionResult is read and checked, then its record's blob fetched
   * (hash-checked) and checked for the key.
   */
  private fetchEntry(key: StageKey, kind: RemoteEntry["kind"]) {
    return Effect.gen(this, function* () {
      const bytes = yield* this.reading(this.server.get("ac", key), undefined)
      if (bytes === undefined) return undefined
      const digest = sha256(bytes)
      if (this.refused.has(digest)) return undefined
      const refuse = (why: string) =>
        Effect.as(
          Effect.zipRight(
            Effect.sync(() => this.refused.add(digest)),
            this.warn(`remote cache ${this.server.url}/ac/${key}: ${why}: a miss`),
          ),
          undefined,
        )
      if (isEarlierFormat(bytes)) {
        // A cache shared since before entries were ActionResults holds one per key: one line says it.
        this.refused.add(digest)
        if (this.warnedEarlier) return undefined
        this.warnedEarlier = true
        yield* this.warn(
          `remote cache ${this.server.url}/ac/${key}: an entry of an earlier cairn (format 1, not an ActionResult): a miss, as is every such entry in this run`,
        )
        return undefined
      }
      const decoded = decodeIndex(bytes)
      if (Either.isLeft(decoded)) return yield* refuse(decoded.left)
      const { index } = decoded.right
      if (index.record.size > MAX_ENTRY_BYTES)
        return yield* refuse(`its record ${RECORD_PATH} is ${index.record.size} bytes, more than the ${MAX_ENTRY_BYTES} cairn reads into memory`)
      const record = yield* this.reading(this.server.get("cas", index.record.hash, index.record.size), undefined)
      if (record === undefined || record.length !== index.record.size) {
        if (this.readDown) return undefined
        this.suspect.add(index.record.hash)
        return yield* refuse(`its record cas/${index.record.hash} is not on the server (intact)`)
      }
      const entry = decodeRecord(record, key, kind, index.files)
      if (Either.isLeft(entry)) return yield* refuse(entry.left)
      return { entry: entry.right, digest }
    })
  }

  /**
   * Fetches an entry's files into a staging folder of the local store and hands them (with their
   * hashes, by inode) to `commit`; false (a miss, warned about) when a blob is unavailable, when the
   * files cannot be written here, or when they do not make the entry's tree. Each distinct blob is
   * fetched once: the entry's other paths to it are linked to the first.
   */
  private install(
    key: StageKey,
    digest: string,
    files: ReadonlyArray<RemoteFile>,
    commit: (dir: string, known: KnownFiles) => Effect.Effect<boolean, StoreError>,
  ) {
    const where = `remote cache ${this.server.url}/ac/${key}`
    const refuse = (why: string) =>
      Effect.as(
        Effect.zipRight(
          Effect.sync(() => this.refused.add(digest)),
          this.warn(`${where}: ${why}: a miss`),
        ),
        false,
      )
    return Effect.scoped(
      Effect.gen(this, function* () {
        const staging = yield* this.local.staging(`remote-${key.slice(0, 12)}`)
        const known: KnownFiles = new Map()
        const blobs = new Map<string, { readonly size: number; readonly dests: Array<string> }>()
        for (const [rel, hash, size] of files) {
          const dest = path.join(staging.outDir, ...rel.split("/"))
          const blob = blobs.get(hash)
          if (blob) blob.dests.push(dest)
          else blobs.set(hash, { size, dests: [dest] })
        }
        const fetched = yield* Effect.either(
          Effect.forEach(blobs, ([hash, { size, dests }]) => this.transfers.withPermits(1)(this.fetchBlob(dests, hash, size, known)), {
            concurrency: this.options.transfers ?? DEFAULT_TRANSFERS,
            discard: true,
          }),
        )
        if (Either.isLeft(fetched)) {
          if (fetched.left instanceof BlobUnavailable) {
            if (this.readDown) return false
            return yield* refuse(`its blob cas/${fetched.left.hash} is not on the server (intact)`)
          }
          // The entry passed its checks, yet this disk cannot hold its files as given (a name too
          // long here, a case-insensitive clash...): a miss, never a failed run.
          return yield* refuse(`its files cannot be written here (${fetched.left.message})`)
        }
        const installed = yield* Effect.either(commit(staging.outDir, known))
        if (Either.isLeft(installed)) return yield* refuse(`its files cannot be stored here (${installed.left.message})`)
        if (!installed.right) return yield* refuse("its files do not make the tree it names")
        return true
      }),
    )
  }

  /**
   * One blob of an entry at each of `dests`: the first linked from the local objects when they hold
   * it intact, else downloaded (never past its stated size), and the others linked to it.
   */
  private fetchBlob(dests: ReadonlyArray<string>, hash: string, size: number, known: KnownFiles): Effect.Effect<void, StoreError | BlobUnavailable> {
    return Effect.gen(this, function* () {
      const [first, ...others] = dests
      if (first === undefined) return
      yield* storeTry(first, "create folder", () => fs.mkdirSync(path.dirname(first), { recursive: true }))
      if (!(yield* this.linkLocalObject(hash, first))) {
        const got = yield* this.reading(this.server.download(hash, first, size), false)
        if (!got) {
          this.suspect.add(hash)
          return yield* new BlobUnavailable({ hash })
        }
      }
      const st = yield* storeTry(first, "stat", () => fs.statSync(first))
      if (st.size !== size) return yield* new BlobUnavailable({ hash })
      known.set(inodeKey(st), hash)
      for (const dest of others) {
        yield* storeTry(dest, "link", () => {
          fs.mkdirSync(path.dirname(dest), { recursive: true })
          fs.linkSync(first, dest)
        })
      }
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
    return pushResult(this.local, this.server, record, {
      remote: (effect) => this.writing(effect),
      stop: (detail) => new PushStopped({ detail }),
      transfers: this.options.transfers ?? DEFAULT_TRANSFERS,
      perBlob: (effect) => this.transfers.withPermits(1)(effect),
      suspect: (hash) => this.suspect.has(hash),
      uploaded: (hash) => void this.suspect.delete(hash),
    }).pipe(
      Effect.catchAll((e) =>
        this.writeDown
          ? Effect.void
          : this.warn(`result ${record.key} not pushed to ${this.server.url}: ${e instanceof PushStopped ? e.detail : describeError(e)}`),
      ),
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
