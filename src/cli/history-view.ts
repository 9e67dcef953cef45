import type { Json } from "../core/canonical.js"
import type { HistoryFile } from "../core/store/records.js"
import type { SweepTag } from "../core/sweep-report.js"
import { type PairedDifference, pairedDifferences, samplesOf, spread } from "./paired-stats.js"

/** One `cairn run` as saved in the store's history. */
export interface HistoryEntry {
  readonly runId: string
  readonly pipeline: string
  readonly startedAt: string
  readonly seconds: number
  readonly ok: boolean
  readonly params: Readonly<Record<string, unknown>>
  readonly metrics: Readonly<Record<string, Json>>
  readonly stages: ReadonlyArray<{
    readonly id: string
    readonly status: string
    readonly key: string | null
    readonly seconds: number
    /** Hash of the stage's code closure and of its engine record (absent for sources and failures). */
    readonly code?: string
    readonly engine?: string
  }>
  /** The metric shown first (the pipeline's first printed metric). */
  readonly headline?: string
  /** A variant of a sweep (`cairn run --sweep`): the sweep's id, the variant's name and values. */
  readonly sweep?: SweepTag
}

/** Whether a history file's body is a run record `cairn runs` can show. */
export const isRunRecord = (body: unknown): boolean =>
  typeof body === "object" &&
  body !== null &&
  typeof (body as { startedAt?: unknown }).startedAt === "string" &&
  Array.isArray((body as { stages?: unknown }).stages)

/** History entries from the store's files (those holding a run record), oldest first. */
export const historyEntries = (files: ReadonlyArray<HistoryFile>): Array<HistoryEntry> =>
  files
    .filter((f) => isRunRecord(f.body))
    .map((f) => ({ ...(f.body as Omit<HistoryEntry, "runId">), runId: f.runId }))
    .sort((a, b) => (a.startedAt < b.startedAt ? -1 : a.startedAt > b.startedAt ? 1 : 0))

export const show = (v: unknown): string => (v === undefined ? "-" : typeof v === "number" ? formatNumber(v) : JSON.stringify(v))

export const formatNumber = (v: number): string =>
  Number.isInteger(v) ? String(v) : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e6 ? v.toFixed(6).replace(/0+$/, "") : v.toExponential(4)

/** Params that differ between two param records. */
export const changedParams = (a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>) =>
  [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])).sort()

/** ` (mean ± sd over n coordinates)` of a metric sampled per seed (`name[seed-1]`), else "". */
const spreadOf = (metrics: Readonly<Record<string, Json>>, name: string): string => {
  const values = samplesOf(metrics)
    .filter((s) => s.metric === name)
    .map((s) => s.value)
  if (values.length < 2) return ""
  const s = spread(values)
  return ` (${formatNumber(s.mean)} ± ${formatNumber(s.sd)} over ${s.n})`
}

/** The headline metric of a run: the one its pipeline prints first, else its first numeric metric. */
export const headline = (e: HistoryEntry): string => {
  const named = e.headline !== undefined ? e.metrics[e.headline] : undefined
  if (typeof named === "number") return `${e.headline} ${formatNumber(named)}${spreadOf(e.metrics, e.headline!)}`
  const first = Object.entries(e.metrics).find(([, v]) => typeof v === "number")
  return first ? `${first[0]} ${formatNumber(first[1] as number)}` : "-"
}

export const table = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)))
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")
}

export const renderRuns = (entries: ReadonlyArray<HistoryEntry>): string => {
  if (entries.length === 0) return "no runs recorded"
  const rows: Array<Array<string>> = [["run", "started", "status", "ran/cached/failed", "metric", "changed params"]]
  entries.forEach((e, i) => {
    const prev = i > 0 ? entries[i - 1] : undefined
    const count = (s: string) => e.stages.filter((x) => x.status === s).length
    const changed = prev
      ? changedParams(prev.params, e.params)
          .map((k) => `${k}=${show(e.params[k])}`)
          .join(" ")
      : "(first)"
    rows.push([
      e.runId,
      e.startedAt.replace("T", " ").slice(0, 19),
      e.ok ? "ok" : "FAILED",
      `${count("ran")}/${count("cached")}/${count("failed") + count("skipped")}`,
      headline(e),
      changed || "-",
    ])
  })
  return table(rows)
}

export const renderDiff = (a: HistoryEntry, b: HistoryEntry): string => {
  const lines: Array<string> = [`A: ${a.runId} (${a.pipeline}, ${a.startedAt})`, `B: ${b.runId} (${b.pipeline}, ${b.startedAt})`, ""]
  const pkeys = [...new Set([...Object.keys(a.params), ...Object.keys(b.params)])].sort()
  const prow: Array<Array<string>> = [["param", "A", "B", ""]]
  for (const k of pkeys) prow.push([k, show(a.params[k]), show(b.params[k]), JSON.stringify(a.params[k]) === JSON.stringify(b.params[k]) ? "" : "*"])
  lines.push(table(prow), "")
  const mkeys = [...new Set([...Object.keys(a.metrics), ...Object.keys(b.metrics)])].sort()
  const mrow: Array<Array<string>> = [["metric", "A", "B", "B - A"]]
  for (const k of mkeys) {
    const va = a.metrics[k]
    const vb = b.metrics[k]
    const delta = typeof va === "number" && typeof vb === "number" ? formatNumber(vb - va) : ""
    mrow.push([k, show(va), show(vb), delta])
  }
  lines.push(table(mrow))
  const paired = pairedDifferences(a.metrics, b.metrics)
  if (paired.length > 0) lines.push("", "paired (same coordinates in both runs; 95% t interval of the mean B - A):", ...paired.map(pairedLine))
  const beyond = differencesBeyondParams(a, b)
  if (beyond.length > 0) lines.push("", `the runs also differ in more than params: ${beyond.join(", ")}`)
  return lines.join("\n")
}

const pairedLine = (p: PairedDifference): string => {
  const [lo, hi] = p.interval!
  const verdict = lo > 0 || hi < 0 ? "a real difference (the interval excludes 0)" : "within noise (the interval includes 0)"
  return `  ${p.metric}: ${formatNumber(p.mean)} [${formatNumber(lo)}, ${formatNumber(hi)}] over ${p.n} pairs (${p.coordinates.join(" ")}): ${verdict}`
}

/** Stages present in both runs whose code or engine differ (beyond what the params explain). */
const differencesBeyondParams = (a: HistoryEntry, b: HistoryEntry): Array<string> => {
  const out = new Set<string>()
  const inB = new Map(b.stages.map((s) => [s.id, s]))
  for (const sa of a.stages) {
    const sb = inB.get(sa.id)
    if (!sb) continue
    const stage = sa.id.split("/")[0]!
    if (sa.code && sb.code && sa.code !== sb.code) out.add(`code of ${stage}`)
    if (sa.engine && sb.engine && sa.engine !== sb.engine) out.add(`engine of ${stage}`)
  }
  return [...out]
}

/** Finds a run by id or unique prefix. */
export const findRun = (entries: ReadonlyArray<HistoryEntry>, id: string): HistoryEntry | string => {
  const exact = entries.find((e) => e.runId === id)
  if (exact) return exact
  const matches = entries.filter((e) => e.runId.startsWith(id))
  if (matches.length === 1) return matches[0]!
  return matches.length === 0 ? `no run "${id}" (see \`cairn runs\`)` : `run id "${id}" is ambiguous (${matches.length} runs match)`
}
