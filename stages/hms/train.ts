import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Fiber, Queue, Schema } from "effect"
import { writeArrowTable } from "cairn/data"
import { defineStage, describeError, when } from "cairn"
import {
  type BatchOrder,
  checkpointFileName,
  type TrainProgress,
  engineIdentity,
  isMlError,
  npyWindow,
  ONNX_MODEL_FILE,
  renameFiles,
  Trainer,
  type TrainFoldResult,
  type WindowDataset,
  writeStateDictAsSafetensors,
} from "cairn/ml"
import { assignFolds } from "./assign-folds.js"
import { checkTestset } from "./check-testset.js"
import { N_CLASSES, NPY_EXTENSION, SPECTROGRAM_ROWS, VOTE_COLUMNS, WINDOW_WIDTH } from "./constants.js"
import { BackendParam, HMS_ENGINE_INPUTS, hmsEngine, hmsModel, MODEL_PARAMS, SEED_LOSS, SEED_ONE_CYCLE, ThreadsParam } from "./model-params.js"
import { givenCheckpoint, givenCheckpointReads, stageFileNames } from "./model-files.js"
import { EmptyFold, TrainOrderUnreadable } from "./stage-errors.js"
import { FOLDS_TABLE_FILE, HISTORY_FILE, readFoldArrow, VAL_PREDICTIONS_FILE } from "./tables.js"
import { explainWasmTrap, trainBackend, trainResources } from "./train-resources.js"
import { PRETRAINED_FILE, pretrainedWeights } from "./pretrained.js"
import { splitSpectrograms } from "./split-spectrograms.js"

const TrainParams = Schema.Struct({
  fold: Schema.Int.pipe(Schema.nonNegative()),
  ...MODEL_PARAMS,
  batch_size: Schema.Int.pipe(Schema.greaterThanOrEqualTo(2)),
  epochs: Schema.Int.pipe(Schema.positive()),
  lr: Schema.Number.pipe(Schema.positive()),
  weight_decay: Schema.Number.pipe(Schema.nonNegative()),
  patience: Schema.Int.pipe(Schema.nonNegative()),
  seed: Schema.Int.pipe(Schema.nonNegative()),
  backend: BackendParam,
  /** oneDNN threads of the fold's engine worker (wasm+onednn). */
  threads: ThreadsParam,
  /** A folder of `best_model_fold{k}.safetensors` or the seed's `best_model_fold{k}.pth` to use instead of training ("" = train). */
  checkpoints: Schema.String,
  /** Training batch order: numpy's seeded shuffle per epoch (the default) or the table's order. */
  shuffle: Schema.optionalWith(Schema.Literal("numpy", "none"), { default: () => "numpy" as const }),
  /** A JSON file of one permutation of the training rows per epoch, overriding `shuffle` ("" = none). */
  order: Schema.optionalWith(Schema.String, { default: () => "" }),
})

/** The batch order a fold trains with: given by file, or by `shuffle`. */
const batchOrder = (p: { readonly shuffle: "numpy" | "none"; readonly order: string }) =>
  Effect.try({
    try: (): BatchOrder => (p.order ? { kind: "given", epochs: JSON.parse(fs.readFileSync(p.order, "utf8")) as Array<Array<number>> } : { kind: p.shuffle }),
    catch: (error) => new TrainOrderUnreadable({ file: p.order, detail: describeError(error) }),
  })

/** What a fold reports, trained or given. */
type FoldOutcome = Pick<TrainFoldResult, "bestEpoch" | "bestValLoss" | "history" | "valPredictions" | "stoppedEarly">

/**
 * The seed's train_one_fold for one fold (fanned out as `train/fold-k`): ResNet-D on the
 * log-clipped, z-scored, resized windows, KL-divergence loss, AdamW, OneCycleLR per batch, early
 * stopping on the fold's validation KL, best epoch kept. Runs on the engine service (a worker
 * thread with its own TF.js), so folds train in parallel up to `--jobs`.
 */
