/** The HMS report's input record, its files, and the record's validation. */
import { Either } from "effect"
import { type ChartInputInvalid, type ChartRenderFailed, type DagInvalid, ReportDataInvalid, STAGE_STATUSES } from "cairn/report"
import { distinctFolds, shortClassName } from "./report-format.js"

export type HmsStageStatus = "ran" | "cached" | "failed" | "skipped"

export interface HmsReportData {
  readonly pipeline: string
  readonly startedAt: string // ISO
  readonly seconds: number // wall time of the run
  readonly params: Readonly<Record<string, unknown>> // pipeline-level params of the run
  readonly stages: ReadonlyArray<{
    readonly id: string
    readonly status: HmsStageStatus
    readonly seconds: number // this run's time for it
    readonly computed?: { readonly at: string; readonly seconds: number } // when its stored result was computed, and how long that took
  }>
  readonly replayed?: boolean // rendered for the no-op fast path's replays: nothing ran
  readonly edges: ReadonlyArray<readonly [string, string]>
  readonly classes: ReadonlyArray<string> // e.g. ["seizure_vote", ..., "other_vote"]
  readonly folds: ReadonlyArray<{
    readonly fold: number
    readonly seed?: number // with a seed spread: one entry per fold and seed
    readonly bestEpoch: number
    readonly bestValLoss: number
    readonly history: ReadonlyArray<{ readonly epoch: number; readonly trainLoss: number; readonly valLoss: number }>
  }>
  readonly confusion: ReadonlyArray<ReadonlyArray<number>> // [true class][predicted class] counts by argmax of OOF
  readonly perClassKl: Readonly<Record<string, number>> // class → mean contribution to the KL
  readonly cvScore: number // OOF KL (competition metric)
  readonly priorBaseline: number // KL of predicting the training folds' mean votes
  readonly foldScores: ReadonlyArray<number> // per-fold OOF KL (of the seed-averaged ensemble), by distinct fold in order
  readonly seedScores?: ReadonlyArray<{ readonly seed: number; readonly cvScore: number }> // CV per seed, with a seed spread
}

/** The files a report consists of, relative to its folder, in the order they are written. */
export const HMS_REPORT_FILES = {
  page: "report.html",
  dag: "charts/dag.svg",
  lossCurves: "charts/loss-curves.svg",
  confusion: "charts/confusion.svg",
  perClassKl: "charts/per-class-kl.svg",
  cvVsBaseline: "charts/cv-vs-baseline.svg",
  stageTimes: "charts/stage-times.svg",
  seedSpread: "charts/seed-spread.svg",
} as const

export type ChartKey = Exclude<keyof typeof HMS_REPORT_FILES, "page">

export interface BuiltHmsReport {
  readonly html: string
  /** Chart SVGs keyed by their path relative to the report folder, in page order. */
  readonly charts: ReadonlyArray<{ readonly file: string; readonly svg: string }>
}

export type HmsReportError = ReportDataInvalid | ChartInputInvalid | ChartRenderFailed | DagInvalid

const REPORT = "HMS"

const invalid = (field: string, reason: string) => Either.left(new ReportDataInvalid({ report: REPORT, field, reason }))

const finiteAt = (field: string, v: number, min?: number): Either.Either<void, ReportDataInvalid> => {
  if (!Number.isFinite(v)) return invalid(field, `${String(v)} is not a finite number`)
  if (min !== undefined && v < min) return invalid(field, `${v} is below ${min}`)
  return Either.right(undefined)
}

