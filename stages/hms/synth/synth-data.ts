import { Effect, Schema } from "effect"
import { defineStage } from "cairn"
import { writeSynthDataset } from "./files.js"

/** A deterministic synthetic dataset in the competition's exact layout (the default of `npm start`). */
export const synthData = defineStage({
  name: "synth-data",
  description: "synthetic HMS dataset: train.csv, train_spectrograms/, test.csv, test_spectrograms/, sample_submission.csv",
  params: Schema.Struct({
    spectrograms: Schema.Int.pipe(Schema.positive()),
    test_spectrograms: Schema.Int.pipe(Schema.positive()),
    synth_seed: Schema.Int.pipe(Schema.nonNegative()),
  }),
  run: (ctx) =>
    Effect.gen(function* () {
      const summary = yield* writeSynthDataset(ctx.outDir, {
        trainSpectrograms: ctx.params.spectrograms,
        testSpectrograms: ctx.params.test_spectrograms,
        seed: ctx.params.synth_seed,
      })
      yield* ctx.metrics({ synth_train_rows: summary.trainRows })
      return { trainRows: summary.trainRows, trainSpectrograms: summary.trainSpectrograms, testSpectrograms: summary.testSpectrograms }
    }),
})
