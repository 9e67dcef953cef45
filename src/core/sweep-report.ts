/**
 * A sweep's run seen per variant: the report a single run of each variant would have made (its
 * stages under their own ids, its metrics, its params), saved in the run history as one run per
 * variant, tagged with the sweep's id and the variant's values (`cairn runs --sweep`).
 */
import { Effect } from "effect"
import { effectiveParams, type SweepPlan } from "./pipeline/index.js"
import type { PlannedVariant } from "./pipeline/sweep.js"
import { mergeMetrics, type RunReport, reportJson } from "./runner.js"
import { RunHistory } from "./store/run-history.js"

/** What a variant's history record carries besides a run's report. */
export interface SweepTag {
  /** The sweep's id: every variant of one `cairn run --sweep` has it. */
  readonly id: string
  /** `v1`, `v2`, ... */
  readonly variant: string
  /** Its values, by param as written on the command line or in the sweep file, as written. */
  readonly values: Readonly<Record<string, string>>
  /** The whole sweep's wall time (its variants ran together). */
  readonly sweepSeconds: number
}

/**
 * The report of one variant out of the sweep's: its instances' outcomes, results and artifacts under
 * the ids a single run has. `seconds` is the time its own stages took to compute (those it shares
 * with other variants, the data stages, left out), stored results included: the variants ran
 * together, so no variant has a wall time of its own.
 */
export const variantReport = (report: RunReport, pv: PlannedVariant): RunReport => {
  const byId = new Map(report.stages.map((s) => [s.id, s]))
  const sweepId = (id: string) => pv.idInSweep.get(id) ?? id
  const stages = pv.plan.instances.flatMap((i) => {
    const s = byId.get(sweepId(i.id))
    return s ? [{ ...s, id: i.id }] : []
  })
  const rekey = <V>(m: ReadonlyMap<string, V>) =>
    new Map(pv.plan.instances.flatMap((i) => (m.has(sweepId(i.id)) ? [[i.id, m.get(sweepId(i.id))!] as const] : [])))
  const resolved = rekey(report.resolved)
  const own = stages.filter((s) => sweepId(s.id) !== s.id)
  return {
    ...report,
    stages,
    resolved,
    artifacts: rekey(report.artifacts),
    metrics: mergeMetrics(pv.plan, resolved),
    params: effectiveParams(pv.plan),
    ok: stages.every((s) => s.status === "ran" || s.status === "cached"),
    seconds: own.reduce((t, s) => t + (s.computed?.seconds ?? s.seconds), 0),
    warnings: [],
  }
}

/** The sweep's id and each variant's run id (`<sweep>-v1`...), from the run's start and this process. */
export const sweepIds = (report: Pick<RunReport, "startedAt">) => {
  const id = `${report.startedAt.replace(/[:.]/g, "-")}-${process.pid}`
  return { id, runId: (variant: string) => `${id}-${variant}` }
}

/** Saves one run record per variant; a record that cannot be saved is a warning line, as a run's history is. */
export const saveSweepHistory = (
  report: RunReport,
  sweep: SweepPlan,
): Effect.Effect<{ readonly reports: ReadonlyArray<RunReport>; readonly warnings: ReadonlyArray<string> }, never, RunHistory> =>
  Effect.gen(function* () {
    const history = yield* RunHistory
    const ids = sweepIds(report)
    const reports: Array<RunReport> = []
    const warnings: Array<string> = []
    for (const pv of sweep.variants) {
      const r = variantReport(report, pv)
      const tag: SweepTag = { id: ids.id, variant: pv.variant.name, values: pv.variant.values, sweepSeconds: Number(report.seconds.toFixed(3)) }
      yield* Effect.catchAll(history.writeHistory(r.pipeline, ids.runId(pv.variant.name), { ...reportJson(r), sweep: tag }), (e) =>
        Effect.sync(() => void warnings.push(`history of variant ${pv.variant.name} not saved: ${e.message}`)),
      )
      reports.push(r)
    }
    return { reports, warnings }
  })
