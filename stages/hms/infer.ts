import * as path from "node:path"
import { Effect, Schema } from "effect"
import { writeCsv } from "../../src/data/csv.js"
import { DuckDb, DuckDbLive } from "../../src/data/duckdb.js"
import { allOf, defineStage } from "../../src/index.js"
import {
  N_CLASSES,
  PARQUET_EXTENSION,
  SAMPLE_SUBMISSION_CSV,
  SPECTROGRAM_ROWS,
  TEST_CSV,
  TEST_SPECTROGRAMS_DIR,
  VOTE_COLUMNS,
} from "./constants.js"
import { checkpointFileName, ONNX_MODEL_FILE } from "../../src/ml/checkpoint-name.js"
import { memoryWindow } from "../../src/ml/dataset.js"
import { PredictorService, predictorIdentity } from "../../src/ml/engine.js"
import { ONNX_RUNTIME_ENGINE } from "../../src/ml/onnx/onnx-engine.js"
import { testset } from "./testset.js"
import {
  BackendParam,
  HMS_ENGINE_INPUTS,
  hmsPredictor,
  IN_CHANS,
  InferEngineParam,
  ModelName,
  resolveInferEngine,
  SEED_TRANSFORM,
  ThreadsParam,
} from "./model-params.js"
import { readSpectrogram } from "./spectrogram.js"
import { SubmissionMismatch } from "./stage-errors.js"
import { TEST_SCHEMA } from "./train-table.js"
import { train } from "./train.js"

export const SUBMISSION_FILE = "submission.csv"

const SAMPLE_SCHEMA = [{ name: "eeg_id", type: "integer" }, ...VOTE_COLUMNS.map((name) => ({ name, type: "float64" as const }))] as const

/**
 * The inference notebook: each test spectrogram (the whole file, as it converts it), every fold
 * model's softmax, averaged over the folds, written as submission.csv in sample_submission's
 * eeg_id order with the six vote columns. On ONNX Runtime (the fold models' `model.onnx`) or TF.js
 * (their checkpoints): `infer_engine`.
 */
export const infer = defineStage({
  name: "infer",
  description: "mean of the fold models' softmax over the test spectrograms",
  params: Schema.Struct({
    model: ModelName,
    img_size: Schema.Int.pipe(Schema.positive()),
    batch_size: Schema.Int.pipe(Schema.positive()),
    backend: BackendParam,
    threads: ThreadsParam,
    infer_engine: InferEngineParam,
  }),
  inputs: { models: allOf(train), data: testset },
  // The engine and backend in use are part of the key (results differ in the last bits between them).
  engine: (p) => predictorIdentity(hmsPredictor(resolveInferEngine(p.infer_engine), p.backend, p.threads)),
  engineInputs: HMS_ENGINE_INPUTS,
  layer: DuckDbLive,
  run: (ctx) =>
    Effect.gen(function* () {
      const db = yield* DuckDb
      const predictor = yield* PredictorService
      const testFile = path.join(ctx.inputs.data.dir, TEST_CSV)
      const sampleFile = path.join(ctx.inputs.data.dir, SAMPLE_SUBMISSION_CSV)
      const test = yield* db.readCsv(testFile, TEST_SCHEMA)
      const sample = yield* db.readCsv(sampleFile, SAMPLE_SCHEMA)
      const windows = yield* Effect.forEach(Array.from({ length: test.rows }, (_, i) => i), (i) =>
        Effect.map(readSpectrogram(path.join(ctx.inputs.data.dir, TEST_SPECTROGRAMS_DIR, `${test.columns.spectrogram_id[i]}${PARQUET_EXTENSION}`)), (s) =>
          memoryWindow(String(test.columns.spectrogram_id[i]), { data: s.data, height: SPECTROGRAM_ROWS, width: s.rows, order: "C" }),
        ),
      )
      // ONNX Runtime runs the fold models' ONNX files, TF.js their checkpoints.
      const onnx = predictor.identity.engine === ONNX_RUNTIME_ENGINE
      const checkpoints = ctx.inputs.models.map((m) => path.join(m.dir, onnx ? ONNX_MODEL_FILE : checkpointFileName(m.value.fold)))
      const p = ctx.params
      yield* ctx.log(`${predictor.identity.engine} on ${predictor.identity.backend}: ${checkpoints.length} fold models x ${test.rows} test spectrograms`)
      const predicted = yield* predictor.predict(
        { variant: p.model, inChans: IN_CHANS, numClasses: N_CLASSES, imgSize: p.img_size, batchSize: p.batch_size, transform: SEED_TRANSFORM },
        checkpoints,
        windows,
      )
      // pd.merge(sample_submission[["eeg_id"]], predictions, on="eeg_id", how="left").
      const rowOfEeg = new Map<number, number>()
      for (let i = 0; i < test.rows; i++) {
        const eeg = test.columns.eeg_id[i]!
        if (rowOfEeg.has(eeg)) return yield* new SubmissionMismatch({ file: testFile, row: i + 1, eegId: eeg, detail: "eeg_id appears twice in test.csv" })
        rowOfEeg.set(eeg, i)
      }
      const order: Array<number> = []
      for (let j = 0; j < sample.rows; j++) {
        const eeg = sample.columns.eeg_id[j]!
        const r = rowOfEeg.get(eeg)
        if (r === undefined) return yield* new SubmissionMismatch({ file: sampleFile, row: j + 1, eegId: eeg, detail: "eeg_id is not in test.csv" })
        order.push(r)
      }
      yield* writeCsv(path.join(ctx.outDir, SUBMISSION_FILE), [
        { name: "eeg_id", kind: "integer", values: Float64Array.from(order, (r) => test.columns.eeg_id[r]!) },
        ...VOTE_COLUMNS.map((name, k) => ({ name, kind: "float" as const, values: Float64Array.from(order, (r) => predicted.mean[r * N_CLASSES + k]!) })),
      ])
      return { rows: order.length, folds: checkpoints.length }
    }).pipe(Effect.provide(hmsPredictor(resolveInferEngine(ctx.params.infer_engine), ctx.params.backend, ctx.params.threads))),
})
