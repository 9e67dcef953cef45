/**
 * Makes a result of the local store available on the remote cache now (not in the background, as
 * the remote store pushes): a worker answers its job only once its result is there, and a
 * coordinator shares a result it holds only locally before a worker needs it as an input.
 */
import { Effect } from "effect"
import { describeError } from "../errors.js"
import type { RunRecord } from "../store/artifact-store.js"
import type { LocalStore } from "../store/local/local-store.js"
import { pushResult } from "../store/remote/push-result.js"
import type { RemoteCache } from "../store/remote/remote-cache.js"
import { ResultNotShared } from "./errors.js"

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
