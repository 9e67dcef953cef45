import * as fs from "node:fs"
import * as path from "node:path"
import { Command, Options } from "@effect/cli"
import { Console, Effect, Either, Layer, Option } from "effect"
import { describeError } from "../../core/errors.js"
import { restrictPlan, unknownStages } from "../../core/pipeline/index.js"
import { Reporter } from "../../core/reporter.js"
import { queueRunSetting } from "../../core/queue/run-setting.js"
import { planMemory } from "../../core/resources.js"
import { reportJson, runPlan } from "../../core/runner.js"
import { redactUrl } from "../../core/store/remote/from-url.js"
import { writeAfterRun } from "../after-run.js"
import { EXIT_STAGE_FAILED, UsageError } from "../cli-errors.js"
import { removeStamp, writeStamp } from "../fast-path.js"
import { load, storeLayer } from "../load.js"
import { memoryBudget } from "../memory-budget.js"
import { cacheDirOpt, jobsOpt, memoryOpt, paramOpt, pipelineArg, queueOpt, remoteCacheOpt, remoteCacheReadonlyOpt, runOption } from "../options.js"
import { defaultJobs } from "../project.js"
import { copyOut, folderName, markStaleFolders, PUBLISH_POLICY, showFolder } from "../publish.js"
import { stampFor, unstampable } from "../replay-stamp.js"
import { causeLines, engineLines, metricLines, runHeader, summaryLines } from "../run-output.js"
import { runSweep } from "../run-sweep.js"

