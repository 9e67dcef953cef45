import * as path from "node:path"
import { Effect, Schema } from "effect"
import { DuckDbLive, writeCsv } from "cairn/data"
import { allOf, defineStage, type StageOf } from "cairn"
import { N_CLASSES, SPECTROGRAM_ROWS, VOTE_COLUMNS } from "./constants.js"
import { checkpointFileName, memoryWindow, ONNX_MODEL_FILE, ONNX_RUNTIME_ENGINE, predictorIdentity, Predictor, renameFiles } from "cairn/ml"
import { testset } from "./testset.js"
import { BackendParam, HMS_ENGINE_INPUTS, hmsModel, hmsPredictor, InferEngineParam, MODEL_PARAMS, resolveInferEngine, ThreadsParam } from "./model-params.js"
import { stageFileNames } from "./model-files.js"
import { readSpectrogram } from "./spectrogram.js"
import { readTestFolder } from "./test-folder.js"
import { train } from "./train.js"

export const SUBMISSION_FILE = "submission.csv"

/** What `infer` needs of a fold model's stage: its output holds `best_model_fold{k}.safetensors` and `model.onnx`. */
export type FoldModelStage = StageOf<{ readonly fold: number }>

/**
 * The inference notebook: each test spectrogram (the whole file, as it converts it), every fold
 * model's softmax, averaged over the folds, written as submission.csv in sample_submission's
 * eeg_id order with the six vote columns. On ONNX Runtime (the fold models' `model.onnx`) or TF.js
 * (their checkpoints): `infer_engine`. The fold models are every instance of `models`: the trained
 * folds (`infer`), or the given ones (hms-infer).
 */
export const inferFrom = (models: FoldModelStage) =>
  defineStage({
    name: "infer",
    description: "mean of the fold models' softmax over the test spectrograms",
    params: Schema.Struct({
      ...MODEL_PARAMS,
      batch_size: Schema.Int.pipe(Schema.positive()),
      backend: BackendParam,
      threads: ThreadsParam,
      infer_engine: InferEngineParam,
    }),
    inputs: { models: allOf(models), data: testset },
    // The engine and backend in use are part of the key (results differ in the last bits between them).
    engine: (p) => predictorIdentity(hmsPredictor(resolveInferEngine(p.infer_engine), p.backend, p.threads)),
    engineInputs: HMS_ENGINE_INPUTS,
    layer: DuckDbLive,
    run: (ctx) =>
      Effect.gen(function* () {
        const predictor = yield* Predictor
        const { test, spectrograms, submissionRows } = yield* readTestFolder(ctx.inputs.data.dir)
        const windows = yield* Effect.forEach(spectrograms, (file, i) =>
          Effect.map(readSpectrogram(file), (s) =>
            memoryWindow(String(test.spectrogramId[i]), { data: s.data, height: SPECTROGRAM_ROWS, width: s.rows, order: "C" }),
          ),
        )
        // ONNX Runtime runs the fold models' ONNX files, TF.js their checkpoints.
        const onnx = predictor.identity.engine === ONNX_RUNTIME_ENGINE
        const modelFiles = ctx.inputs.models.map((m) => (onnx ? ONNX_MODEL_FILE : checkpointFileName(m.value.fold)))
        const checkpoints = ctx.inputs.models.map((m, i) => path.join(m.dir, modelFiles[i]!))
        // Errors name a fold's file by its stage ("model.onnx (output of train/fold-0)"), not by its place in the store.
        const names = new Map(ctx.inputs.models.flatMap((m, i) => [...stageFileNames(m.id, m.dir, [modelFiles[i]!])]))
        const p = ctx.params
        yield* ctx.log(`${predictor.identity.engine} on ${predictor.identity.backend}: ${checkpoints.length} fold models x ${test.rows} test spectrograms`)
        const predicted = yield* predictor
          .predict({ ...hmsModel(p), batchSize: p.batch_size }, checkpoints, windows)
          .pipe(Effect.mapError((e) => renameFiles(e, names)))
        yield* writeCsv(path.join(ctx.outDir, SUBMISSION_FILE), [
          { name: "eeg_id", kind: "integer", values: Float64Array.from(submissionRows, (r) => test.eegId[r]!) },
          ...VOTE_COLUMNS.map((name, k) => ({
            name,
            kind: "float" as const,
            values: Float64Array.from(submissionRows, (r) => predicted.mean[r * N_CLASSES + k]!),
          })),
        ])
        return { rows: submissionRows.length, folds: checkpoints.length }
      }).pipe(Effect.provide(hmsPredictor(resolveInferEngine(ctx.params.infer_engine), ctx.params.backend, ctx.params.threads))),
  })

/** The inference over the trained folds (hms-baseline, hms-quick). */
export const infer = inferFrom(train)
