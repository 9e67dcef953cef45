/**
 * The cache: what a run asks of the store for each stage (a lookup that answers only with a
 * complete result, inputs handed over sealed, a staging area whose commit is all or nothing, the
 * per-key lock and the run's lease). Every layer keeps these promises (test/core/store/store-contract.test.ts):
 * a lookup answers only with a complete result (a record whose files are all present), a
 * materialized tree's files have their recorded sizes, a commit is all or nothing, nothing that a
 * live run uses is removed by `gc` or `clean`.
 *
 * Layers: `Cache.layerLocal` (the local store's folder) and `Cache.layerRemote` (the local store
 * with a shared remote cache behind it); both read the `LocalStore` of the context, which also
 * serves `StoreAdmin` and `RunHistory` (see store-layer.ts).
 */
import { Context, Effect, Layer, type Scope } from "effect"
import type { ClosureResolver } from "../closure/code-closure.js"
import type { FileHashMemo } from "../file-hash.js"
import type { StageKey, TreeHash } from "../hashes.js"
import { LocalStore } from "./local/local-store.js"
import type { Materialized, ProgressLoad, ProgressRecord, RunRecord, Staging, StoredItem, StoreError, TamperedFile, TreeSeal } from "./records.js"
import { RemoteCache } from "./remote/remote-cache.js"
import { RemoteStore, type RemoteStoreOptions } from "./remote/remote-store.js"
import type { ResultNotShared } from "./remote/share-result.js"

export interface Cache {
  /** Where the store is, for messages ("cache ./cache"). */
  readonly location: string
  readonly projectRoot: string
  /** What the memos learned (file hashes, code closures) is kept beside the results: `saveMemos` writes it. */
  readonly fileHashes: FileHashMemo
  readonly closures: ClosureResolver
  readonly saveMemos: () => Effect.Effect<void, StoreError>
  /** The complete stored result for a key, or undefined (a miss). */
  readonly lookup: (key: StageKey) => Effect.Effect<RunRecord | undefined, StoreError>
  readonly lookupItem: (key: StageKey) => Effect.Effect<StoredItem | undefined, StoreError>
  /** Marks a result as used (least-recently-used order of `gc --max-size`). */
  readonly touch: (key: StageKey) => Effect.Effect<void>
  /** The folder of a stored tree, checked complete; fails with `incomplete` when it is not. */
  readonly materialize: (tree: TreeHash) => Effect.Effect<Materialized, StoreError>
  /** Which files of a materialized tree changed since; a tree written into is removed (it reruns). */
  readonly checkSeal: (seal: TreeSeal) => Effect.Effect<ReadonlyArray<TamperedFile>, StoreError>
  readonly staging: (label: string) => Effect.Effect<Staging, StoreError, Scope.Scope>
  /** Holds the per-key lock for the scope (another process computing the same key makes us wait). */
  readonly lock: (key: StageKey, onWait?: () => Effect.Effect<void>) => Effect.Effect<void, StoreError, Scope.Scope>
  /** A run's shared lease on the store: what it uses meanwhile is safe from `gc` and `clean`. */
  readonly lease: () => Effect.Effect<void, StoreError, Scope.Scope>
  /** The shared remote cache behind this one, when there is one (the queue's results travel through it). */
  readonly remote: RemoteTier | undefined
  /** Progress records of stages that work in steps, kept per key until its result is committed. */
  readonly progress: ProgressRecords
}

/** What a record to save says; the store adds its format, files and time (now, unless it is a copy's: `savedAt`). */
export type NewProgress = Omit<ProgressRecord, "format" | "savedAt" | "files"> & { readonly savedAt?: string }

/**
 * The progress records of keys without a result: written like results (files renamed in by their
 * hash, the record last and atomically) and hash-checked on read; only the newest per key is kept.
 */
export interface ProgressRecords {
  /** A new folder for the files of one record (`save` moves them into the store; swept when this process is dead). */
  readonly newFolder: (label: string) => Effect.Effect<string, StoreError>
  /** Stores the files of `dir` (flat) with `record`, then drops the key's other records and the files only they named. */
  readonly save: (record: NewProgress, dir: string) => Effect.Effect<ProgressRecord, StoreError>
  /** The newest record of `key` whose files all hash to what it says, newest first; damaged ones are skipped and removed. */
  readonly load: (key: StageKey) => Effect.Effect<ProgressLoad, StoreError>
  /** The newest record of `key` as written, unchecked: for `cairn status` to show, never to resume from. */
  readonly peek: (key: StageKey) => Effect.Effect<ProgressRecord | undefined>
  /** Removes the key's records and files (its result is committed, or the run starts over). */
  readonly drop: (key: StageKey) => Effect.Effect<void, StoreError>
}

/** The remote tier of a cache, as code that must know about it (the queue) sees it. */
export interface RemoteTier {
  /** The remote cache's URL, for messages. */
  readonly url: string
  /** Whether the remote holds a result under `key`; false when it cannot say (unreachable). */
  readonly holds: (key: StageKey) => Effect.Effect<boolean>
  /** Puts a result of the local tier on the remote now, awaited (not in the background as commits are pushed). */
  readonly share: (record: RunRecord) => Effect.Effect<void, ResultNotShared>
}

const tag = Context.GenericTag<Cache>("cairn/Cache")

export const Cache = Object.assign(tag, {
  /** The local store's own cache. */
  layerLocal: Layer.effect(tag, LocalStore) satisfies Layer.Layer<Cache, never, LocalStore>,
  /** The local store with the remote cache of the context behind it; closing the layer awaits the pushes. */
  layerRemote: (options: RemoteStoreOptions = {}): Layer.Layer<Cache, never, LocalStore | RemoteCache> =>
    Layer.scoped(
      tag,
      Effect.flatMap(Effect.all([LocalStore, RemoteCache]), ([local, remote]) => RemoteStore.make(local, remote, options)),
    ),
})
