/**
 * `cairn/ml`: what a stage needs to train and predict. The engines as services (`Trainer`,
 * `Predictor`, and the layers that provide them: TF.js, ONNX Runtime), the model's config,
 * the window datasets the engines read, checkpoint files and pretrained weights, the training-step
 * memory estimate, and the errors the engines fail with. Everything else under src/ml is internal.
 *
 * Named re-exports only: a stage's code closure then covers the modules it takes names from, not
 * every module listed here.
 */
export { engineIdentity, predictorIdentity, Predictor, Trainer } from "./engine.js"
export type { EngineHooks, EngineIdentity, EngineLayer } from "./engine.js"
export { BackendParam, DEFAULT_NATIVE_THREADS, TFJS_ENGINE, TFJS_ENGINE_INPUTS, ThreadsParam, tfjsEngine } from "./engines/tfjs/tfjs-engine.js"
export type { BackendName, BackendRequest } from "./engines/tfjs/backend-probe.js"
export { ONNX_RUNTIME_ENGINE, onnxRuntimeInstalled, onnxRuntimePredictor } from "./engines/onnxruntime/onnx-engine.js"
export { loadOnednn } from "./engines/onednn/onednn-addon.js"
export { ImgSize } from "./model/model-config.js"
export type { ModelConfig } from "./model/model-config.js"
export type { ResNetVariant } from "./model/resnet.js"
export { checkpointFileName, ONNX_MODEL_FILE } from "./model/checkpoint-name.js"
export { isTorchCheckpoint } from "./model/pth.js"
export { writeStateDictAsSafetensors } from "./model/state-dict.js"
export { HF_WEIGHTS_FILE, hubFileUrl, hubHeaders, parseHubRef } from "./model/hub.js"
export { memoryWindow, npyWindow } from "./input/window-dataset.js"
export type { BatchOrder, WindowDataset, WindowSource } from "./input/window-dataset.js"
export type { ImageTransform } from "./input/preprocess.js"
export type { LossName } from "./train/loss-name.js"
export type { LrSchedule } from "./train/schedule.js"
export type { TrainConfig, TrainFoldResult, TrainProgress } from "./train/train-fold.js"
export {
  backendForStep,
  EngineMemoryExceeded,
  EngineOutOfMemory,
  estimateTrainStep,
  isWasmMemoryTrap,
  largestBatchWithin,
  wasmWayOut,
} from "./train/memory-estimate.js"
export type { TrainStepMemory } from "./train/memory-estimate.js"
export { klDivergenceScore, perClassKl } from "./predict/metric.js"
export type { PredictConfig } from "./predict/predict.js"
export { isMlError, renameFiles } from "./ml-errors.js"
export type { MlError } from "./ml-errors.js"
