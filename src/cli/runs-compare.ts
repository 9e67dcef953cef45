/**
 * `cairn runs --sweep last` (or a list of run ids): the runs compared in one table. The params that
 * vary among them are the columns; then the headline metric (CV: mean ± sd over seeds where the run
 * has `name[seed-s]` samples of it), the per-fold scores (`fold<k>_score` or `name[fold-k]`
 * metrics), the time, and the paired difference against a baseline run over the folds both scored,
 * with its 95% t interval (paired-stats.ts, as `cairn diff`). Sorted by CV, lowest first.
 */
import type { Json } from "../core/canonical.js"
import { cliValue } from "../core/pipeline/params.js"
import { changedParams, findRun, formatNumber, type HistoryEntry, show, table } from "./history-view.js"
import { pairedDifferences, samplesOf, spread } from "./paired-stats.js"

/** The headline metric of one run: its value, and its spread over seeds when it has per-seed samples. */
export interface CvSummary {
  readonly metric: string
  readonly value: number | undefined
  /** Per seed (`cv_score[seed-1086]`): the samples and their mean and sd; empty without seeds. */
  readonly seeds: ReadonlyArray<{ readonly seed: string; readonly value: number }>
  readonly mean?: number
  readonly sd?: number
}

/** The paired difference (run - baseline) over the folds both scored. */
export interface VsBaseline {
  readonly baseline: string
  readonly mean: number
  readonly n: number
  /** 95% t interval; absent with fewer than two folds. */
  readonly interval?: readonly [number, number]
}

export interface ComparedRun {
  readonly runId: string
  /** `v1`... for a variant of a sweep. */
  readonly variant?: string
  readonly sweep?: string
  readonly ok: boolean
  /** The params varied among the runs compared (a sweep's: as its variants set them). */
  readonly params: Readonly<Record<string, Json>>
  /** The same as written (a sweep's values as typed: `3e-4`), for tables. */
  readonly paramText: Readonly<Record<string, string>>
  readonly metrics: Readonly<Record<string, Json>>
  readonly cv: CvSummary
  /** Per fold, by fold (`0`, `1`, ...). */
  readonly folds: Readonly<Record<string, number>>
  readonly seconds: number
  /** The run the others are compared with. */
  readonly baseline: boolean
  readonly vsBaseline?: VsBaseline
}

const FOLD_METRIC = /^fold-?(\d+)_score$/
const FOLD_COORDINATE = /^fold-?(\d+)$/
const SEED_COORDINATE = /^seed-(.+)$/

/** The metric compared: the run's headline, else its first numeric metric. */
const cvMetric = (e: HistoryEntry): string | undefined =>
  e.headline !== undefined && typeof e.metrics[e.headline] === "number" ? e.headline : Object.entries(e.metrics).find(([, v]) => typeof v === "number")?.[0]

const cvOf = (e: HistoryEntry, metric: string): CvSummary => {
  const value = e.metrics[metric]
  const seeds = samplesOf(e.metrics).flatMap((s) => {
    const m = s.metric === metric ? SEED_COORDINATE.exec(s.coordinate) : null
    return m ? [{ seed: m[1]!, value: s.value }] : []
  })
  const s = seeds.length >= 2 ? spread(seeds.map((x) => x.value)) : undefined
  return { metric, value: typeof value === "number" ? value : undefined, seeds, ...(s ? { mean: s.mean, sd: s.sd } : {}) }
}

const foldsOf = (e: HistoryEntry, metric: string): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(e.metrics)) {
    const m = FOLD_METRIC.exec(k)
    if (m && typeof v === "number") out[m[1]!] = v
  }
  for (const s of samplesOf(e.metrics)) {
    const m = s.metric === metric ? FOLD_COORDINATE.exec(s.coordinate) : null
    if (m) out[m[1]!] = s.value
  }
  return out
}

/** The varied params: a sweep's axes (all runs of one sweep), else the params that differ among the runs. */
const variedParams = (entries: ReadonlyArray<HistoryEntry>): ((e: HistoryEntry) => Record<string, Json>) => {
  if (entries.length > 0 && entries.every((e) => e.sweep !== undefined)) {
    const names = [...new Set(entries.flatMap((e) => Object.keys(e.sweep!.values)))]
    return (e) => Object.fromEntries(names.map((n) => [n, e.sweep!.values[n] === undefined ? null : (cliValue(e.sweep!.values[n]!) as Json)]))
  }
  const names = [...new Set(entries.flatMap((a) => entries.flatMap((b) => changedParams(a.params, b.params))))].sort()
  return (e) => Object.fromEntries(names.map((n) => [n, (e.params[n] ?? null) as Json]))
}

/** The runs compared, sorted by CV (lowest first; runs without one last), each against `baseline`. */
export const compareRuns = (entries: ReadonlyArray<HistoryEntry>, baseline: HistoryEntry | undefined): Array<ComparedRun> => {
  const params = variedParams(entries)
  const base = baseline ?? entries[0]
  // One metric for all: the first run's headline (a failed run may have no metrics at all).
  const metric = entries.map(cvMetric).find((m) => m !== undefined) ?? "-"
  const baseFolds = base ? foldsOf(base, metric) : {}
  const asSamples = (folds: Record<string, number>) => Object.fromEntries(Object.entries(folds).map(([k, v]) => [`fold[fold-${k}]`, v]))
  const runs = entries.map((e): ComparedRun => {
    const cv = cvOf(e, metric)
    const folds = foldsOf(e, metric)
    const paired = base && base !== e ? pairedDifferences(asSamples(baseFolds), asSamples(folds))[0] : undefined
    return {
      runId: e.runId,
      ...(e.sweep ? { variant: e.sweep.variant, sweep: e.sweep.id } : {}),
      ok: e.ok,
      params: params(e),
      paramText: Object.fromEntries(Object.entries(params(e)).map(([k, v]) => [k, e.sweep?.values[k] ?? (typeof v === "string" ? v : show(v))])),
      metrics: e.metrics,
      cv,
      folds,
      seconds: e.seconds,
      baseline: e === base,
      ...(paired && base
        ? { vsBaseline: { baseline: base.runId, mean: paired.mean, n: paired.n, ...(paired.interval ? { interval: paired.interval } : {}) } }
        : {}),
    }
  })
  const key = (r: ComparedRun) => r.cv.mean ?? r.cv.value ?? Number.POSITIVE_INFINITY
  return runs.sort((a, b) => key(a) - key(b))
}

