import * as path from "node:path"
import { Effect, Schema } from "effect"
import { defineStage } from "cairn"
import { engineIdentity, TFJS_ENGINE_INPUTS, Trainer } from "cairn/ml"
import { BackendParam, readLabels, splitDataset, toyEngine, toyModel } from "./engine.js"
import { accuracy, TOY_CLASSES } from "./patterns.js"
import { toyData } from "./toy-data.js"

/** Every VAL_EVERY-th training image validates. */
const VAL_EVERY = 5

/** One model, trained with cross-entropy and a constant lr on the engine service. */
export const toyTrain = defineStage({
  name: "toy-train",
  description: "a narrow ResNet-D on the stripes",
  params: Schema.Struct({
    width: Schema.Number.pipe(Schema.positive()),
    epochs: Schema.Int.pipe(Schema.positive()),
    batch_size: Schema.Int.pipe(Schema.greaterThanOrEqualTo(2)),
    lr: Schema.Number.pipe(Schema.positive()),
    seed: Schema.Int.pipe(Schema.nonNegative()),
    backend: BackendParam,
  }),
  inputs: { data: toyData },
  engine: (p) => engineIdentity(toyEngine(p.backend)),
  engineInputs: TFJS_ENGINE_INPUTS,
  run: (ctx) =>
    Effect.gen(function* () {
      const p = ctx.params
      const trainer = yield* Trainer
      const dir = ctx.inputs.data.dir
      const labels = yield* readLabels(dir, "train")
      const rows = labels.map((_, i) => i)
      const valRows = rows.filter((i) => i % VAL_EVERY === 0)
      const val = splitDataset(dir, "train", labels, valRows)
      const result = yield* trainer.train(
        {
          ...toyModel(p.width),
          batchSize: p.batch_size,
          epochs: p.epochs,
          lr: p.lr,
          weightDecay: 1e-4,
          patience: p.epochs,
          seed: p.seed,
          loss: "cross-entropy",
          schedule: { kind: "constant" },
        },
        {
          fold: 0,
          train: splitDataset(
            dir,
            "train",
            labels,
            rows.filter((i) => i % VAL_EVERY !== 0),
          ),
          val,
          outputDir: ctx.outDir,
          classNames: TOY_CLASSES,
        },
        {
          onProgress: (e) =>
            e.type === "epoch"
              ? Effect.runSync(ctx.log(`epoch ${e.record.epoch}: train ${e.record.trainLoss.toFixed(4)}, val ${e.record.valLoss.toFixed(4)}`))
              : undefined,
        },
      )
      const valAccuracy = accuracy(
        result.valPredictions,
        valRows.map((i) => labels[i]!),
      )
      const history = result.history.map((h) => ({ epoch: h.epoch, trainLoss: h.trainLoss, valLoss: h.valLoss }))
      yield* ctx.metrics({
        val_loss: result.bestValLoss,
        val_accuracy: valAccuracy,
        first_train_loss: history[0]?.trainLoss ?? Number.NaN,
        last_train_loss: history[history.length - 1]?.trainLoss ?? Number.NaN,
      })
      return {
        checkpoint: path.basename(result.checkpoint),
        bestEpoch: result.bestEpoch,
        bestValLoss: result.bestValLoss,
        valAccuracy,
        history,
        engine: trainer.identity,
      }
    }).pipe(Effect.provide(toyEngine(ctx.params.backend))),
})
