/**
 * The stamp the no-op fast path (fast-path.js) replays a run from: everything the full path hashes
 * or checks, gathered after a successful full run. A plan that cannot be stamped fully gets none.
 */
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { envKeyRecord } from "../core/credentials.js"
import { lockfilesOf } from "../core/closure/packages.js"
import type { Plan } from "../core/pipeline/index.js"
import { MEMORY_ENV, type MemoryPlan } from "../core/resources.js"
import { formatOutcome } from "../core/reporter.js"
import { reportJson, type RunReport } from "../core/runner.js"
import { Cache } from "../core/store/cache.js"
import { RunHistory } from "../core/store/run-history.js"
import { renderAfterRun } from "./after-run.js"
import { replayDirFor, type Stamp } from "./fast-path.js"
import type { Loaded } from "./load.js"
import { showFolder } from "./publish.js"
import { metricLines, runHeader, summaryLines } from "./run-output.js"

const CLI_DIR = path.dirname(fileURLToPath(import.meta.url))

/** Why a plan cannot be replayed by the fast path, or undefined when it can. */
export const unstampable = (plan: Plan): string | undefined => {
  const uncached = plan.instances.find((i) => !i.stage.cache)
  if (uncached) return `stage ${uncached.id} is not cached (cache: false): it runs on every cairn run`
  const probing = plan.instances.find((i) => i.stage.engine && i.stage.engineInputs === undefined)
  if (probing) return `stage ${probing.id} has an engine hook that does not declare its engineInputs`
  return undefined
}

export const stampFor = (
  l: Loaded,
  plan: Plan,
  report: RunReport,
  run: { readonly jobs: number; readonly memory: MemoryPlan },
  published: ReadonlyArray<readonly [string, string]>,
  outRoot: string,
  argv: ReadonlyArray<string>,
): Effect.Effect<Stamp | undefined, unknown, Cache | RunHistory> =>
  Effect.gen(function* () {
    if (unstampable(plan) !== undefined) return undefined
    const store = yield* Cache
    // The pipeline file and everything it imports, stage modules included (nothing excluded).
    const closure = yield* store.closures.closureOf([plan.pipeline.file])
    const keys = report.stages.flatMap((s) => (report.resolved.get(s.id)?.record ? [s.key!] : []))
    const facts = yield* (yield* RunHistory).replayFacts(plan.pipeline.name, keys)
    // cairn itself: its core, its CLI and its launcher.
    const framework = [path.join(CLI_DIR, "..", "core"), path.join(CLI_DIR, "..", "index.ts"), CLI_DIR, path.join(CLI_DIR, "..", "..", "bin")]
    const watch = [
      ...closure.watch,
      ...report.watchFiles,
      ...framework,
      path.join(l.root, "package.json"),
      ...lockfilesOf(l.root),
      ...facts.watch,
      ...published.map(([, dest]) => dest),
    ]
    // As the keys have them: a credential is stamped hashed, never in clear.
    // CAIRN_MEMORY too: the replayed header shows the budget it set.
    const env = envKeyRecord(new Set([...plan.instances.flatMap((i) => i.stage.env), MEMORY_ENV]), process.env)
    const cachedStages = report.stages.map((s) => ({ ...s, status: "cached" as const, seconds: 0 }))
    const lines = [
      runHeader(plan, run.jobs, l.cacheDir, run.memory),
      ...cachedStages.map(formatOutcome),
      ...summaryLines({ ...report, stages: cachedStages, seconds: 0 }),
      ...metricLines(report.metrics, plan),
      ...published.map(([id, dest]) => `published ${id} -> ${showFolder(dest)}`),
      ...(plan.pipeline.afterRun ? [`report -> ${showFolder(path.resolve(outRoot, plan.pipeline.afterRun.outDir))}`] : []),
    ]
    const copies: Array<readonly [string, string]> = []
    const after = plan.pipeline.afterRun
    const replayDir = replayDirFor(argv)
    if (after && replayDir) {
      // What the after-run hook writes on a replay, rendered now: every stage cached.
      yield* renderAfterRun(plan, { ...report, stages: cachedStages, seconds: 0 }, replayDir, true)
      copies.push([replayDir, path.resolve(outRoot, after.outDir)])
    }
    return {
      watch,
      env,
      exists: facts.exists,
      touch: facts.touch,
      lines,
      report: reportJson({ ...report, stages: cachedStages }),
      history: facts.history,
      copies,
    }
  })