/** Picks runs: a sweep (`last` or its id) or run ids; a string says what is wrong. */
export const selectRuns = (entries: ReadonlyArray<HistoryEntry>, sweep: string | undefined, ids: ReadonlyArray<string>): Array<HistoryEntry> | string => {
  if (sweep !== undefined) {
    const swept = entries.filter((e) => e.sweep !== undefined)
    if (swept.length === 0) return "no sweep recorded (run one: cairn run PIPE --sweep name=v1,v2)"
    const id = sweep === "last" ? swept.at(-1)!.sweep!.id : sweep
    const ofSweep = swept.filter((e) => e.sweep!.id === id || (sweep !== "last" && e.sweep!.id.startsWith(sweep)))
    const found = new Set(ofSweep.map((e) => e.sweep!.id))
    if (found.size === 0) return `no sweep "${sweep}" (sweeps: ${[...new Set(swept.map((e) => e.sweep!.id))].slice(-5).join(", ")})`
    if (found.size > 1) return `sweep id "${sweep}" is ambiguous (${found.size} sweeps match)`
    return ofSweep
  }
  const out: Array<HistoryEntry> = []
  for (const id of ids) {
    const e = findRun(entries, id)
    if (typeof e === "string") return e
    out.push(e)
  }
  return out
}

const cvText = (cv: CvSummary): string =>
  cv.mean !== undefined && cv.sd !== undefined
    ? `${formatNumber(cv.mean)} ± ${formatNumber(cv.sd)} (${cv.seeds.length} seeds)`
    : cv.value === undefined
      ? "-"
      : formatNumber(cv.value)

const vsText = (r: ComparedRun): string => {
  const v = r.vsBaseline
  if (!v) return r.baseline ? "baseline" : "-"
  const sign = (x: number) => `${x >= 0 ? "+" : ""}${formatNumber(x)}`
  return v.interval ? `${sign(v.mean)} [${sign(v.interval[0])}, ${sign(v.interval[1])}]` : sign(v.mean)
}

const foldNames = (runs: ReadonlyArray<ComparedRun>) => [...new Set(runs.flatMap((r) => Object.keys(r.folds)))].sort((a, b) => Number(a) - Number(b))

/** The table `cairn runs --sweep` prints. */
export const renderComparison = (runs: ReadonlyArray<ComparedRun>): string => {
  if (runs.length === 0) return "no runs to compare"
  const paramNames = Object.keys(runs[0]!.params)
  const folds = foldNames(runs)
  const metric = runs[0]!.cv.metric
  const base = runs.find((r) => r.baseline)
  const rows: Array<Array<string>> = [
    [
      "run",
      ...paramNames,
      metric,
      ...(folds.length > 0 ? [`folds ${folds.join(" ")}`] : []),
      "seconds",
      `vs ${base?.variant ?? base?.runId ?? "baseline"} (paired over folds, 95% CI)`,
      "status",
    ],
  ]
  for (const r of runs) {
    rows.push([
      r.variant ?? r.runId,
      ...paramNames.map((n) => r.paramText[n] ?? "-"),
      cvText(r.cv),
      ...(folds.length > 0 ? [folds.map((f) => (r.folds[f] === undefined ? "-" : r.folds[f]!.toFixed(4))).join(" ")] : []),
      r.seconds.toFixed(1),
      vsText(r),
      r.ok ? "ok" : "FAILED",
    ])
  }
  const sweepLine = runs[0]!.sweep && runs.every((r) => r.sweep === runs[0]!.sweep) ? `sweep ${runs[0]!.sweep}, ${runs.length} runs, sorted by ${metric}\n` : ""
  return sweepLine + table(rows)
}

const csvCell = (v: unknown): string => {
  const s = v === undefined || v === null ? "" : typeof v === "string" ? v : typeof v === "number" ? String(v) : JSON.stringify(v)
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s
}

/** The same as CSV, one row per run, full precision. */
export const comparisonCsv = (runs: ReadonlyArray<ComparedRun>): string => {
  const paramNames = runs.length > 0 ? Object.keys(runs[0]!.params) : []
  const folds = foldNames(runs)
  const header = [
    "run_id",
    "variant",
    "status",
    ...paramNames,
    "cv_metric",
    "cv",
    "cv_mean",
    "cv_sd",
    "seeds",
    ...folds.map((f) => `fold${f}`),
    "seconds",
    "vs_baseline",
    "vs_low",
    "vs_high",
  ]
  const rows = runs.map((r) => [
    r.runId,
    r.variant,
    r.ok ? "ok" : "failed",
    ...paramNames.map((n) => r.params[n]),
    r.cv.metric,
    r.cv.value,
    r.cv.mean,
    r.cv.sd,
    r.cv.seeds.length,
    ...folds.map((f) => r.folds[f]),
    r.seconds,
    r.vsBaseline?.mean,
    r.vsBaseline?.interval?.[0],
    r.vsBaseline?.interval?.[1],
  ])
  return [header, ...rows].map((row) => row.map(csvCell).join(",")).join("\n")
}
