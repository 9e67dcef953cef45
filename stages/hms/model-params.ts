/**
 * What the training and inference stages share: their params, the seed's values (the notebook's
 * CFG) as `SEED_CONFIG`, the task's model settings (one channel in, six classes out, KL loss,
 * OneCycle, the log-z-score transform), and the engine they run on. One place for them.
 */
import { type Layer, Schema } from "effect"
import { N_CLASSES } from "./constants.js"
import {
  BackendParam,
  type BackendRequest,
  DEFAULT_NATIVE_THREADS,
  type EngineLayer,
  type ImageTransform,
  ImgSize,
  type ModelConfig,
  type LossName,
  type LrSchedule,
  ONNX_RUNTIME_ENGINE,
  onnxRuntimeInstalled,
  onnxRuntimePredictor,
  type Predictor,
  TFJS_ENGINE,
  TFJS_ENGINE_INPUTS,
  tfjsEngine,
  ThreadsParam,
} from "cairn/ml"

export const ModelName = Schema.Literal("resnet34d", "resnet18d")

/**
 * The params that say which model a stage builds, in the Schemas of train, infer and given-models:
 * `img_size` is checked here, once, as the model config's `ImgSize` (the type tells the engines it was).
 */
export const MODEL_PARAMS = { model: ModelName, img_size: ImgSize } as const

/** The task's model for those params: one channel in, six classes out, the seed's transform. */
export const hmsModel = (p: { readonly model: typeof ModelName.Type; readonly img_size: ImgSize }): ModelConfig => ({
  variant: p.model,
  inChans: IN_CHANS,
  numClasses: N_CLASSES,
  imgSize: p.img_size,
  transform: SEED_TRANSFORM,
})
export { BackendParam, DEFAULT_NATIVE_THREADS, ThreadsParam }

/** The seed's CFG (hms-hbac-resnet34d-baseline-training). */
export const SEED_CONFIG = {
  model: "resnet34d",
  img_size: 512,
  max_epoch: 9,
  batch_size: 32,
  lr: 1.0e-3,
  weight_decay: 1.0e-2,
  es_patience: 5,
  seed: 1086,
} as const

/** OneCycleLR as the seed builds it: pct_start 0, div_factor 25, final_div_factor 0.4 (torch's defaults otherwise). */
export const SEED_ONE_CYCLE: LrSchedule = { kind: "one-cycle", pctStart: 0.0, divFactor: 25, finalDivFactor: 0.4 }

/** The seed's loss: KL divergence of the vote distribution from the softmax (batchmean). */
export const SEED_LOSS: LossName = "kl"

/**
 * The seed's per-window transform: clip to [e^-4, e^8] (`LOG_CLIP_MIN`, `LOG_CLIP_MAX` in
 * constants.ts, as numpy computes them), log, z-score with eps 1e-6; then the resize. The seed's
 * windows were Fortran-ordered slices; ours are C-ordered copies with the same values (the sums'
 * order differs in the last bits only).
 */
export const SEED_TRANSFORM: ImageTransform = { kind: "log-zscore", logMin: -4, logMax: 8, eps: 1e-6 }

/** One input channel (the spectrogram), six classes. */
export const IN_CHANS = 1

/** The engine the HMS stages train and predict with, on the backend and threads params' values (one place to change it). */
export const hmsEngine = (backend: BackendRequest, threads: number): EngineLayer => tfjsEngine({ backend, threads })

/** What `infer` predicts with: ONNX Runtime on the fold models' ONNX files, or TF.js on their checkpoints; "auto": ONNX Runtime where installed. */
export const InferEngineParam = Schema.Literal("auto", ONNX_RUNTIME_ENGINE, TFJS_ENGINE)
export type InferEngine = typeof ONNX_RUNTIME_ENGINE | typeof TFJS_ENGINE

export const resolveInferEngine = (requested: typeof InferEngineParam.Type): InferEngine =>
  requested === "auto" ? (onnxRuntimeInstalled() ? ONNX_RUNTIME_ENGINE : TFJS_ENGINE) : requested

/** The predictor `infer` uses for its params. */
export const hmsPredictor = (engine: InferEngine, backend: BackendRequest, threads: number): Layer.Layer<Predictor> =>
  engine === ONNX_RUNTIME_ENGINE ? onnxRuntimePredictor({ threads }) : hmsEngine(backend, threads)

/** What the engine's identity inspects besides params and packages (the stages' `engineInputs`). */
export const HMS_ENGINE_INPUTS: ReadonlyArray<string> = TFJS_ENGINE_INPUTS
