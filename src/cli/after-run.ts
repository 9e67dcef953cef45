/** Runs a pipeline's after-run hook (a report of the run) and writes what it made into its folder. */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { planEdges } from "../core/plan-graph.js"
import { describeError } from "../core/errors.js"
import { effectiveParams, type Plan } from "../core/pipeline/index.js"
import type { RunReport } from "../core/runner.js"
import { localLayout } from "../core/store/layout.js"
import { AfterRunFailed } from "./cli-errors.js"
import { copyOut } from "./publish.js"
import { PUBLISH_POLICY, REPORT_ORIGIN } from "./written-files.js"

type AfterRunReport = Pick<RunReport, "startedAt" | "seconds" | "stages" | "artifacts">

/**
 * Runs the hook into `dir`, a folder of cairn's own (emptied first). `replayed`: rendered for the
 * fast path's replays of this run (nothing runs then).
 */
export const renderAfterRun = (plan: Plan, report: AfterRunReport, dir: string, replayed = false) =>
  Effect.gen(function* () {
    const after = plan.pipeline.afterRun
    if (!after) return
    yield* Effect.try({
      try: () => {
        fs.rmSync(dir, { recursive: true, force: true })
        fs.mkdirSync(dir, { recursive: true })
      },
      catch: (error) => new AfterRunFailed({ detail: `cannot prepare ${dir}: ${describeError(error)}`, cause: error }),
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
        outDir: dir,
        ...(replayed ? { replayed } : {}),
      }),
      (e) => new AfterRunFailed({ detail: describeError(e), cause: e }),
    )
  })

/**
 * Runs the hook into a staging folder of the store at `cacheDir`, then copies what it wrote into
 * `outDir` (the user's) as publishing does: only files of earlier reports are replaced or removed.
 */
export const writeAfterRun = (plan: Plan, report: AfterRunReport, outDir: string, cacheDir: string) =>
  Effect.when(
    Effect.acquireUseRelease(
      Effect.try({
        try: () => {
          const tmp = localLayout(cacheDir).tmpDir
          fs.mkdirSync(tmp, { recursive: true })
          // Named `<pid>-...` so that the store sweeps it if this process dies first.
          return fs.mkdtempSync(path.join(tmp, `${process.pid}-report-`))
        },
        catch: (error) => new AfterRunFailed({ detail: `cannot make a staging folder in ${cacheDir}: ${describeError(error)}`, cause: error }),
      }),
      (staging) => Effect.zipRight(renderAfterRun(plan, report, staging), copyOut(staging, outDir, REPORT_ORIGIN, PUBLISH_POLICY)),
      (staging) => Effect.sync(() => fs.rmSync(staging, { recursive: true, force: true })),
    ),
    () => plan.pipeline.afterRun !== undefined,
  )
