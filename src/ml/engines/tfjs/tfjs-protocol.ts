/**
 * What the TF.js engine's layer (tfjs-engine.ts) and its worker threads (tfjs-worker.ts) say to
 * each other over the generic worker pool (src/core/thread-pool.ts). Types only.
 */
import type { BackendName, ResolvedBackend } from "./resolve-backend.js"
import type { WindowDataset, WindowSource } from "../../input/window-dataset.js"
import type { EvaluateConfig, EvaluateResult, PredictConfig, PredictProgress, PredictResult } from "../../predict/predict.js"
import type { FoldData, TrainConfig, TrainFoldResult, TrainProgress } from "../../train/train-fold.js"
import type { ModelConfig } from "../../model/model-config.js"

/** Where a task runs: the backend (already resolved: never "auto") and its native kernels' threads. */
export interface TfjsPlacement {
  readonly backend: BackendName
  readonly threads: number
}

/** A task, with the placement the worker must run it on. */
export type TfjsTask =
  | { readonly kind: "train"; readonly placement: TfjsPlacement; readonly config: TrainConfig; readonly data: FoldData }
  | {
      readonly kind: "evaluate"
      readonly placement: TfjsPlacement
      readonly config: EvaluateConfig
      readonly checkpoint: string
      readonly data: WindowDataset
    }
  | {
      readonly kind: "predict"
      readonly placement: TfjsPlacement
      readonly config: PredictConfig
      readonly checkpoints: ReadonlyArray<string>
      readonly windows: ReadonlyArray<WindowSource>
    }
  | {
      readonly kind: "export-onnx"
      readonly placement: TfjsPlacement
      readonly config: ModelConfig
      readonly checkpoint: string
      readonly file: string
    }

/** A task's result, tagged with the task's kind. */
export type TfjsAnswer =
  | { readonly kind: "train"; readonly result: TrainFoldResult }
  | { readonly kind: "evaluate"; readonly result: EvaluateResult }
  | { readonly kind: "predict"; readonly result: PredictResult }
  | { readonly kind: "export-onnx" }

/** A task's progress events. */
export type TfjsProgress =
  | { readonly kind: "backend"; readonly backend: ResolvedBackend }
  | { readonly kind: "train"; readonly event: TrainProgress }
  | { readonly kind: "predict"; readonly event: PredictProgress }