/** Checks that the record is consistent: shapes agree with `classes` and `folds`, numbers are finite. */
export const validateHmsReportData = (data: HmsReportData): Either.Either<void, ReportDataInvalid> =>
  Either.gen(function* () {
    if (Number.isNaN(Date.parse(data.startedAt))) return yield* invalid("startedAt", `${JSON.stringify(data.startedAt)} is not an ISO date`)
    yield* finiteAt("seconds", data.seconds, 0)
    if (data.stages.length === 0) return yield* invalid("stages", "is empty")
    for (const [i, s] of data.stages.entries()) {
      yield* finiteAt(`stages[${i}].seconds`, s.seconds, 0)
      if (!STAGE_STATUSES.includes(s.status))
        return yield* invalid(`stages[${i}].status`, `${JSON.stringify(s.status)} is not one of ${STAGE_STATUSES.join(", ")}`)
    }
    const n = data.classes.length
    if (n === 0) return yield* invalid("classes", "is empty")
    const shortNames = data.classes.map(shortClassName)
    for (const [i, c] of shortNames.entries()) {
      const j = shortNames.indexOf(c)
      if (j !== i) return yield* invalid(`classes[${i}]`, `"${data.classes[i]}" has the same short name "${c}" as classes[${j}]`)
    }
    if (data.folds.length === 0) return yield* invalid("folds", "is empty")
    const foldIds = new Set<string>()
    for (const [i, f] of data.folds.entries()) {
      if (!Number.isInteger(f.fold)) return yield* invalid(`folds[${i}].fold`, `${f.fold} is not an integer`)
      const id = `${f.fold}/${f.seed ?? ""}`
      if (foldIds.has(id)) return yield* invalid(`folds[${i}].fold`, `fold ${f.fold}${f.seed === undefined ? "" : ` seed ${f.seed}`} appears twice`)
      foldIds.add(id)
      yield* finiteAt(`folds[${i}].bestValLoss`, f.bestValLoss)
      // A fold model given with --param checkpoints was not trained: no history, best epoch 0.
      if (f.history.length === 0 && f.bestEpoch !== 0) return yield* invalid(`folds[${i}].history`, `is empty but bestEpoch is ${f.bestEpoch}`)
      for (const [e, h] of f.history.entries()) {
        yield* finiteAt(`folds[${i}].history[${e}].epoch`, h.epoch)
        yield* finiteAt(`folds[${i}].history[${e}].trainLoss`, h.trainLoss)
        yield* finiteAt(`folds[${i}].history[${e}].valLoss`, h.valLoss)
      }
      if (f.history.length > 0 && !f.history.some((h) => h.epoch === f.bestEpoch)) {
        return yield* invalid(`folds[${i}].bestEpoch`, `epoch ${f.bestEpoch} is not in the history (epochs ${f.history.map((h) => h.epoch).join(", ")})`)
      }
    }
    if (data.confusion.length !== n) return yield* invalid("confusion", `has ${data.confusion.length} rows for ${n} classes`)
    for (const [i, row] of data.confusion.entries()) {
      if (row.length !== n) return yield* invalid(`confusion[${i}]`, `has ${row.length} columns for ${n} classes`)
      for (const [j, v] of row.entries()) {
        if (!Number.isInteger(v) || v < 0) return yield* invalid(`confusion[${i}][${j}]`, `${v} is not a count (a non-negative integer)`)
      }
    }
    for (const c of data.classes) {
      const v = data.perClassKl[c]
      if (v === undefined) return yield* invalid(`perClassKl["${c}"]`, "is missing")
      yield* finiteAt(`perClassKl["${c}"]`, v)
    }
    for (const k of Object.keys(data.perClassKl)) {
      if (!data.classes.includes(k)) return yield* invalid(`perClassKl["${k}"]`, `"${k}" is not one of the classes (${data.classes.join(", ")})`)
    }
    yield* finiteAt("cvScore", data.cvScore)
    yield* finiteAt("priorBaseline", data.priorBaseline)
    if (data.priorBaseline <= 0) return yield* invalid("priorBaseline", `${data.priorBaseline} is not positive, so CV / baseline has no meaning`)
    const folds = distinctFolds(data)
    if (data.foldScores.length !== folds.length) return yield* invalid("foldScores", `has ${data.foldScores.length} scores for ${folds.length} folds`)
    for (const [i, s] of (data.seedScores ?? []).entries()) yield* finiteAt(`seedScores[${i}].cvScore`, s.cvScore)
    for (const [i, s] of data.foldScores.entries()) yield* finiteAt(`foldScores[${i}]`, s)
  })
