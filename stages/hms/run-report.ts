/**
 * The afterRun hook of the HMS pipelines: every run (a replay of an all-cached run too) writes
 * report.html and its charts, from the run's statuses and the train and score-oof artifacts.
 *
 * The artifacts are found by their stage (every instance of `train`, the `score-oof` instance) and
 * their values decoded against what the report reads: a run's artifacts are untyped JSON (a replay
 * reads them from the store), and the compile-time checks below keep the stages' return types and
 * these schemas in step.
 */
import { Effect, Either, ParseResult, Schema } from "effect"
import type { AfterRun, Artifact, RunInfo, Stage } from "cairn"
import { ReportDataInvalid } from "cairn/report"
import { scoreOof } from "./score-oof.js"
import { train } from "./train.js"
import { type HmsReportData, writeHmsReportEffect } from "./report/index.js"

/** What the report reads of a `train` artifact. */
const FoldValue = Schema.Struct({
  fold: Schema.Number,
  seed: Schema.Number,
  bestEpoch: Schema.Number,
  bestValLoss: Schema.Number,
  history: Schema.Array(Schema.Struct({ epoch: Schema.Number, trainLoss: Schema.Number, valLoss: Schema.Number })),
})

/** What the report reads of the `score-oof` artifact. */
const ScoreValue = Schema.Struct({
  cvScore: Schema.Number,
  priorBaseline: Schema.Number,
  foldScores: Schema.Array(Schema.Number),
  perClassKl: Schema.Record({ key: Schema.String, value: Schema.Number }),
  confusion: Schema.Array(Schema.Array(Schema.Number)),
  classes: Schema.Array(Schema.String),
  seeds: Schema.Array(Schema.Number),
  seedScores: Schema.Array(Schema.Number),
})

/** The value type a stage returns. */
type ValueOf<S> = S extends Stage<string, any, any, infer V> ? V : never
/** Compiles only when `A` is assignable to `B`. */
type Fits<A extends B, B> = A
/** The stages return (at least) what the report reads. */
export type StageValuesFitReport = [Fits<ValueOf<typeof train>, typeof FoldValue.Type>, Fits<ValueOf<typeof scoreOof>, typeof ScoreValue.Type>]

const REPORT = "HMS"

const decode =
  <A, I>(schema: Schema.Schema<A, I>) =>
  (artifact: Artifact<unknown>): Either.Either<A, ReportDataInvalid> =>
    Either.mapLeft(
      Schema.decodeUnknownEither(schema)(artifact.value),
      (error) => new ReportDataInvalid({ report: REPORT, field: `${artifact.id} value`, reason: ParseResult.TreeFormatter.formatErrorSync(error) }),
    )

/** The report's data from a run of a pipeline with `train` (fanned out per fold) and `score-oof` stages. */
export const hmsReportData = (run: RunInfo): Either.Either<HmsReportData, ReportDataInvalid> =>
  Either.gen(function* () {
    const [scoreArtifact] = run.artifactsOf(scoreOof)
    if (scoreArtifact === undefined)
      return yield* Either.left(new ReportDataInvalid({ report: REPORT, field: scoreOof.name, reason: "the run has no result of it" }))
    const score = yield* decode(ScoreValue)(scoreArtifact)
    const folds = yield* Either.all(run.artifactsOf(train).map(decode(FoldValue)))
    return {
      pipeline: run.pipeline,
      startedAt: run.startedAt,
      seconds: run.seconds,
      params: run.params,
      stages: run.stages,
      edges: run.edges,
      classes: score.classes,
      folds: [...folds]
        .sort((a, b) => a.fold - b.fold || a.seed - b.seed)
        .map((f) => ({ fold: f.fold, seed: f.seed, bestEpoch: f.bestEpoch, bestValLoss: f.bestValLoss, history: f.history })),
      confusion: score.confusion,
      perClassKl: score.perClassKl,
      cvScore: score.cvScore,
      priorBaseline: score.priorBaseline,
      foldScores: score.foldScores,
      ...(score.seeds.length > 1 ? { seedScores: score.seeds.map((seed, i) => ({ seed, cvScore: score.seedScores[i]! })) } : {}),
      ...(run.replayed ? { replayed: true } : {}),
    }
  })

/** What `cairn run` prints of an HMS run: the CV, the prior baseline, their ratio, per-fold scores. */
export const HMS_HEADLINE_METRICS: ReadonlyArray<string | RegExp> = [
  "cv_score",
  "prior_baseline",
  "cv_over_baseline",
  /^fold\d+_score$/,
  /^cv_score\[seed-\d+\]$/,
  "cv_seed_mean",
  "cv_seed_sd",
]

/** `afterRun` for an HMS pipeline: the report goes to `outDir` (relative to the project). */
export const hmsReport = (outDir: string): AfterRun => ({
  outDir,
  write: (run) => Effect.flatMap(hmsReportData(run), (data) => writeHmsReportEffect(data, run.outDir)),
})
