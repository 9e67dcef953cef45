/**
 * Fold models given instead of trained: the seed's inference notebook loads the
 * `best_model_fold{k}.pth` its training notebook saved. `given-model/fold-k` reads the fold's file
 * from `--param checkpoints=DIR` (the seed's `.pth`, or safetensors), checks it against the model it
 * is declared to be (input channels, classes, every tensor's name and shape, finite values: the
 * checks of given weights), and keeps it as a trained fold's output is kept (cairn's safetensors and
 * `model.onnx`), so that `infer` reads both alike. No training data, no ImageNet weights: offline.
 */
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { defineStage } from "cairn"
import { checkpointFileName, engineIdentity, isMlError, isTorchCheckpoint, ONNX_MODEL_FILE, renameFiles, Trainer, writeStateDictAsSafetensors } from "cairn/ml"
import { inferFrom } from "./infer.js"
import { givenCheckpoint, givenCheckpointReads, stageFileNames } from "./model-files.js"
import { BackendParam, HMS_ENGINE_INPUTS, hmsEngine, hmsModel, MODEL_PARAMS, ThreadsParam } from "./model-params.js"

export const givenModel = defineStage({
  name: "given-model",
  description: "a fold's given model (the seed's .pth or safetensors), checked and kept for inference",
  params: Schema.Struct({
    fold: Schema.Int.pipe(Schema.nonNegative()),
    /** The folder of `best_model_fold{k}.pth` (or `.safetensors`). */
    checkpoints: Schema.String.pipe(
      Schema.minLength(1, { message: () => "must name the folder of the fold models (best_model_fold{k}.pth or .safetensors): --param checkpoints=DIR" }),
    ),
    ...MODEL_PARAMS,
    backend: BackendParam,
    threads: ThreadsParam,
  }),
  // The ONNX export runs on the engine: its identity is part of the key, as a trained fold's is.
  engine: (p) => engineIdentity(hmsEngine(p.backend, p.threads)),
  engineInputs: HMS_ENGINE_INPUTS,
  // The fold's file is read in place: its content is in the key, and it must not change during the run.
  reads: [(p) => givenCheckpointReads(p.checkpoints, p.fold)],
  run: (ctx) =>
    Effect.gen(function* () {
      const p = ctx.params
      const trainer = yield* Trainer
      const given = yield* givenCheckpoint(p.checkpoints, p.fold)
      yield* ctx.log(`${path.basename(given)}: ${p.model} ${p.img_size}px${isTorchCheckpoint(given) ? ", converted from PyTorch's format" : ""}`)
      const model = hmsModel(p)
      // Exported from the user's file itself, so that a file that does not fit the model is named as they know it.
      yield* trainer.exportOnnx(model, given, path.join(ctx.outDir, ONNX_MODEL_FILE))
      yield* writeStateDictAsSafetensors(given, path.join(ctx.outDir, checkpointFileName(p.fold)))
      // The same weights give the same files whatever format they came in: `infer` is then reused.
      return { fold: p.fold }
    }).pipe(
      Effect.mapError((e) => (isMlError(e) ? renameFiles(e, stageFileNames(ctx.id, ctx.outDir, [checkpointFileName(ctx.params.fold), ONNX_MODEL_FILE])) : e)),
      Effect.provide(hmsEngine(ctx.params.backend, ctx.params.threads)),
    ),
})

/** The inference notebook over the given fold models (pipelines/hms-infer.ts). */
export const inferGiven = inferFrom(givenModel)
