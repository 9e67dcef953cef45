import { Effect, Schema } from "effect"
import { DuckDbLive } from "cairn/data"
import { defineStage } from "cairn"
import { readTestFolder } from "./test-folder.js"
import { testset } from "./testset.js"

/**
 * The test folder `infer` will read (test.csv, sample_submission.csv, one spectrogram per test
 * row), checked before any fold trains: every training fold takes this stage as an input, so a
 * test.csv naming a missing spectrogram fails here in seconds rather than in `infer` after hours.
 *
 * Its result is empty on purpose: it enters every fold's key, and a result that told anything of
 * the test folder would retrain the folds whenever test.csv changed. Only its success matters.
 */
export const checkTestset = defineStage({
  name: "check-testset",
  description: "the test folder readable (test.csv, sample_submission.csv, every spectrogram) before training",
  params: Schema.Struct({}),
  inputs: { data: testset },
  layer: DuckDbLive,
  run: (ctx) =>
    Effect.gen(function* () {
      const folder = yield* readTestFolder(ctx.inputs.data.dir)
      yield* ctx.log(`${folder.test.rows} test rows, ${folder.submissionRows.length} submission rows, every spectrogram present`)
      return {}
    }),
})
