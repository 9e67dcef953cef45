/** Runs a pipeline's after-run hook (a report of the run) into a fresh folder. */
import * as fs from "node:fs"
import { Effect } from "effect"
import { planEdges } from "../core/dag.js"
import { describeError } from "../core/errors.js"
import { effectiveParams, type Plan } from "../core/pipeline.js"
import type { RunReport } from "../core/runner.js"
import { AfterRunFailed } from "./errors.js"

/** `replayed`: rendered for the fast path's replays of this run (nothing runs then). */
export const writeAfterRun = (plan: Plan, report: Pick<RunReport, "startedAt" | "seconds" | "stages" | "artifacts">, outDir: string, replayed = false) =>
  Effect.gen(function* () {
    const after = plan.pipeline.afterRun
    if (!after) return
    yield* Effect.try({
      try: () => {
        fs.rmSync(outDir, { recursive: true, force: true })
        fs.mkdirSync(outDir, { recursive: true })
      },
      catch: (error) => new AfterRunFailed({ detail: `cannot prepare ${outDir}: ${describeError(error)}`, cause: error }),
    })
    yield* Effect.mapError(
      after.write({
        pipeline: plan.pipeline.name,
        startedAt: report.startedAt,
        seconds: report.seconds,
        params: effectiveParams(plan),
        stages: report.stages.map((s) => ({ id: s.id, status: s.status, seconds: s.seconds, ...(s.computed ? { computed: s.computed } : {}) })),
        edges: planEdges(plan).map(([a, b]) => [a, b] as const),
        artifacts: report.artifacts,
        artifactsOf: (stage) => plan.instances.filter((i) => i.stage === stage).flatMap((i) => report.artifacts.get(i.id) ?? []),
        outDir,
        ...(replayed ? { replayed } : {}),
      }),
      (e) => new AfterRunFailed({ detail: describeError(e), cause: e }),
    )
  })