export const train = defineStage({
  name: "train",
  description: "one fold's ResNet-D",
  params: TrainParams,
  // `testset` only orders: no fold trains before the test folder is known to be readable.
  // Given checkpoints are not trained from ImageNet weights: with them, no `pretrained-weights` is planned (nor downloaded).
  inputs: {
    folds: assignFolds,
    windows: splitSpectrograms,
    weights: when(pretrainedWeights, (p: { readonly checkpoints: string }) => p.checkpoints === ""),
    testset: checkTestset,
  },
  // The engine and backend in use are part of the key (results differ in the last bits between them).
  engine: (p) => engineIdentity(hmsEngine(trainBackend(p), p.threads)),
  engineInputs: HMS_ENGINE_INPUTS,
  // A fold's predicted peak memory: the runner trains as many at once as the budget holds, and a
  // step the wasm heap cannot hold is refused before anything runs.
  resources: trainResources,
  // A fold saves its whole state after each epoch: a run killed in epoch 8 continues from epoch 7.
  // Given checkpoints are not trained: nothing to resume.
  steps: (p) => (p.checkpoints ? undefined : { unit: "epoch", total: p.epochs }),
  // So is the content of the batch order file and of this fold's given checkpoint (the pretrained
  // weights come in as an input).
  reads: ["order", (p) => (p.checkpoints ? givenCheckpointReads(p.checkpoints, p.fold) : undefined)],
  run: (ctx) =>
    Effect.gen(function* () {
      const p = ctx.params
      const trainer = yield* Trainer
      const t = yield* readFoldArrow(path.join(ctx.inputs.folds.dir, FOLDS_TABLE_FILE))
      const rowsOf = (pred: (f: number) => boolean) => [...t.fold.keys()].filter((i) => pred(t.fold[i]!))
      const trainRows = rowsOf((f) => f !== p.fold)
      const valRows = rowsOf((f) => f === p.fold)
      if (valRows.length === 0) return yield* new EmptyFold({ fold: p.fold, folds: Math.max(...t.fold) + 1 })
      const dataset = (rows: ReadonlyArray<number>): WindowDataset => {
        const labels = new Float32Array(rows.length * N_CLASSES)
        rows.forEach((r, i) => labels.set(t.votes.subarray(r * N_CLASSES, (r + 1) * N_CLASSES), i * N_CLASSES))
        return { windows: rows.map((r) => npyWindow(path.join(ctx.inputs.windows.dir, `${t.labelId[r]}${NPY_EXTENSION}`))), labels, classes: N_CLASSES }
      }
      const { engine, backend } = trainer.identity
      yield* ctx.log(`${engine} on ${backend}, ${p.model} ${p.img_size}px, ${trainRows.length} train / ${valRows.length} val windows`)
      const windowShape = [SPECTROGRAM_ROWS, WINDOW_WIDTH] as const
      const model = hmsModel(p)
      let result: FoldOutcome
      if (p.checkpoints) {
        // Given weights: scored on the fold as training's validation would have (read where the
        // user put them, so that any error names their file; the run checks it did not change),
        // then copied into the output.
        const given = yield* givenCheckpoint(p.checkpoints, p.fold)
        const scored = yield* trainer.evaluate({ ...model, batchSize: p.batch_size, windowShape, loss: SEED_LOSS }, given, dataset(valRows))
        // Kept as cairn's safetensors (a `.pth` converted, its values unchanged).
        yield* writeStateDictAsSafetensors(given, path.join(ctx.outDir, checkpointFileName(p.fold)))
        result = { bestEpoch: 0, bestValLoss: scored.loss, history: [], valPredictions: scored.predictions, stoppedEarly: false }
      } else {
        const order = yield* batchOrder(p)
        const saved = ctx.steps ? yield* ctx.steps.resume : undefined
        const progressDir = ctx.steps ? yield* ctx.steps.newFolder : undefined
        // Each epoch's state goes into the store in order, on a fiber of its own: training does not wait for it.
        const saves = yield* Queue.unbounded<Extract<TrainProgress, { type: "saved" }> | undefined>()
        const commitSaves: Effect.Effect<void> = Effect.flatMap(Queue.take(saves), (e) => {
          if (e === undefined || ctx.steps === undefined) return Effect.void
          const save = Effect.zipRight(ctx.steps.save(e.epoch, e.dir, e.value as never), ctx.log(`saved after epoch ${e.epoch}`))
          return Effect.zipRight(
            Effect.catchAll(save, (error) => ctx.log(`progress after epoch ${e.epoch} not saved: ${error.message}`)),
            Effect.suspend(() => commitSaves),
          )
        })
        const committer = yield* Effect.fork(commitSaves)
        result = yield* trainer.train(
          {
            ...model,
            batchSize: p.batch_size,
            epochs: p.epochs,
            lr: p.lr,
            weightDecay: p.weight_decay,
            patience: p.patience,
            seed: p.seed,
            loss: SEED_LOSS,
            schedule: SEED_ONE_CYCLE,
            ...(ctx.inputs.weights?.value.weights ? { pretrained: path.join(ctx.inputs.weights.dir, PRETRAINED_FILE) } : {}),
            order,
          },
          {
            fold: p.fold,
            train: dataset(trainRows),
            val: dataset(valRows),
            outputDir: ctx.outDir,
            classNames: VOTE_COLUMNS,
            windowShape,
            ...(progressDir ? { progressDir } : {}),
            ...(saved ? { resume: { files: saved.files, value: saved.value } } : {}),
          },
          {
            onProgress: (e) => {
              if (e.type === "saved") Queue.unsafeOffer(saves, e)
              else if (e.type === "step") {
                const done = (e.epoch - 1) * e.stepsPerEpoch + e.step
                Effect.runSync(
                  ctx.progress({
                    fraction: done / (p.epochs * e.stepsPerEpoch),
                    text: `epoch ${e.epoch}/${p.epochs} step ${e.step}/${e.stepsPerEpoch} loss ${e.loss.toFixed(4)} ${e.imagesPerSecond.toFixed(1)} img/s`,
                  }),
                )
              } else if (e.type === "epoch") {
                const r = e.record
                Effect.runSync(
                  ctx.log(
                    `epoch ${r.epoch}: train loss ${r.trainLoss.toFixed(6)}, val loss ${r.valLoss.toFixed(6)}, ${r.seconds.toFixed(1)}s${r.improved ? " (best)" : ""}`,
                  ),
                )
              }
            },
          },
        )
        Queue.unsafeOffer(saves, undefined)
        yield* Fiber.join(committer)
      }
      // The kept model as ONNX too, for ONNX Runtime's inference and for deployment (`cairn export`).
      const kept = path.join(ctx.outDir, checkpointFileName(p.fold))
      yield* trainer.exportOnnx(model, kept, path.join(ctx.outDir, ONNX_MODEL_FILE))
      yield* writeArrowTable(path.join(ctx.outDir, VAL_PREDICTIONS_FILE), {
        label_id: Float64Array.from(valRows, (r) => t.labelId[r]!),
        ...Object.fromEntries(VOTE_COLUMNS.map((c, k) => [c, Float64Array.from(valRows, (_, i) => result.valPredictions[i * N_CLASSES + k]!)])),
      })
      const history = result.history.map((h) => ({ epoch: h.epoch, trainLoss: h.trainLoss, valLoss: h.valLoss, lr: h.lr }))
      fs.writeFileSync(path.join(ctx.outDir, HISTORY_FILE), `${JSON.stringify(history, null, 1)}\n`)
      yield* ctx.metrics({ best_val_loss: result.bestValLoss, best_epoch: result.bestEpoch })
      return { fold: p.fold, seed: p.seed, bestEpoch: result.bestEpoch, bestValLoss: result.bestValLoss, stoppedEarly: result.stoppedEarly, history, backend }
    }).pipe(
      // The engine's errors name this run's working folder: name the stage's files instead.
      Effect.mapError((e) => (isMlError(e) ? renameFiles(e, stageFileNames(ctx.id, ctx.outDir, [checkpointFileName(ctx.params.fold), ONNX_MODEL_FILE])) : e)),
      // A wasm trap alone says nothing of memory: said with the step's estimate and the way out.
      Effect.mapError(explainWasmTrap(ctx.params)),
      Effect.provide(hmsEngine(trainBackend(ctx.params), ctx.params.threads)),
    ),
})
