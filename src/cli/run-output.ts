/** The lines `cairn run` prints around the per-stage lines (the fast path replays them verbatim). */
import * as path from "node:path"
import { Cause, Effect, Either } from "effect"
import type { Plan } from "../core/pipeline/index.js"
import { type MemoryPlan, memorySummary } from "../core/resources.js"
import type { RunReport } from "../core/runner.js"
import { ENGINE_NOTICE } from "../core/stage.js"

/** `cairn run hms-baseline: 14 stages, jobs 2, memory 19.5 GiB (train: ~10.2 GiB each, 1 at a time), cache cache` (memory: when a stage declares a need). */
export const runHeader = (plan: Plan, jobs: number, cacheDir: string, memory?: MemoryPlan) => {
  const held = memory === undefined ? undefined : memorySummary(memory)
  return `cairn run ${plan.pipeline.name}: ${plan.instances.length} stages, jobs ${jobs}, ${held ? `${held}, ` : ""}cache ${path.relative(process.cwd(), cacheDir) || "."}`
}

export const summaryLines = (report: Pick<RunReport, "ok" | "stages" | "seconds">): Array<string> => {
  const count = (s: string) => report.stages.filter((x) => x.status === s).length
  const lines = [
    `${report.ok ? "ok" : "FAILED"}: ${count("ran")} ran, ${count("cached")} cached, ${count("failed")} failed, ${count("skipped")} skipped in ${report.seconds.toFixed(2)}s`,
  ]
  for (const s of report.stages.filter((x) => x.status === "failed")) lines.push(`  failed ${s.id}: ${s.error}`)
  return lines
}

/** With `--verbose`: each failure's cause, with its stack (the original error, not one line). */
export const causeLines = (report: Pick<RunReport, "stages">): Array<string> =>
  report.stages.flatMap((s) => {
    if (s.status !== "failed" || s.cause === undefined) return []
    const c = s.cause
    const text = Cause.isCause(c) ? Cause.pretty(c) : c instanceof Error ? (c.stack ?? c.message) : JSON.stringify(c)
    const nested =
      c instanceof Error && c.cause !== undefined ? [`  caused by: ${c.cause instanceof Error ? (c.cause.stack ?? c.cause.message) : String(c.cause)}`] : []
    return [`--- ${s.id}`, ...text.split("\n").map((l) => `  ${l}`), ...nested]
  })

export const metricLines = (metrics: RunReport["metrics"], plan: Plan): Array<string> => {
  const wanted = plan.pipeline.printMetrics
  const entries = Object.entries(metrics).filter(([k]) => !wanted || wanted.some((w) => (typeof w === "string" ? w === k : w.test(k))))
  if (entries.length === 0) return []
  return ["metrics:", ...entries.map(([k, v]) => `  ${k} = ${typeof v === "number" ? v : JSON.stringify(v)}`)]
}

/**
 * One line per distinct engine the plan's stages run on (from their `engine` hooks, which depend
 * on params only), with the engine's notice: `engine: tfjs on wasm (native kernels unavailable: ...)
 * for train, infer`. A hook that fails is left to the run, which reports it on the stage.
 */
export const engineLines = (plan: Plan): Effect.Effect<Array<string>> =>
  Effect.gen(function* () {
    const byLine = new Map<string, Set<string>>()
    for (const inst of plan.instances) {
      if (inst.stage.engine === undefined) continue
      const record = yield* Effect.either(inst.stage.engine(inst.params))
      if (Either.isLeft(record)) continue
      const { [ENGINE_NOTICE]: notice, ...identity } = record.right
      const who =
        identity["engine"] !== undefined && identity["backend"] !== undefined ? `${identity["engine"]} on ${identity["backend"]}` : JSON.stringify(identity)
      const line = `engine: ${who}${notice ? ` (${notice})` : ""}`
      const stages = byLine.get(line) ?? new Set<string>()
      stages.add(inst.stage.name)
      byLine.set(line, stages)
    }
    return [...byLine].map(([line, stages]) => `${line} for ${[...stages].join(", ")}`)
  })
