/**
 * `cairn run PIPE --sweep lr=1e-3,3e-4 [--sweep-file FILE]`: every variant planned as one DAG
 * (sweep.ts), run under `--jobs` or on queue workers, one run per variant saved in the history, and
 * a summary line per variant with its status and headline metric. Nothing is published and no
 * report hook runs (the variants would overwrite each other's): a variant rerun on its own is all
 * cached and publishes.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { Console, Effect, Either, Layer, Option } from "effect"
import { ConfigError } from "../core/errors.js"
import { paramSets, parseSweepAxis, planSweep, restrictPlan, type SweepAxis, type SweepPlan, sweepVariants, variantLabel } from "../core/pipeline/index.js"
import { queueRunSetting } from "../core/queue/run-setting.js"
import { Reporter } from "../core/reporter.js"
import { planMemory } from "../core/resources.js"
import { type RunReport, reportJson, runPlan } from "../core/runner.js"
import { checkSources } from "../core/source.js"
import { redactUrl } from "../core/store/remote/from-url.js"
import { saveSweepHistory, sweepIds } from "../core/sweep-report.js"
import { EXIT_STAGE_FAILED, UsageError } from "./cli-errors.js"
import { parseParams, storeLayer } from "./load.js"
import { memoryBudget } from "./memory-budget.js"
import { cacheDirFor, defaultJobs, loadPipeline, projectRootOf } from "./project.js"
import { causeLines, engineLines, runHeader, summaryLines } from "./run-output.js"

/** The options of `cairn run` a sweep uses. */
export interface SweepRunOptions {
  readonly pipeline: string
  readonly params: ReadonlyArray<string>
  readonly sweep: ReadonlyArray<string>
  readonly sweepFile: Option.Option<string>
  readonly target: ReadonlyArray<string>
  readonly jobs: Option.Option<number>
  readonly memory: Option.Option<string>
  readonly cacheDir: Option.Option<string>
  readonly force: ReadonlyArray<string>
  readonly json: Option.Option<string>
  readonly verbose: boolean
  readonly remoteCache: Option.Option<string>
  readonly remoteCacheReadonly: boolean
  readonly queue: Option.Option<string>
}

/** The param sets of a sweep file: JSON, or a module (TypeScript through tsx) whose default export is the list. */
const readSweepFile = (file: string) =>
  Effect.gen(function* () {
    const abs = path.resolve(file)
    const fail = (detail: string) => new ConfigError({ file: abs, detail })
    if (!fs.existsSync(abs)) return yield* fail("no such sweep file")
    const list: unknown = /\.json$/i.test(abs)
      ? yield* Effect.try({
          try: () => JSON.parse(fs.readFileSync(abs, "utf8")) as unknown,
          catch: (e) => fail(`not JSON: ${e instanceof Error ? e.message : String(e)}`),
        })
      : yield* Effect.map(
          Effect.tryPromise({
            try: () => import(pathToFileURL(abs).href) as Promise<Record<string, unknown>>,
            catch: (e) => fail(`cannot load: ${e instanceof Error ? e.message : String(e)}`),
          }),
          (mod) => mod.default,
        )
    return yield* Either.match(paramSets(abs, list), { onLeft: Effect.fail, onRight: Effect.succeed })
  })

/** The variants' lines: `v1 epochs=2 lr=1e-3: ok, cv_score 0.4817 (3 ran, 12 cached)`. */
export const variantLines = (sweep: SweepPlan, reports: ReadonlyArray<RunReport>): Array<string> =>
  reports.map((r, i) => {
    const v = sweep.variants[i]!.variant
    const count = (s: string) => r.stages.filter((x) => x.status === s).length
    // The pipeline's headline metric, else its first numeric one (as `cairn runs` shows).
    const name =
      r.headline !== undefined && typeof r.metrics[r.headline] === "number" ? r.headline : Object.keys(r.metrics).find((k) => typeof r.metrics[k] === "number")
    const shown = name === undefined ? "" : `, ${name} ${r.metrics[name]}`
    const failed = r.stages.find((s) => s.status === "failed")
    return `  ${v.name} ${variantLabel(v)}: ${r.ok ? "ok" : "FAILED"}${shown} (${count("ran")} ran, ${count("cached")} cached, ${count("failed")} failed, ${count("skipped")} skipped)${failed ? `: ${failed.id}: ${failed.error}` : ""}`
  })

