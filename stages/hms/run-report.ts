/**
 * The afterRun hook of the HMS pipelines: every run (a replay of an all-cached run too) writes
 * report.html and its charts, from the run's statuses and the train and score-oof artifacts.
 */
import { Effect } from "effect"
import type { AfterRun, RunInfo } from "../../src/index.js"
import { type HmsReportData, writeHmsReportEffect } from "./report.js"

interface FoldValue {
  readonly fold: number
  readonly bestEpoch: number
  readonly bestValLoss: number
  readonly history: ReadonlyArray<{ readonly epoch: number; readonly trainLoss: number; readonly valLoss: number }>
}

interface ScoreValue {
  readonly cvScore: number
  readonly priorBaseline: number
  readonly foldScores: ReadonlyArray<number>
  readonly perClassKl: Readonly<Record<string, number>>
  readonly confusion: ReadonlyArray<ReadonlyArray<number>>
  readonly classes: ReadonlyArray<string>
}

/** The report's data from a run of a pipeline with `train/fold-k` and `score-oof` stages. */
export const hmsReportData = (run: RunInfo): HmsReportData => {
  const score = run.artifacts.get("score-oof")?.value as ScoreValue | undefined
  if (!score) throw new Error("the run has no score-oof result")
  const folds = [...run.artifacts.entries()]
    .filter(([id]) => id.startsWith("train/"))
    .map(([, a]) => a.value as FoldValue)
    .sort((a, b) => a.fold - b.fold)
    .map((f) => ({ fold: f.fold, bestEpoch: f.bestEpoch, bestValLoss: f.bestValLoss, history: f.history }))
  return {
    pipeline: run.pipeline,
    startedAt: run.startedAt,
    seconds: run.seconds,
    params: run.params,
    stages: run.stages,
    edges: run.edges,
    classes: score.classes,
    folds,
    confusion: score.confusion,
    perClassKl: score.perClassKl,
    cvScore: score.cvScore,
    priorBaseline: score.priorBaseline,
    foldScores: score.foldScores,
  }
}

/** What `cairn run` prints of an HMS run: the CV, the prior baseline, their ratio, per-fold scores. */
export const HMS_HEADLINE_METRICS: ReadonlyArray<string | RegExp> = ["cv_score", "prior_baseline", "cv_over_baseline", /^fold\d+_score$/]

/** `afterRun` for an HMS pipeline: the report goes to `outDir` (relative to the project). */
export const hmsReport = (outDir: string): AfterRun => ({
  outDir,
  write: (run) => Effect.flatMap(Effect.try(() => hmsReportData(run)), (data) => writeHmsReportEffect(data, run.outDir)),
})
