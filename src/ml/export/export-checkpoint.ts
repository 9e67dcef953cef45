/**
 * A checkpoint (safetensors, timm's names) written as an ONNX file: the model is built for
 * `config`, loaded from the checkpoint (names and shapes checked), and written by `resnetToOnnx`
 * for `config.imgSize` square inputs. Runs wherever TF.js runs (the engine's worker threads).
 */
import * as fs from "node:fs"
import { Effect } from "effect"
import { loadCheckpoint } from "../model/checkpoint.js"
import { FileWriteFailed } from "../../data/data-errors.js"
import { buildResNet, type ResNetConfig, readStateValues } from "../model/resnet.js"
import { checkModelConfig, type ModelConfig, resNetConfigOf, type TrainableModel } from "../model/model-config.js"
import { OnnxExportError } from "../ml-errors.js"
import { resnetToOnnx } from "./export-resnet.js"

export interface ExportHooks {
  readonly buildModel?: (config: ResNetConfig, seed: number) => TrainableModel
}

export const exportCheckpointOnnx = (config: ModelConfig, checkpoint: string, file: string, hooks: ExportHooks = {}) =>
  Effect.gen(function* () {
    yield* checkModelConfig(config)
    const build = hooks.buildModel ?? buildResNet
    yield* Effect.acquireUseRelease(
      Effect.sync(() => build(resNetConfigOf(config), 0)),
      (model) =>
        Effect.gen(function* () {
          yield* loadCheckpoint(model, checkpoint)
          const values = yield* Effect.promise(() => readStateValues(model.tensors))
          const bytes = yield* Effect.try({
            try: () => resnetToOnnx(model, { imgSize: config.imgSize }, values),
            catch: (e) => (e instanceof OnnxExportError ? e : new OnnxExportError({ model: checkpoint, detail: String(e) })),
          })
          yield* Effect.try({
            try: () => fs.writeFileSync(file, bytes),
            catch: (cause) => new FileWriteFailed({ file, reason: cause instanceof Error ? cause.message : String(cause) }),
          })
        }),
      (model) => Effect.sync(() => model.dispose()),
    )
  })
