/**
 * The run history kept in the store: each stage instance's last key in a pipeline (what `status`
 * compares against), each `cairn run`'s report (`cairn runs`/`diff`), and what the no-op fast path
 * checks to replay results. Layer: `RunHistory.layerLocal` (the `LocalStore` of the context: the
 * history is always the local folder's, remote or not).
 */
import { Context, type Effect, Layer } from "effect"
import { LocalStore } from "./local/local-store.js"
import type { HistoryFile, ReplayFacts, StateEntry, StoreError } from "./records.js"

export interface RunHistory {
  readonly readState: (pipeline: string, id: string) => Effect.Effect<StateEntry | undefined>
  readonly writeState: (pipeline: string, id: string, entry: StateEntry) => Effect.Effect<void, StoreError>
  readonly writeHistory: (pipeline: string, runId: string, body: unknown) => Effect.Effect<void, StoreError>
  /** Every run saved (of `pipeline`, or of all), oldest first; a file that cannot be read is listed with why. */
  readonly listHistory: (pipeline?: string) => Effect.Effect<ReadonlyArray<HistoryFile>>
  /** What the fast path must check to replay the results with these keys. */
  readonly replayFacts: (pipeline: string, keys: ReadonlyArray<string>) => Effect.Effect<ReplayFacts, StoreError>
}

const tag = Context.GenericTag<RunHistory>("cairn/RunHistory")

export const RunHistory = Object.assign(tag, {
  layerLocal: Layer.effect(tag, LocalStore) satisfies Layer.Layer<RunHistory, never, LocalStore>,
})
