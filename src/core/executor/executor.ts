/**
 * Where a stage instance whose result is not stored gets computed: the seam of the runner between
 * "the key missed" and "here is its committed record". Layers: `Executor.layerLocal` (in this
 * process, execute-stage.ts; what a run without the service uses) and the queue's
 * (`queueRunLayer`, queue/queue-executor.ts: a job for a worker, its result pulled from the remote cache).
 */
import { Context, Effect, Layer, Option } from "effect"
import type { StageFailed } from "../errors.js"
import { executeStage } from "./execute-stage.js"
import type { InstanceKey } from "../instance-key.js"
import type { Instance, Plan } from "../pipeline/index.js"
import type { Reporter } from "../reporter.js"
import type { Resolved } from "../instance-output.js"
import type { Cache } from "../store/cache.js"
import type { RunRecord } from "../store/records.js"

/** One stage instance to compute, with everything the runner knows about it. */
export interface ExecuteRequest {
  readonly store: Cache
  readonly plan: Plan
  readonly inst: Instance
  readonly key: InstanceKey
  readonly resolved: ReadonlyMap<string, Resolved>
  /** It must be computed even if a result is stored (`--force`, or an uncached stage). */
  readonly force: boolean
  /** Continue from saved progress of a stage that works in steps (false: `--no-resume`). */
  readonly resume: boolean
}

/** A computed instance: its committed record, and who computed it when not this process. */
export interface Executed {
  readonly record: RunRecord
  /** The worker that ran it (`host:pid`), for a stage computed elsewhere. */
  readonly ranBy?: string
  /** The last step (epoch) of saved progress it continued from, for a stage that works in steps. */
  readonly resumedFrom?: number
}

export interface Executor {
  /** Whether a computation takes one of the run's `--jobs` slots (a local one does; a queued one runs elsewhere). */
  readonly usesJobSlots: boolean
  /** Computes the instance; the record is committed to the run's store when it returns. */
  readonly execute: (request: ExecuteRequest) => Effect.Effect<Executed, StageFailed, Reporter>
}

/** Runs the stage in this process. */
const local: Executor = {
  usesJobSlots: true,
  execute: (r) => executeStage(r.store, r.plan, r.inst, r.key, r.resolved, { resume: r.resume }),
}

const tag = Context.GenericTag<Executor>("cairn/Executor")

export const Executor = Object.assign(tag, {
  layerLocal: Layer.succeed(tag, local),
})

/** The executor of the context, or the local one when none is provided. */
export const currentExecutor: Effect.Effect<Executor> = Effect.map(
  Effect.serviceOption(tag),
  Option.getOrElse(() => local),
)
