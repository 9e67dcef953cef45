/**
 * Puts a result of the local store on the remote cache, in the order that keeps the cache
 * trustworthy: its memo items the server lacks first, then its own entry; for each entry every blob
 * of its tree, then its record's blob (those the server holds at their size are skipped), uploaded
 * and checked present, and only then the entry (`ac/<key>`, an ActionResult naming them all), so an
 * entry never names a missing blob and a push that stops half-way leaves no entry. Used by the remote store's background pushes and by the queue (a worker answers a job
 * only once its result is there).
 */
import * as path from "node:path"
import { Effect, Either } from "effect"
import type { FileError } from "../../errors.js"
import type { MemoItemRecord, RunRecord, StoreError } from "../records.js"
import type { LocalStore } from "../local/local-store.js"
import { readManifest } from "../local/trees.js"
import { blobOf, checkEntryFiles, decodeIndex, encodeIndex, encodeRecord, type RemoteEntry, remoteFiles } from "./entries.js"
import type { RemoteBody, RemoteCache, RemoteCacheError } from "./remote-cache.js"

export interface PushSteps<E> {
  /** One remote step, its failure mapped (and acted on: a store may stop using the server). */
  readonly remote: <A>(effect: Effect.Effect<A, RemoteCacheError | FileError>) => Effect.Effect<A, E>
  /** Why the push cannot go on. */
  readonly stop: (detail: string) => E
  /** Blobs moved at once. */
  readonly transfers: number
  /** Wraps each blob's transfer (a semaphore shared with other transfers). */
  readonly perBlob?: <A, X>(effect: Effect.Effect<A, X>) => Effect.Effect<A, X>
  /** A blob uploaded whatever the server says it holds (it was found missing or corrupt there). */
  readonly suspect?: (hash: string) => boolean
  /** A blob now on the server, checked. */
  readonly uploaded?: (hash: string) => void
}

/** The result `record` of `local` on `remote`, under a lease of its own (nothing it reads is collected meanwhile). */
export const pushResult = <E>(local: LocalStore, remote: RemoteCache, record: RunRecord, steps: PushSteps<E>): Effect.Effect<void, E | StoreError> => {
  const perBlob = steps.perBlob ?? (<A, X>(effect: Effect.Effect<A, X>) => effect)

  const pushBlob = (hash: string, body: RemoteBody, size: number) =>
    Effect.gen(function* () {
      if (!steps.suspect?.(hash) && (yield* steps.remote(remote.has("cas", hash, size)))) return
      yield* steps.remote(remote.put("cas", hash, body))
      if (!(yield* steps.remote(remote.has("cas", hash, size))))
        return yield* Effect.fail(steps.stop(`cas/${hash} is not on the server (at ${size} bytes) after its upload`))
      steps.uploaded?.(hash)
    })

  const pushEntry = (key: string, rec: RunRecord | MemoItemRecord, dir: string) =>
    Effect.gen(function* () {
      const tree = "output" in rec ? rec.output.tree : rec.tree
      const manifest = readManifest(local.layout, tree)
      if (!manifest) return yield* Effect.fail(steps.stop(`its tree ${tree} has no manifest in ${local.location}`))
      const files = remoteFiles(manifest)
      // A tree no reader could write as given (see entries.ts) is not offered to them.
      const unwritable = checkEntryFiles(files)
      if (unwritable) return yield* Effect.fail(steps.stop(`its tree ${tree} cannot be shared: ${unwritable}`))
      const entry: RemoteEntry = "output" in rec ? { kind: "run", record: rec, files } : { kind: "item", record: rec, files }
      const blobs = new Map(files.map(([rel, hash, size]) => [hash, { file: path.join(dir, ...rel.split("/")), size }] as const))
      yield* Effect.forEach(blobs, ([hash, { file, size }]) => perBlob(pushBlob(hash, { file }, size)), { concurrency: steps.transfers, discard: true })
      const record = encodeRecord(entry)
      const recordBlob = blobOf(record)
      yield* perBlob(pushBlob(recordBlob.hash, record, recordBlob.size))
      yield* steps.remote(remote.put("ac", key, encodeIndex({ record: recordBlob, files })))
    })

  return Effect.scoped(
    Effect.gen(function* () {
      yield* local.lease()
      const tree = yield* local.materialize(record.output.tree)
      for (const itemKey of record.items) {
        // Read, not just asked for: an entry a reader would refuse (an earlier cairn's, a corrupt one) is replaced.
        const held = yield* steps.remote(remote.get("ac", itemKey))
        if (held !== undefined && Either.isRight(decodeIndex(held))) continue
        const item = yield* local.lookupItem(itemKey)
        if (item) yield* pushEntry(itemKey, item.record, item.files.dir)
      }
      yield* pushEntry(record.key, record, tree.dir)
    }),
  )
}
