/**
 * The seed's inference: for each fold model, `softmax(model(x))` over the windows in order (eval
 * mode, batches of `batchSize`, last batch kept), then the mean over the models
 * (`test_preds_arr.mean(axis=0)`, float64 as numpy computes it on its float64 buffer).
 */
import { Effect } from "effect"
import { loadCheckpoint } from "./checkpoint.js"
import { BatchLoader, type WindowSource } from "./dataset.js"
import type { FileReadFailed, NpyInvalid } from "../data/errors.js"
import type { CheckpointMismatch, DatasetError, SafetensorsError } from "./errors.js"
import { softmaxRows } from "./loss.js"
import { buildResNet, type ResNetConfig, type ResNetVariant } from "./resnet.js"
import { evalLogits, type TrainableModel } from "./train.js"

export interface PredictConfig {
  readonly variant: ResNetVariant
  readonly inChans: number
  readonly numClasses: number
  readonly imgSize: number
  readonly batchSize: number
  /** Expected window shape, checked per window when given. */
  readonly windowShape?: readonly [number, number]
}

export type PredictProgress =
  | { readonly type: "model"; readonly index: number; readonly models: number; readonly checkpoint: string }
  | { readonly type: "batch"; readonly index: number; readonly batch: number; readonly batches: number }

export interface PredictHooks {
  readonly onProgress?: (event: PredictProgress) => void
  readonly buildModel?: (config: ResNetConfig, seed: number) => TrainableModel
}

export interface PredictResult {
  /** Row-major `[rows, classes]` mean of the models' probabilities. */
  readonly mean: Float64Array
  /** Each model's probabilities, in checkpoint order. */
  readonly perModel: ReadonlyArray<Float32Array>
}

export type PredictError = SafetensorsError | CheckpointMismatch | DatasetError | FileReadFailed | NpyInvalid

/** Softmax probabilities of one model over a loader's rows, in order. */
export const predictProbabilities = (
  model: Pick<TrainableModel, "forward">,
  loader: BatchLoader,
  batchSize: number,
  onBatch?: (done: number, total: number) => void,
): Effect.Effect<Float32Array, DatasetError | FileReadFailed | NpyInvalid> =>
  Effect.map(evalLogits(model, loader, batchSize, onBatch), (logits) => softmaxRows(logits, loader.dataset.classes))

/** The mean over models of row-major probability arrays, in float64 (models summed in order). */
export const averagePredictions = (perModel: ReadonlyArray<Float32Array>): Float64Array => {
  const first = perModel[0]
  if (first === undefined) return new Float64Array(0)
  const out = new Float64Array(first.length)
  for (const p of perModel) {
    if (p.length !== first.length) throw new RangeError(`averagePredictions: ${p.length} values vs ${first.length}`)
    for (let i = 0; i < p.length; i++) out[i] = out[i]! + p[i]!
  }
  for (let i = 0; i < out.length; i++) out[i] = out[i]! / perModel.length
  return out
}

/** Loads each checkpoint in turn, predicts every window, and averages the models' softmax. */
export const predictCheckpoints = (
  config: PredictConfig,
  checkpoints: ReadonlyArray<string>,
  windows: ReadonlyArray<WindowSource>,
  hooks: PredictHooks = {},
): Effect.Effect<PredictResult, PredictError> =>
  Effect.gen(function* () {
    const loader = new BatchLoader(
      { windows, labels: new Float32Array(windows.length * config.numClasses), classes: config.numClasses },
      { imgSize: config.imgSize, ...(config.windowShape === undefined ? {} : { windowShape: config.windowShape }) },
    )
    const build = hooks.buildModel ?? buildResNet
    const emit = hooks.onProgress ?? (() => undefined)
    const perModel: Array<Float32Array> = []
    for (let index = 0; index < checkpoints.length; index++) {
      const checkpoint = checkpoints[index]!
      emit({ type: "model", index, models: checkpoints.length, checkpoint })
      const probabilities = yield* Effect.acquireUseRelease(
        Effect.sync(() => build({ variant: config.variant, inChans: config.inChans, numClasses: config.numClasses }, 0)),
        (model) =>
          Effect.flatMap(loadCheckpoint(model, checkpoint), () =>
            predictProbabilities(model, loader, config.batchSize, (batch, batches) =>
              emit({ type: "batch", index, batch, batches }),
            ),
          ),
        (model) => Effect.sync(() => model.dispose()),
      )
      perModel.push(probabilities)
    }
    return { mean: averagePredictions(perModel), perModel }
  })
