/**
 * The store's administration: what `cairn gc`, `verify` and `clean` do. Every operation respects
 * the leases of live runs (nothing a running pipeline uses is removed). Layer: `StoreAdmin.layerLocal`
 * (the `LocalStore` of the context: administration is always the local folder's, remote or not).
 */
import { Context, type Effect, Layer } from "effect"
import { LocalStore } from "./local/local-store.js"
import type { GcReport, StoreError, VerifyReport } from "./records.js"

export interface StoreAdmin {
  /** Where the store is, for messages. */
  readonly location: string
  readonly gc: (options: { readonly keepLast?: number; readonly maxBytes?: number }) => Effect.Effect<GcReport, StoreError>
  /** Rehashes everything stored; quarantines what is corrupt so the results using it rerun. */
  readonly verify: () => Effect.Effect<VerifyReport, StoreError>
  /** Removes every result; refused while a run holds a lease. */
  readonly clean: () => Effect.Effect<void, StoreError>
}

const tag = Context.GenericTag<StoreAdmin>("cairn/StoreAdmin")

export const StoreAdmin = Object.assign(tag, {
  layerLocal: Layer.effect(tag, LocalStore) satisfies Layer.Layer<StoreAdmin, never, LocalStore>,
})
