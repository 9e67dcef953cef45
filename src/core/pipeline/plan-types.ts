/** What the planner makes of a pipeline: its stage instances, wired, with their params decoded. */
import type { Json } from "../canonical.js"
import type { AnyStage } from "../stage.js"
import type { FanValue, Pipeline } from "./dsl.js"

/** One stage instance's wiring: a single upstream instance, or every instance of a fanned-out stage. */
export type InputRef = { readonly kind: "one"; readonly id: string } | { readonly kind: "all"; readonly ids: ReadonlyArray<string> }

export interface Instance {
  readonly id: string
  readonly stage: AnyStage
  /** Its fan-out coordinates, one per fanned param, in declaration order (empty: not fanned out). */
  readonly fan: ReadonlyArray<FanPoint>
  /** Decoded params (what `run` sees). */
  readonly params: unknown
  /** Encoded params (what the key hashes). */
  readonly encodedParams: Json
  readonly inputs: Readonly<Record<string, InputRef>>
  /**
   * In a sweep's plan (sweep.ts): the instance as a single run of its variant has it, for a queue
   * worker, which plans that run again (its id there, and the `--param`s that plan it).
   */
  readonly origin?: InstanceOrigin
}

/** Where an instance of a sweep's plan comes from: its id in its variant's own plan and that plan's `--param`s. */
export interface InstanceOrigin {
  readonly id: string
  readonly params: ReadonlyArray<string>
}

export interface Plan {
  readonly pipeline: Pipeline
  /** Topological order: every instance after its inputs. */
  readonly instances: ReadonlyArray<Instance>
  readonly byId: ReadonlyMap<string, Instance>
  /** Pipeline-level params after `--param` (for reports and `cairn runs`). */
  readonly globals: Readonly<Record<string, unknown>>
}

/** One coordinate of a fanned-out instance: `fold-3`. */
export interface FanPoint {
  readonly param: string
  readonly value: FanValue
}
