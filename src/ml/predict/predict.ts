/**
 * Inference: for each model, `softmax(model(x))` over the windows in order (eval mode, batches of
 * `batchSize`, last batch kept), then the mean over the models (`preds.mean(axis=0)`, float64 as
 * numpy computes it on its float64 buffer). And the evaluation of one checkpoint on a labelled set,
 * exactly as training's validation scores it.
 */
import { Effect } from "effect"
import type { FileReadFailed, NpyInvalid } from "../../data/data-errors.js"
import { loadCheckpoint } from "../model/checkpoint.js"
import { BatchLoader, validateDataset, type WindowDataset, type WindowSource } from "../input/window-dataset.js"
import {
  type CheckpointMismatch,
  type DatasetError,
  LossNotFinite,
  type ModelIoMismatch,
  type PthError,
  type SafetensorsError,
  type TrainConfigError,
} from "../ml-errors.js"
import { type LossName, softmaxRows, ValidationLoss } from "../train/loss.js"
import { buildResNet, type ResNetConfig } from "../model/resnet.js"
import { evalLogits } from "./eval-logits.js"
import { checkModelConfig, loaderOptions, type ModelConfig, resNetConfigOf, type TrainableModel } from "../model/model-config.js"

export interface PredictConfig extends ModelConfig {
  readonly batchSize: number
  /** Expected (height, width) of every channel plane, checked per window when given. */
  readonly windowShape?: readonly [number, number]
}

/** Evaluating a checkpoint: the model, the batches, and the loss training validates with. */
export interface EvaluateConfig extends PredictConfig {
  readonly loss: LossName
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

export interface EvaluateResult {
  /** The loss over the whole set, as training's validation computes it. */
  readonly loss: number
  /** Row-major `[rows, classes]` softmax of the model, in order. */
  readonly predictions: Float32Array
}

export type PredictError =
  | TrainConfigError
  | SafetensorsError
  | PthError
  | CheckpointMismatch
  | ModelIoMismatch
  | LossNotFinite
  | DatasetError
  | FileReadFailed
  | NpyInvalid

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

/**
 * `use` with a model loaded from `checkpoint`, disposed afterwards. The model is built for
 * `config`, so `loadCheckpoint` checks the file's input channels and classes against it first.
 */
const withCheckpoint = <A, E>(
  config: ModelConfig,
  checkpoint: string,
  build: (config: ResNetConfig, seed: number) => TrainableModel,
  use: (model: TrainableModel) => Effect.Effect<A, E>,
) =>
  Effect.acquireUseRelease(
    Effect.sync(() => build(resNetConfigOf(config), 0)),
    (model) => Effect.flatMap(loadCheckpoint(model, checkpoint), () => use(model)),
    (model) => Effect.sync(() => model.dispose()),
  )

/** Loads each checkpoint in turn, predicts every window, and averages the models' softmax. */
export const predictCheckpoints = (
  config: PredictConfig,
  checkpoints: ReadonlyArray<string>,
  windows: ReadonlyArray<WindowSource>,
  hooks: PredictHooks = {},
): Effect.Effect<PredictResult, PredictError> =>
  Effect.gen(function* () {
    yield* checkModelConfig(config)
    const loader = new BatchLoader(
      { windows, labels: new Float32Array(windows.length * config.numClasses), classes: config.numClasses },
      loaderOptions(config, config),
    )
    const build = hooks.buildModel ?? buildResNet
    const emit = hooks.onProgress ?? (() => undefined)
    const perModel: Array<Float32Array> = []
    for (let index = 0; index < checkpoints.length; index++) {
      const checkpoint = checkpoints[index]!
      emit({ type: "model", index, models: checkpoints.length, checkpoint })
      const probabilities = yield* withCheckpoint(config, checkpoint, build, (model) =>
        predictProbabilities(model, loader, config.batchSize, (batch, batches) => emit({ type: "batch", index, batch, batches })),
      )
      perModel.push(probabilities)
    }
    return { mean: averagePredictions(perModel), perModel }
  })

/**
 * One checkpoint on a labelled set: the loss and the softmax, computed from the logits as
 * training's validation computes them (so a saved best epoch scores what training reported).
 */
export const evaluateCheckpoint = (
  config: EvaluateConfig,
  checkpoint: string,
  data: WindowDataset,
  hooks: Pick<PredictHooks, "buildModel"> = {},
): Effect.Effect<EvaluateResult, PredictError> =>
  Effect.gen(function* () {
    yield* checkModelConfig(config)
    yield* validateDataset(data)
    const loader = new BatchLoader(data, loaderOptions(config, config))
    return yield* withCheckpoint(config, checkpoint, hooks.buildModel ?? buildResNet, (model) =>
      Effect.flatMap(evalLogits(model, loader, config.batchSize), (logits) => {
        const loss = new ValidationLoss(config.loss, config.numClasses)
        loss.add(logits, data.labels)
        const value = loss.compute()
        // A NaN here would travel on into the caller's metrics: say what it means instead.
        if (!Number.isFinite(value)) {
          return Effect.fail(new LossNotFinite({ fold: -1, checkpoint, phase: "validation", value, epoch: 0, step: 0, lr: 0 }))
        }
        return Effect.succeed({ loss: value, predictions: softmaxRows(logits, config.numClasses) })
      }),
    )
  })
