import * as path from "node:path"
import { Effect, Schema } from "effect"
import { defineStage } from "cairn"
import { engineIdentity, Predictor, TFJS_ENGINE_INPUTS } from "cairn/ml"
import { allRows, BackendParam, readLabels, splitDataset, toyEngine, toyModel } from "./engine.js"
import { accuracy, TOY_CLASSES } from "./patterns.js"
import { toyData } from "./toy-data.js"
import { toyTrain } from "./toy-train.js"

/** The trained model's accuracy on the held-out test images, through the predictor service. */
export const toyEval = defineStage({
  name: "toy-eval",
  description: "test accuracy of the toy model",
  params: Schema.Struct({ width: Schema.Number.pipe(Schema.positive()), backend: BackendParam }),
  inputs: { model: toyTrain, data: toyData },
  engine: (p) => engineIdentity(toyEngine(p.backend)),
  engineInputs: TFJS_ENGINE_INPUTS,
  run: (ctx) =>
    Effect.gen(function* () {
      const predictor = yield* Predictor
      const dir = ctx.inputs.data.dir
      const labels = yield* readLabels(dir, "test")
      const test = splitDataset(dir, "test", labels, allRows(labels.length))
      const checkpoint = path.join(ctx.inputs.model.dir, ctx.inputs.model.value.checkpoint)
      const predicted = yield* predictor.predict({ ...toyModel(ctx.params.width), batchSize: 32 }, [checkpoint], test.windows)
      const testAccuracy = accuracy(predicted.mean, labels)
      yield* ctx.metrics({ test_accuracy: testAccuracy })
      return { testAccuracy, chance: 1 / TOY_CLASSES.length, rows: labels.length }
    }).pipe(Effect.provide(toyEngine(ctx.params.backend))),
})
