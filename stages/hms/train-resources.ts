/**
 * What a training fold needs of the machine, from the train stage's params (its `resources` hook),
 * and what a fold that died of a wasm trap says: both from the estimator of src/ml/train/memory-estimate.ts.
 */
import { Effect } from "effect"
import { describeError, type StageResources } from "cairn"
import {
  backendForStep,
  type BackendName,
  type BackendRequest,
  EngineMemoryExceeded,
  EngineOutOfMemory,
  estimateTrainStep,
  isWasmMemoryTrap,
  largestBatchWithin,
  loadOnednn,
  type ResNetVariant,
  type TrainStepMemory,
  wasmWayOut,
} from "cairn/ml"

/** The train params the estimate reads. */
export interface TrainShape {
  readonly fold: number
  readonly model: ResNetVariant
  readonly img_size: number
  readonly batch_size: number
  readonly backend: BackendRequest
  /** Given checkpoints: the fold is only evaluated (forward passes), no training step. */
  readonly checkpoints: string
}

/** The step's estimate on the backend the params resolve to (undefined: the fold does not train). */
const stepOf = (p: TrainShape): TrainStepMemory | undefined =>
  p.checkpoints ? undefined : estimateTrainStep({ variant: p.model, imgSize: p.img_size, batchSize: p.batch_size, backend: trainBackend(p) })

/** The backend a fold trains on: "auto" picks by the step's size (`backendForStep`). */
export const trainBackend = (p: Pick<TrainShape, "model" | "img_size" | "batch_size" | "backend">): BackendName =>
  backendForStep(p.backend, { variant: p.model, imgSize: p.img_size, batchSize: p.batch_size })

/** Another engine, or a batch the wasm heap holds (batch_size is at least 2). */
const wayOut = (p: TrainShape): string => {
  const fits = largestBatchWithin({ variant: p.model, imgSize: p.img_size, backend: trainBackend(p) }) ?? 0
  return `${wasmWayOut(loadOnednn().available)}${fits >= 2 && fits < p.batch_size ? ` (or batch_size ${fits} or less on wasm)` : ""}`
}

/**
 * The train stage's `resources` hook: a fold's predicted peak of the machine's memory; on the wasm
 * engine, a step its 4 GiB heap cannot hold is refused before anything runs.
 */
export const trainResources = (p: TrainShape): Effect.Effect<StageResources, EngineMemoryExceeded> =>
  Effect.suspend(() => {
    const step = stepOf(p)
    if (step === undefined) return Effect.succeed({})
    if (step.limitBytes !== undefined && step.tensorBytes > step.limitBytes) {
      return Effect.fail(
        new EngineMemoryExceeded({
          subject: step.subject,
          needBytes: step.tensorBytes,
          engine: "the wasm engine",
          limitBytes: step.limitBytes,
          wayOut: wayOut(p),
        }),
      )
    }
    return Effect.succeed({ memoryBytes: step.hostBytes, subject: step.subject })
  })

/**
 * A training fold's failure, with a wasm memory trap (`memory access out of bounds`, `Aborted()`...)
 * said for what it most likely is: the heap ran out. Any other error is left as it is.
 */
export const explainWasmTrap =
  (p: TrainShape) =>
  <E>(error: E): E | EngineOutOfMemory => {
    const step = stepOf(p)
    const text = describeError(error)
    if (step === undefined || step.limitBytes === undefined || !isWasmMemoryTrap(text)) return error
    // A worker's failure names its task already (`worker train fold 0: ...`): keep the trap's own words.
    const detail = typeof error === "object" && error !== null && "detail" in error && typeof error.detail === "string" ? error.detail : text
    return new EngineOutOfMemory({
      task: `train fold ${p.fold}`,
      trap: detail,
      subject: step.subject,
      needBytes: step.tensorBytes,
      limitBytes: step.limitBytes,
      wayOut: wayOut(p),
      cause: error,
    })
  }