/** `cairn run`: runs what is stale, publishes, reports, and stamps the run for the fast path. */
export const runCommand = (argv: () => ReadonlyArray<string>) =>
  Command.make(
    "run",
    {
      pipeline: pipelineArg,
      params: paramOpt,
      target: runOption("target", Options.text).pipe(Options.repeated, Options.withDescription("only this stage (and what it needs); repeatable")),
      jobs: jobsOpt,
      memory: memoryOpt,
      cacheDir: cacheDirOpt,
      force: runOption("force", Options.text).pipe(Options.repeated, Options.withDescription("rerun this stage even if cached; repeatable")),
      json: runOption("json", Options.text).pipe(Options.optional, Options.withDescription("write the run report as JSON to this file")),
      out: runOption("out", Options.text).pipe(
        Options.optional,
        Options.withDescription("folder for published outputs and reports (default: the project root)"),
      ),
      verbose: runOption("verbose", Options.boolean).pipe(Options.withDescription("print each failure's full cause (stack traces)")),
      remoteCache: remoteCacheOpt,
      remoteCacheReadonly: remoteCacheReadonlyOpt,
      queue: queueOpt,
      sweep: runOption("sweep", Options.text).pipe(
        Options.repeated,
        Options.withDescription("name=v1,v2,... (or stage.name=...): run every combination as one DAG; repeatable"),
      ),
      sweepFile: runOption("sweep-file", Options.text).pipe(
        Options.optional,
        Options.withDescription("a JSON file or module (default export) listing param sets to sweep over"),
      ),
      noResume: runOption("no-resume", Options.boolean).pipe(
        Options.withDescription("start stages that work in steps (training epochs) over instead of continuing from their saved progress"),
      ),
    },
    (o) =>
      Effect.gen(function* () {
        // A sweep plans, runs and records its variants on its own path (run-sweep.ts).
        if (o.sweep.length > 0 || Option.isSome(o.sweepFile)) {
          removeStamp(argv())
          return yield* runSweep(o)
        }
        const l = yield* load(o.pipeline, o.params, o.cacheDir)
        const outRoot = Option.isSome(o.out) ? path.resolve(o.out.value) : l.root
        const plan = yield* Either.match(restrictPlan(l.plan, o.target, "--target"), { onLeft: Effect.fail, onRight: Effect.succeed })
        // A --force naming no stage of what runs would be ignored: refuse it as --target does.
        const unforceable = unknownStages(l.plan, o.force, "--force") ?? unknownStages(plan, o.force, "--force", `what --target ${o.target.join(" ")} runs`)
        if (unforceable) return yield* unforceable
        const jobs = Option.getOrElse(o.jobs, defaultJobs)
        if (jobs < 1) return yield* new UsageError({ detail: "--jobs must be at least 1" })
        // Before anything runs: every stage's declared need, against its engine and the budget.
        const memory = yield* planMemory(plan, yield* memoryBudget(o.memory), jobs)
        yield* Console.log(runHeader(plan, jobs, l.cacheDir, memory))
        for (const line of yield* engineLines(plan)) yield* Console.error(line)
        removeStamp(argv())
        const remoteUrl = Option.getOrElse(o.remoteCache, () => process.env.CAIRN_REMOTE_CACHE ?? "")
        if (remoteUrl) yield* Console.log(`remote cache ${redactUrl(remoteUrl)}${o.remoteCacheReadonly ? " (read-only)" : ""}`)
        const store = storeLayer(l, remoteUrl ? { url: remoteUrl, readonly: o.remoteCacheReadonly } : undefined)
        const reporter = Reporter.layerAuto(process.stdout)
        const queue = Option.isSome(o.queue)
          ? yield* queueRunSetting({
              url: o.queue.value,
              remoteUrl,
              root: l.root,
              pipelineFile: plan.pipeline.file,
              params: o.params,
              remoteReadonly: o.remoteCacheReadonly,
              env: process.env,
            })
          : undefined
        if (queue) yield* Console.log(`queue ${queue.shown}`)
        const services = queue ? Layer.provide(queue.layer, reporter) : reporter
        const report = yield* runPlan(plan, { jobs, force: o.force, memory, resume: !o.noResume }).pipe(Effect.provide(Layer.merge(store, services)))
        for (const line of [...summaryLines(report), ...metricLines(report.metrics, plan)]) yield* Console.log(line)
        if (o.verbose) for (const line of causeLines(report)) yield* Console.error(line)
        for (const w of report.warnings) yield* Console.error(`warning: ${w}`)
        const published: Array<readonly [string, string]> = []
        if (report.ok && o.target.length === 0) {
          for (const [dest, stage] of Object.entries(plan.pipeline.publish ?? {})) {
            const inst = plan.instances.find((i) => i.stage === stage)
            const art = inst && report.artifacts.get(inst.id)
            if (!art) continue
            const abs = path.resolve(outRoot, dest)
            const done = yield* copyOut(art.dir, abs, { by: "publish", what: inst.id, key: art.key }, PUBLISH_POLICY)
            published.push([inst.id, abs])
            yield* Console.log(`published ${inst.id} -> ${showFolder(abs)}`)
            for (const file of done.kept)
              yield* Console.error(`note: kept ${path.join(abs, file)}: changed since cairn published it (no longer part of the output)`)
          }
        }
        if (report.ok && o.target.length === 0 && plan.pipeline.afterRun) {
          const outDir = path.resolve(outRoot, plan.pipeline.afterRun.outDir)
          yield* writeAfterRun(plan, report, outDir, l.cacheDir)
          yield* Console.log(`report -> ${showFolder(outDir)}`)
        }
        if (!report.ok && o.target.length === 0) {
          // What an earlier run published is still there: say it is not this run's.
          const dirs = [...Object.keys(plan.pipeline.publish ?? {}), ...(plan.pipeline.afterRun ? [plan.pipeline.afterRun.outDir] : [])].map((d) =>
            path.resolve(outRoot, d),
          )
          const marked = yield* Effect.either(markStaleFolders(dirs, { run: `of ${plan.pipeline.name}`, at: report.startedAt }))
          if (Either.isLeft(marked)) yield* Console.error(`warning: ${marked.left.message}`)
          else for (const dir of marked.right) yield* Console.log(`${folderName(dir)} is from an earlier run: marked stale (this run failed)`)
        }
        if (Option.isSome(o.json)) {
          const file = path.resolve(o.json.value)
          fs.mkdirSync(path.dirname(file), { recursive: true })
          fs.writeFileSync(file, `${JSON.stringify(reportJson(report), null, 2)}\n`)
        }
        if (!report.ok) {
          process.exitCode = EXIT_STAGE_FAILED
          return
        }
        if (o.target.length === 0 && o.force.length === 0) {
          const stamp = yield* Effect.either(stampFor(l, plan, report, { jobs, memory }, published, outRoot, argv()).pipe(Effect.provide(store)))
          // No stamp is no error: the next run takes the full path.
          if (Either.isRight(stamp) && stamp.right) writeStamp(argv(), stamp.right)
          else if (o.verbose) yield* Console.error(`note: no fast-path stamp: ${Either.isLeft(stamp) ? describeError(stamp.left) : unstampable(plan)}`)
        }
      }),
  ).pipe(Command.withDescription("run a pipeline: only what changed reruns"))
