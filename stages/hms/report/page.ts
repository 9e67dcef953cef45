/** The report's page (summary, tables, figures) built in memory, and its files written. */
import { mkdir, writeFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { Effect, Either } from "effect"
import { describeError, FileError } from "cairn"
import {
  type ChartInputInvalid,
  type Content,
  dagSvg,
  figure,
  html,
  htmlPage,
  htmlTable,
  keyValueTable,
  paragraph,
  renderVegaLiteEffect,
  STAGE_STATUSES,
  type VegaLiteSpec,
} from "cairn/report"
import { confusionSpec, cvSpec, lossSpec, perClassSpec, ratio, seedSpreadSpec, stageTimesSpec } from "./chart-specs.js"
import { type BuiltHmsReport, type ChartKey, HMS_REPORT_FILES, type HmsReportData, type HmsReportError, validateHmsReportData } from "./data.js"
import { distinctFolds, formatDuration, formatInstant, formatParam, kl, modelName, PERCENT, RATIO_DECIMALS, spreadSeeds } from "./report-format.js"

const statusCounts = (data: HmsReportData): string => STAGE_STATUSES.map((st) => `${data.stages.filter((s) => s.status === st).length} ${st}`).join(", ")

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
      data.folds.map((f) => [
        modelName(f, data),
        String(f.bestEpoch),
        kl(f.bestValLoss),
        kl(data.foldScores[folds.indexOf(f.fold)]!),
        String(f.history.length),
      ]),
      ["fold", "best epoch", "best val loss", "OOF KL", "epochs"],
      { caption: spreadSeeds(data).length > 1 ? "Per fold and seed (OOF KL: the seeds' ensemble)" : "Per fold", numericColumns: [1, 2, 3, 4] },
    ),
    ...(spreadSeeds(data).length > 1
      ? [
          htmlTable(
            (data.seedScores ?? []).map((s) => [String(s.seed), kl(s.cvScore)]),
            ["seed", "CV"],
            { caption: "CV per seed", numericColumns: [0, 1] },
          ),
        ]
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

const render = (spec: Either.Either<VegaLiteSpec, ChartInputInvalid>) => Effect.flatMap(spec, (s) => renderVegaLiteEffect(s))

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
        {
          heading: "DAG",
          id: "dag",
          body: fig(
            "dag",
            `Stages by dependency depth, coloured by how they ended in this run: ${data.replayed ? "replayed, nothing ran" : statusCounts(data)}.`,
          ),
        },
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
    const keys: ReadonlyArray<ChartKey> = [
      "dag",
      "lossCurves",
      "confusion",
      "perClassKl",
      "cvVsBaseline",
      ...(spreadSeeds(data).length > 1 ? (["seedSpread"] as const) : []),
      "stageTimes",
    ]
    return { html: page, charts: keys.map((k) => ({ file: HMS_REPORT_FILES[k], svg: svgs[k] })) }
  })

const writeText = (file: string, text: string): Effect.Effect<void, FileError> =>
  Effect.tryPromise({
    try: async () => {
      await mkdir(dirname(file), { recursive: true })
      await writeFile(file, text)
    },
    catch: (cause) => new FileError({ file, operation: "write", detail: describeError(cause) }),
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
