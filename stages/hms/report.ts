/**
 * The HMS run report: `report.html` plus one SVG per chart under `charts/`, built from a plain data
 * record (the run's stages and timings, per-fold training histories, OOF metrics).
 *
 * The page's sections, in order: summary, DAG, loss curves, confusion matrix, per-class KL, CV vs
 * baseline, run time per stage, params. Every chart is also inlined in the page, so `report.html`
 * alone is the whole report. Same data, same bytes.
 */
import { mkdir, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { Effect, Either } from "effect"
import { FileError } from "../../src/core/errors.js"
import { spread } from "../../src/data/stats.js"
import { barChart, heatmap, horizontalBarChart, lineChart } from "../../src/report/charts.js"
import { dagSvg } from "../../src/report/dag.js"
import { type ChartInputInvalid, type ChartRenderFailed, type DagInvalid, describeCause, ReportDataInvalid } from "../../src/report/errors.js"
import { type Content, figure, html, htmlPage, htmlTable, keyValueTable, paragraph } from "../../src/report/html.js"
import { SERIES_PALETTE, STAGE_STATUSES, STATUS_STYLES } from "../../src/report/theme.js"
import { renderVegaLiteEffect, type VegaLiteSpec } from "../../src/report/vega.js"
import { CONSENSUS_LABELS, VOTE_COLUMNS } from "./constants.js"

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

type ChartKey = Exclude<keyof typeof HMS_REPORT_FILES, "page">

export interface BuiltHmsReport {
  readonly html: string
  /** Chart SVGs keyed by their path relative to the report folder, in page order. */
  readonly charts: ReadonlyArray<{ readonly file: string; readonly svg: string }>
}

export type HmsReportError = ReportDataInvalid | ChartInputInvalid | ChartRenderFailed | DagInvalid

const REPORT = "HMS"
/** Series and style names of the loss chart. */
const TRAIN_STYLE = "train"
const VALIDATION_STYLE = "validation"
const BEST_EPOCH = "best epoch"
const OVERALL_BAR = "CV (all OOF)"
const FOLD_CATEGORY = "fold"
const OVERALL_CATEGORY = "overall"
/** Decimals of KL values and losses in text, of seconds in text. */
const KL_DECIMALS = 4
const KL_FORMAT = `.${KL_DECIMALS}f`
const RATIO_DECIMALS = 3
const SECONDS_DECIMALS = 2
const SECONDS_FORMAT = `.${SECONDS_DECIMALS}f`
const PERCENT = 100
const SECONDS_PER_MINUTE = 60
const SECONDS_PER_HOUR = 3600

// ---------------------------------------------------------------------------------------------
// Formatting (locale-free, so the page is the same on every machine)

const kl = (v: number): string => v.toFixed(KL_DECIMALS)
const foldName = (fold: number): string => `fold ${fold}`
/** A fold model's name: `fold 3`, or `fold 3 seed 1` with a seed spread. */
const modelName = (f: { readonly fold: number; readonly seed?: number }, data: HmsReportData): string =>
  spreadSeeds(data).length > 1 && f.seed !== undefined ? `${foldName(f.fold)} seed ${f.seed}` : foldName(f.fold)
/** The seeds of a seed spread (empty without one). */
const spreadSeeds = (data: HmsReportData): ReadonlyArray<number> => (data.seedScores ?? []).map((s) => s.seed)
/** The distinct folds, in order. */
const distinctFolds = (data: HmsReportData): Array<number> => [...new Set(data.folds.map((f) => f.fold))].sort((a, b) => a - b)

/** `12.34 s`, `4 min 05 s`, `1 h 02 min 03 s`. */
export const formatDuration = (seconds: number): string => {
  if (seconds < SECONDS_PER_MINUTE) return `${seconds.toFixed(SECONDS_DECIMALS)} s`
  const total = Math.round(seconds)
  const h = Math.floor(total / SECONDS_PER_HOUR)
  const m = Math.floor((total % SECONDS_PER_HOUR) / SECONDS_PER_MINUTE)
  const s = total % SECONDS_PER_MINUTE
  const mm = String(m).padStart(2, "0")
  const ss = String(s).padStart(2, "0")
  return h > 0 ? `${h} h ${mm} min ${ss} s` : `${m} min ${ss} s`
}

/** `2025-01-02T03:04:05.678Z` → `2025-01-02 03:04:05 UTC`. */
const formatInstant = (iso: string): string => {
  const d = new Date(iso).toISOString()
  return `${d.slice(0, 10)} ${d.slice(11, 19)} UTC`
}

/** The vote column's consensus label (`seizure_vote` → `Seizure`), else the name without `_vote`. */
export const shortClassName = (name: string): string => {
  const i = (VOTE_COLUMNS as ReadonlyArray<string>).indexOf(name)
  return i >= 0 ? CONSENSUS_LABELS[i]! : name.replace(/_vote$/, "")
}

/** A param value as one line of JSON with sorted keys (non-JSON values written as JS would). */
export const formatParam = (value: unknown): string => {
  const seen = new Set<unknown>()
  const walk = (v: unknown): string => {
    if (v === undefined) return "undefined"
    if (v === null || typeof v === "boolean" || typeof v === "string") return JSON.stringify(v)
    if (typeof v === "number") return Number.isFinite(v) ? JSON.stringify(v) : String(v)
    if (typeof v === "bigint") return `${v}n`
    if (typeof v === "function") return `<function ${v.name || "anonymous"}>`
    if (typeof v === "symbol") return v.toString()
    if (seen.has(v)) return "<circular>"
    seen.add(v)
    const out = Array.isArray(v)
      ? `[${v.map(walk).join(", ")}]`
      : `{${Object.keys(v as object)
          .sort()
          .map((k) => `${JSON.stringify(k)}: ${walk((v as Record<string, unknown>)[k])}`)
          .join(", ")}}`
    seen.delete(v)
    return out
  }
  return walk(value)
}

// ---------------------------------------------------------------------------------------------
// Validation

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
      if (!STAGE_STATUSES.includes(s.status)) return yield* invalid(`stages[${i}].status`, `${JSON.stringify(s.status)} is not one of ${STAGE_STATUSES.join(", ")}`)
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

// ---------------------------------------------------------------------------------------------
// Charts

const lossSpec = (data: HmsReportData) => {
  const trained = data.folds.filter((f) => f.history.length > 0)
  if (trained.length === 0) {
    return barChart({
      title: "Validation KL of the given fold models",
      subtitle: "no fold was trained in this run (--param checkpoints): their validation KL",
      yTitle: "validation KL divergence",
      bars: data.folds.map((f) => ({ label: modelName(f, data), value: f.bestValLoss })),
      valueLabels: true,
    })
  }
  return lineChart({
    title: "Loss curves",
    subtitle: `KL-divergence loss per epoch; solid: ${TRAIN_STYLE}, dashed: ${VALIDATION_STYLE}, ◆: ${BEST_EPOCH}`,
    xTitle: "epoch",
    yTitle: "loss (KL divergence)",
    points: data.folds.flatMap((f) =>
      f.history.flatMap((h) => [
        { x: h.epoch, y: h.trainLoss, series: modelName(f, data), style: TRAIN_STYLE },
        { x: h.epoch, y: h.valLoss, series: modelName(f, data), style: VALIDATION_STYLE },
      ]),
    ),
    seriesOrder: trained.map((f) => modelName(f, data)),
    styles: [TRAIN_STYLE, VALIDATION_STYLE],
    highlights: trained.map((f) => ({ x: f.bestEpoch, y: f.history.find((h) => h.epoch === f.bestEpoch)!.valLoss, series: modelName(f, data) })),
    highlightTitle: BEST_EPOCH,
    integerX: true,
  })
}

const confusionTotals = (data: HmsReportData) => {
  const total = data.confusion.reduce((s, row) => s + row.reduce((a, b) => a + b, 0), 0)
  const correct = data.confusion.reduce((s, row, i) => s + (row[i] ?? 0), 0)
  return { total, correct }
}

const confusionSpec = (data: HmsReportData) => {
  const names = data.classes.map(shortClassName)
  const { total, correct } = confusionTotals(data)
  const accuracy = total === 0 ? "n/a" : `${((PERCENT * correct) / total).toFixed(1)}%`
  return heatmap({
    title: "OOF confusion matrix",
    subtitle: `argmax of the expert votes vs argmax of the OOF prediction; ${total} rows, ${accuracy} on the diagonal`,
    rowLabels: names,
    colLabels: names,
    values: data.confusion,
    rowTitle: "true class",
    colTitle: "predicted class",
  })
}

const klSum = (data: HmsReportData): number => data.classes.reduce((s, c) => s + (data.perClassKl[c] ?? 0), 0)

const perClassSpec = (data: HmsReportData) =>
  barChart({
    title: "KL per class",
    subtitle: `mean contribution of each class to the OOF KL; sum ${kl(klSum(data))}, CV ${kl(data.cvScore)}`,
    yTitle: "mean KL contribution",
    bars: data.classes.map((c) => ({ label: shortClassName(c), value: data.perClassKl[c]! })),
    format: KL_FORMAT,
  })

const ratio = (data: HmsReportData): number => data.cvScore / data.priorBaseline

const cvSpec = (data: HmsReportData) =>
  horizontalBarChart({
    title: "CV vs prior baseline",
    subtitle: `CV / baseline = ${kl(data.cvScore)} / ${kl(data.priorBaseline)} = ${ratio(data).toFixed(RATIO_DECIMALS)} (lower is better)`,
    xTitle: "KL divergence (OOF)",
    bars: [
      ...distinctFolds(data).map((fold, i) => ({ label: foldName(fold), value: data.foldScores[i]!, category: FOLD_CATEGORY })),
      { label: OVERALL_BAR, value: data.cvScore, category: OVERALL_CATEGORY },
    ],
    categories: { domain: [FOLD_CATEGORY, OVERALL_CATEGORY], colors: [SERIES_PALETTE[0]!, SERIES_PALETTE[1]!] },
    rule: { value: data.priorBaseline, label: `prior baseline ${kl(data.priorBaseline)}` },
    format: KL_FORMAT,
  })

/** With a seed spread: each fold's best validation KL per seed, and the CV per seed, side by side. */
const seedSpreadSpec = (data: HmsReportData) => {
  const seeds = spreadSeeds(data)
  const cvs = data.seedScores ?? []
  const { sd } = spread(cvs.map((s) => s.cvScore))
  return barChart({
    title: "Seed spread",
    subtitle: `best validation KL per fold and OOF CV, one bar per seed; CV sd over ${seeds.length} seeds ${kl(sd)}, ensemble CV ${kl(data.cvScore)}`,
    yTitle: "KL divergence",
    bars: [
      ...data.folds.map((f) => ({ label: foldName(f.fold), value: f.bestValLoss, group: `seed ${f.seed}` })),
      ...cvs.map((s) => ({ label: "CV", value: s.cvScore, group: `seed ${s.seed}` })),
    ],
    groups: { title: "seed", domain: seeds.map((x) => `seed ${x}`) },
    format: KL_FORMAT,
    valueLabels: false,
  })
}

const stageTimesSpec = (data: HmsReportData) => {
  const total = data.stages.reduce((s, x) => s + x.seconds, 0)
  return horizontalBarChart({
    title: "Run time per stage",
    subtitle: `sum of stage times ${formatDuration(total)}; wall time ${formatDuration(data.seconds)}`,
    xTitle: "seconds",
    bars: data.stages.map((s) => ({ label: s.id, value: s.seconds, category: s.status })),
    categories: { title: "status", domain: STAGE_STATUSES, colors: STAGE_STATUSES.map((s) => STATUS_STYLES[s].stroke) },
    format: SECONDS_FORMAT,
  })
}

// ---------------------------------------------------------------------------------------------
// Page

const statusCounts = (data: HmsReportData): string =>
  STAGE_STATUSES.map((st) => `${data.stages.filter((s) => s.status === st).length} ${st}`).join(", ")

const summary = (data: HmsReportData): Content => {
  const r = ratio(data)
  const folds = distinctFolds(data)
  const change = r <= 1 ? `${(PERCENT * (1 - r)).toFixed(1)}% below the baseline` : `${(PERCENT * (r - 1)).toFixed(1)}% above the baseline`
  return [
    keyValueTable([
      ["CV (OOF KL divergence)", html`<span class="big">${kl(data.cvScore)}</span>`],
      ["Prior baseline", html`${kl(data.priorBaseline)} <span class="muted">(KL of predicting the training folds' mean votes)</span>`],
      ["CV / baseline", html`${r.toFixed(RATIO_DECIMALS)} <span class="muted">(${change})</span>`],
      ["Per-fold OOF KL", data.foldScores.map((s) => kl(s)).join(", ")],
      ["Wall time", formatDuration(data.seconds)],
      ["Started", formatInstant(data.startedAt)],
      ["Pipeline", html`<code>${data.pipeline}</code>`],
      ["Stages", data.replayed ? "replayed: nothing ran" : statusCounts(data)],
    ]),
    htmlTable(
      data.folds.map((f) => [modelName(f, data), String(f.bestEpoch), kl(f.bestValLoss), kl(data.foldScores[folds.indexOf(f.fold)]!), String(f.history.length)]),
      ["fold", "best epoch", "best val loss", "OOF KL", "epochs"],
      { caption: spreadSeeds(data).length > 1 ? "Per fold and seed (OOF KL: the seeds' ensemble)" : "Per fold", numericColumns: [1, 2, 3, 4] },
    ),
    ...(spreadSeeds(data).length > 1
      ? [htmlTable((data.seedScores ?? []).map((s) => [String(s.seed), kl(s.cvScore)]), ["seed", "CV"], { caption: "CV per seed", numericColumns: [0, 1] })]
      : []),
  ]
}

/** What this run did (a replay: nothing), and for each stored result when it was computed. */
const runNote = (data: HmsReportData): string =>
  data.replayed
    ? "This run was replayed from its stamp: nothing ran and nothing was read; every result below is the one computed when shown."
    : `This run: ${statusCounts(data)}. A cached stage's result was computed by an earlier run, at the time shown.`

const stagesTable = (data: HmsReportData): Content =>
  htmlTable(
    data.stages.map((s) => [
      html`<code>${s.id}</code>`,
      data.replayed ? "replayed" : s.status,
      data.replayed ? "-" : formatDuration(s.seconds),
      s.computed ? formatInstant(s.computed.at) : "-",
      s.computed ? formatDuration(s.computed.seconds) : "-",
    ]),
    ["stage", "this run", "time in this run", "result computed", "took then"],
    { caption: runNote(data), numericColumns: [2, 4] },
  )

const paramsTable = (params: Readonly<Record<string, unknown>>): Content => {
  const keys = Object.keys(params).sort()
  if (keys.length === 0) return paragraph("This run has no pipeline-level params.", "muted")
  return htmlTable(
    keys.map((k) => [html`<code>${k}</code>`, html`<code>${formatParam(params[k])}</code>`]),
    ["param", "value"],
  )
}

const render = (spec: Either.Either<VegaLiteSpec, ChartInputInvalid>) =>
  Effect.flatMap(spec, (s) => renderVegaLiteEffect(s))

/** Builds the page and the chart SVGs in memory (no I/O). */
export const buildHmsReport = (data: HmsReportData): Effect.Effect<BuiltHmsReport, HmsReportError> =>
  Effect.gen(function* () {
    yield* validateHmsReportData(data)
    const dag = yield* dagSvg({
      title: `${data.pipeline} DAG`,
      nodes: data.stages.map((s) => ({ id: s.id, status: s.status, detail: formatDuration(s.seconds) })),
      edges: data.edges,
    })
    const svgs: Record<ChartKey, string> = {
      dag,
      lossCurves: yield* render(lossSpec(data)),
      confusion: yield* render(confusionSpec(data)),
      perClassKl: yield* render(perClassSpec(data)),
      cvVsBaseline: yield* render(cvSpec(data)),
      stageTimes: yield* render(stageTimesSpec(data)),
      seedSpread: spreadSeeds(data).length > 1 ? yield* render(seedSpreadSpec(data)) : "",
    }
    const fig = (key: ChartKey, caption?: Content) => figure(svgs[key], { href: HMS_REPORT_FILES[key], ...(caption === undefined ? {} : { caption }) })
    const page = htmlPage({
      title: `${data.pipeline}: run report`,
      subtitle: `${data.replayed ? "replayed (nothing ran)" : `started ${formatInstant(data.startedAt)} · wall time ${formatDuration(data.seconds)}`} · CV ${kl(data.cvScore)} vs prior baseline ${kl(data.priorBaseline)}`,
      sections: [
        { heading: "Summary", id: "summary", body: summary(data) },
        { heading: "DAG", id: "dag", body: fig("dag", `Stages by dependency depth, coloured by how they ended in this run: ${data.replayed ? "replayed, nothing ran" : statusCounts(data)}.`) },
        { heading: "Loss curves", id: "loss-curves", body: fig("lossCurves") },
        { heading: "Confusion matrix", id: "confusion", body: fig("confusion") },
        { heading: "Per-class KL", id: "per-class-kl", body: fig("perClassKl") },
        { heading: "CV vs baseline", id: "cv-vs-baseline", body: fig("cvVsBaseline") },
        ...(spreadSeeds(data).length > 1 ? [{ heading: "Seed spread", id: "seed-spread", body: fig("seedSpread") }] : []),
        { heading: "Run time per stage", id: "stage-times", body: [fig("stageTimes"), stagesTable(data)] },
        { heading: "Params", id: "params", body: paramsTable(data.params) },
      ],
      footer: `Generated by cairn from the run's record; the charts are also in ${HMS_REPORT_FILES.dag.split("/")[0]}/.`,
    })
    const keys: ReadonlyArray<ChartKey> = ["dag", "lossCurves", "confusion", "perClassKl", "cvVsBaseline", ...(spreadSeeds(data).length > 1 ? (["seedSpread"] as const) : []), "stageTimes"]
    return { html: page, charts: keys.map((k) => ({ file: HMS_REPORT_FILES[k], svg: svgs[k] })) }
  })

const writeText = (file: string, text: string): Effect.Effect<void, FileError> =>
  Effect.tryPromise({
    try: async () => {
      await mkdir(dirname(file), { recursive: true })
      await writeFile(file, text)
    },
    catch: (cause) => new FileError({ file, operation: "write", detail: describeCause(cause) }),
  })

/** Builds the report and writes it into `outDir`; returns the written files (page first, then charts). */
export const writeHmsReportEffect = (data: HmsReportData, outDir: string): Effect.Effect<ReadonlyArray<string>, HmsReportError | FileError> =>
  Effect.gen(function* () {
    const built = yield* buildHmsReport(data)
    const written: Array<string> = []
    for (const c of built.charts) {
      const file = join(outDir, c.file)
      yield* writeText(file, c.svg)
      written.push(file)
    }
    // The page last, so a report.html on disk means its charts are there too.
    const page = join(outDir, HMS_REPORT_FILES.page)
    yield* writeText(page, built.html)
    return [page, ...written]
  })

/** `writeHmsReportEffect` as a promise: rejects with the tagged error itself. */
export const writeHmsReport = (data: HmsReportData, outDir: string): Promise<ReadonlyArray<string>> =>
  Effect.runPromise(Effect.either(writeHmsReportEffect(data, outDir))).then((result) => {
    if (Either.isLeft(result)) throw result.left
    return result.right
  })
