/**
 * Makes a result of the local store available on the remote cache now (not in the background, as
 * the remote store pushes): a worker answers its job only once its result is there, and a
 * coordinator shares a result it holds only locally before a worker needs it as an input.
 */
import { Data, Effect } from "effect"
import { describeError } from "../../errors.js"
import type { LocalStore } from "../local/local-store.js"
import type { RunRecord } from "../records.js"
import { pushResult } from "./push-result.js"
import type { RemoteCache } from "./remote-cache.js"

/** A result that could not be made available on the remote cache (so no coordinator can use it). */
export class ResultNotShared extends Data.TaggedError("ResultNotShared")<{
  readonly stage: string
  readonly key: string
  readonly url: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `result of ${this.stage} (${this.key.slice(0, 12)}) not on the remote cache ${this.url}: ${this.detail}`
  }
}

/** Blobs sent at once. */
const TRANSFERS = 4

export const shareResult = (local: LocalStore, remote: RemoteCache, record: RunRecord): Effect.Effect<void, ResultNotShared> => {
  const fail = (detail: string, cause?: unknown) => new ResultNotShared({ stage: record.id, key: record.key, url: remote.url, detail, cause })
  return pushResult(local, remote, record, {
    remote: (effect) => Effect.mapError(effect, (e) => fail(describeError(e), e)),
    stop: (detail) => fail(detail),
    transfers: TRANSFERS,
  }).pipe(Effect.mapError((e) => (e instanceof ResultNotShared ? e : fail(describeError(e), e))))
}
