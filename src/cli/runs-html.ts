/**
 * `cairn runs --html OUT`: the comparison as a self-contained page (report/html.ts): the CV of each
 * run with its spread over seeds, each fold's score per run (vega-lite, rendered to SVG here), and
 * the table. OUT is replaced only when it is a page cairn wrote (its generator tag): a file of the
 * user's is never overwritten.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Either } from "effect"
import { describeError, FileError } from "../core/errors.js"
import { figure, htmlPage, htmlTable, lineChart, paragraph, renderVegaLiteEffect, spreadChart } from "../report/index.js"
import { UsageError } from "./cli-errors.js"
import { formatNumber } from "./history-view.js"
import type { ComparedRun } from "./runs-compare.js"

/** What every page htmlPage writes carries: a file without it is not cairn's. */
const GENERATOR_TAG = '<meta name="generator" content="cairn">'

const labelOf = (r: ComparedRun) => {
  const params = Object.entries(r.paramText)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ")
  return `${r.variant ?? r.runId}${params ? ` ${params}` : ""}`
}

/** The page's charts, as SVG: CV per run (with its seed spread) and, when runs have per-fold scores, one line per run over the folds. */
const charts = (runs: ReadonlyArray<ComparedRun>) =>
  Effect.gen(function* () {
    const scored = runs.filter((r) => (r.cv.mean ?? r.cv.value) !== undefined)
    if (scored.length === 0) return []
    const metric = scored[0]!.cv.metric
    const spread = yield* Either.match(
      spreadChart({
        title: `${metric} per run`,
        subtitle: scored.some((r) => r.cv.seeds.length > 1) ? "point: mean over seeds; bar: ± one sd; open points: each seed" : "one point per run",
        xTitle: metric,
        rows: scored.map((r) => ({
          label: labelOf(r),
          value: r.cv.mean ?? r.cv.value!,
          ...(r.cv.mean !== undefined && r.cv.sd !== undefined
            ? { low: r.cv.mean - r.cv.sd, high: r.cv.mean + r.cv.sd, samples: r.cv.seeds.map((s) => s.value) }
            : {}),
        })),
      }),
      { onLeft: Effect.fail, onRight: Effect.succeed },
    )
    const svgs = [yield* renderVegaLiteEffect(spread)]
    const points = scored.flatMap((r) => Object.entries(r.folds).map(([fold, y]) => ({ x: Number(fold), y, series: labelOf(r) })))
    if (points.length > 0) {
      const folds = yield* Either.match(
        lineChart({ title: `${metric} per fold`, subtitle: "one line per run", xTitle: "fold", yTitle: "score", points, integerX: true, seriesTitle: "run" }),
        { onLeft: Effect.fail, onRight: Effect.succeed },
      )
      svgs.push(yield* renderVegaLiteEffect(folds))
    }
    return svgs
  })

/** The page as HTML text. */
export const runsPage = (runs: ReadonlyArray<ComparedRun>) =>
  Effect.gen(function* () {
    const svgs = yield* charts(runs)
    const paramNames = runs.length > 0 ? Object.keys(runs[0]!.params) : []
    const rows = runs.map((r) => [
      r.variant ?? r.runId,
      ...paramNames.map((n) => r.paramText[n] ?? "-"),
      r.cv.mean ?? r.cv.value ?? "-",
      r.cv.sd === undefined ? "" : formatNumber(r.cv.sd),
      Object.values(r.folds)
        .map((v) => v.toFixed(4))
        .join(" "),
      r.seconds.toFixed(1),
      r.vsBaseline
        ? `${formatNumber(r.vsBaseline.mean)}${r.vsBaseline.interval ? ` [${formatNumber(r.vsBaseline.interval[0])}, ${formatNumber(r.vsBaseline.interval[1])}]` : ""}`
        : r.baseline
          ? "baseline"
          : "",
      r.ok ? "ok" : "FAILED",
    ])
    const sweep = runs[0]?.sweep
    return htmlPage({
      title: sweep ? `sweep ${sweep}` : "runs compared",
      subtitle: `${runs.length} runs, sorted by ${runs[0]?.cv.metric ?? "-"}`,
      sections: [
        ...(svgs.length > 0
          ? [{ heading: "Charts", body: svgs.map((svg) => figure(svg)) }]
          : [{ heading: "Charts", body: paragraph("no run has a metric to chart") }]),
        { heading: "Runs", body: htmlTable(rows, ["run", ...paramNames, runs[0]?.cv.metric ?? "cv", "sd", "folds", "seconds", "vs baseline", "status"]) },
      ],
      footer: "written by cairn runs --html",
    })
  })

/** Writes the page to `file` (atomically); refuses a file that is not a page cairn wrote. */
export const writeRunsPage = (runs: ReadonlyArray<ComparedRun>, file: string) =>
  Effect.gen(function* () {
    const abs = path.resolve(file)
    if (fs.existsSync(abs)) {
      const mine = yield* Effect.try({
        try: () => fs.statSync(abs).isFile() && fs.readFileSync(abs, "utf8").includes(GENERATOR_TAG),
        catch: (e) => new FileError({ file: abs, operation: "read (--html)", detail: describeError(e), cause: e }),
      })
      if (!mine) return yield* new UsageError({ detail: `--html ${abs}: not overwritten: it is not a page cairn wrote; choose another file or move it away` })
    }
    const text = yield* runsPage(runs)
    yield* Effect.try({
      try: () => {
        fs.mkdirSync(path.dirname(abs), { recursive: true })
        const tmp = `${abs}.${process.pid}.tmp`
        fs.writeFileSync(tmp, text)
        fs.renameSync(tmp, abs)
      },
      catch: (e) => new FileError({ file: abs, operation: "write (--html)", detail: describeError(e), cause: e }),
    })
    return abs
  })