export const runSweep = (o: SweepRunOptions) =>
  Effect.gen(function* () {
    const axes: Array<SweepAxis> = []
    for (const text of o.sweep) axes.push(yield* Either.match(parseSweepAxis(text), { onLeft: Effect.fail, onRight: Effect.succeed }))
    const sets = Option.isSome(o.sweepFile) ? yield* readSweepFile(o.sweepFile.value) : []
    const pipeline = yield* loadPipeline(o.pipeline)
    const root = projectRootOf(path.dirname(pipeline.file))
    const cacheDir = cacheDirFor(root, Option.getOrUndefined(o.cacheDir))
    const sweep = yield* planSweep(pipeline, yield* parseParams(o.params), sweepVariants(sets, axes))
    const plan = yield* Either.match(restrictPlan(sweep.plan, o.target, "--target"), { onLeft: Effect.fail, onRight: Effect.succeed })
    yield* checkSources(plan, root)
    const jobs = Option.getOrElse(o.jobs, defaultJobs)
    if (jobs < 1) return yield* new UsageError({ detail: "--jobs must be at least 1" })
    const memory = yield* planMemory(plan, yield* memoryBudget(o.memory), jobs)
    yield* Console.log(runHeader(plan, jobs, cacheDir, memory))
    yield* Console.log(`sweep: ${sweep.variants.length} variants, ${plan.instances.filter((i) => i.origin?.id === i.id).length} stages shared by all`)
    for (const line of yield* engineLines(plan)) yield* Console.error(line)
    const remoteUrl = Option.getOrElse(o.remoteCache, () => process.env.CAIRN_REMOTE_CACHE ?? "")
    if (remoteUrl) yield* Console.log(`remote cache ${redactUrl(remoteUrl)}${o.remoteCacheReadonly ? " (read-only)" : ""}`)
    const store = storeLayer({ cacheDir, root }, remoteUrl ? { url: remoteUrl, readonly: o.remoteCacheReadonly } : undefined)
    const reporter = Reporter.layerAuto(process.stdout)
    // Each queued stage carries its variant's own params (Instance.origin); these are the run's.
    const queue = Option.isSome(o.queue)
      ? yield* queueRunSetting({
          url: o.queue.value,
          remoteUrl,
          root,
          pipelineFile: pipeline.file,
          params: o.params,
          remoteReadonly: o.remoteCacheReadonly,
          env: process.env,
        })
      : undefined
    if (queue) yield* Console.log(`queue ${queue.shown}`)
    const services = queue ? Layer.provide(queue.layer, reporter) : reporter
    const report = yield* runPlan(plan, { jobs, force: o.force, memory, saveHistory: false }).pipe(Effect.provide(Layer.merge(store, services)))
    const saved = yield* saveSweepHistory(report, { ...sweep, plan }).pipe(Effect.provide(store))
    for (const line of summaryLines(report)) yield* Console.log(line)
    yield* Console.log(`sweep ${sweepIds(report).id}:`)
    for (const line of variantLines(sweep, saved.reports)) yield* Console.log(line)
    if (o.verbose) for (const line of causeLines(report)) yield* Console.error(line)
    for (const w of [...report.warnings, ...saved.warnings]) yield* Console.error(`warning: ${w}`)
    yield* Console.log("compare them: cairn runs --sweep last")
    if (Option.isSome(o.json)) {
      const file = path.resolve(o.json.value)
      fs.mkdirSync(path.dirname(file), { recursive: true })
      const variants = saved.reports.map((r, i) => ({ variant: sweep.variants[i]!.variant.name, values: sweep.variants[i]!.variant.values, ...reportJson(r) }))
      fs.writeFileSync(file, `${JSON.stringify({ ...reportJson(report), sweep: sweepIds(report).id, variants }, null, 2)}\n`)
    }
    if (!report.ok) process.exitCode = EXIT_STAGE_FAILED
  })
