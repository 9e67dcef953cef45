/**
 * The ML engine as services: a `Trainer` (train one fold, evaluate a given checkpoint) and a
 * `Predictor` (average the softmax of several checkpoints), each behind a `Context.Tag`. A layer
 * implements both for one engine (TF.js: `tfjsEngine` in tfjs-engine.ts; ONNX Runtime, WebGPU or
 * native kernels would be other layers) and says who it is (`identity`: what enters a stage's
 * cache key through its `engine` hook, since results differ in the last bits between engines and
 * backends).
 *
 * No TF.js here (types only): stages import this on the main thread, where nothing trains.
 */
import { Context, Effect, type Layer } from "effect"
import type { ResolvedBackend } from "./engines/tfjs/resolve-backend.js"
import type { WindowDataset, WindowSource } from "./input/window-dataset.js"
import type { MlError } from "./ml-errors.js"
import type { EvaluateConfig, EvaluateResult, PredictConfig, PredictProgress, PredictResult } from "./predict/predict.js"
import type { FoldData, TrainConfig, TrainFoldResult, TrainProgress } from "./train/train-fold.js"
import type { ModelConfig } from "./model/model-config.js"

/**
 * Who computes: the engine, the backend it runs on, and the versions of what it loads. A plain
 * record of strings, as a stage's `engine` hook returns it.
 */
export type EngineIdentity = {
  /** e.g. "tfjs". */
  readonly engine: string
  /** The engine's backend or device, resolved (never "auto"), e.g. "wasm". */
  readonly backend: string
  /** Package versions, e.g. "@tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0". */
  readonly versions: string
  /**
   * Shown at the start of a run, never part of a key (core's `ENGINE_NOTICE`): e.g. why "auto"
   * did not get a faster backend.
   */
  readonly notice?: string
}

/** What a caller hears of a running task. */
export interface EngineHooks<P> {
  readonly onProgress?: (event: P) => void
  /** Once the backend is initialised for the task (name and details, e.g. SIMD / threads). */
  readonly onBackend?: (backend: ResolvedBackend) => void
}

export interface Trainer {
  readonly identity: EngineIdentity
  /** Trains one fold (see `trainFold` in train.ts): the best epoch's checkpoint, history and validation softmax. */
  readonly train: (config: TrainConfig, data: FoldData, hooks?: EngineHooks<TrainProgress>) => Effect.Effect<TrainFoldResult, MlError>
  /** Scores a given checkpoint on a labelled set exactly as training's validation would have. */
  readonly evaluate: (config: EvaluateConfig, checkpoint: string, data: WindowDataset) => Effect.Effect<EvaluateResult, MlError>
  /** Writes a checkpoint as an ONNX file for `config.imgSize` square inputs (export/export-resnet.ts). */
  readonly exportOnnx: (config: ModelConfig, checkpoint: string, file: string) => Effect.Effect<void, MlError>
}

export interface Predictor {
  readonly identity: EngineIdentity
  /** Each checkpoint's softmax over `windows` in order, and their mean. */
  readonly predict: (
    config: PredictConfig,
    checkpoints: ReadonlyArray<string>,
    windows: ReadonlyArray<WindowSource>,
    hooks?: EngineHooks<PredictProgress>,
  ) => Effect.Effect<PredictResult, MlError>
}

/** The trainer service: the interface and its tag share one name (Effect's convention). */
export const Trainer = Context.GenericTag<Trainer>("cairn/ml/Trainer")

export const Predictor = Context.GenericTag<Predictor>("cairn/ml/Predictor")

/** A layer providing both services: one engine. */
export type EngineLayer<E = never> = Layer.Layer<Trainer | Predictor, E>

/** The identity of a predictor layer (e.g. ONNX Runtime's, which trains nothing), for a stage's `engine` hook. */
export const predictorIdentity = <E>(layer: Layer.Layer<Predictor, E>): Effect.Effect<EngineIdentity, E> =>
  Effect.provide(
    Effect.map(Predictor, (predictor) => predictor.identity),
    layer,
  )

/**
 * The identity of the engine a layer provides, for a stage's `engine` hook. Building the layer
 * must be cheap (no model, no thread started): the hook runs at every key computation.
 */
export const engineIdentity = <E>(layer: EngineLayer<E>): Effect.Effect<EngineIdentity, E> =>
  Effect.provide(
    Effect.map(Trainer, (trainer) => trainer.identity),
    layer,
  )
