import * as path from "node:path"
import { Args, Command } from "@effect/cli"
import { Console, Effect, Either, Layer, Option } from "effect"
import { restrictPlan } from "../../core/pipeline.js"
import { ReporterLive } from "../../core/reporter.js"
import { runPlan } from "../../core/runner.js"
import { EXIT_STAGE_FAILED } from "../errors.js"
import { load, storeLayer } from "../load.js"
import { cacheDirOpt, jobsOpt, paramOpt, pipelineArg } from "../options.js"
import { defaultJobs } from "../project.js"
import { copyOut } from "../publish.js"
import { summaryLines } from "../run-output.js"

export const exportCommand = Command.make(
  "export",
  {
    pipeline: pipelineArg,
    stage: Args.text({ name: "stage-id" }),
    dest: Args.text({ name: "dest" }),
    params: paramOpt,
    jobs: jobsOpt,
    cacheDir: cacheDirOpt,
  },
  (o) =>
    Effect.gen(function* () {
      const l = yield* load(o.pipeline, o.params, o.cacheDir)
      const plan = yield* Either.match(restrictPlan(l.plan, [o.stage]), { onLeft: Effect.fail, onRight: Effect.succeed })
      const targets = plan.instances.filter((i) => i.id === o.stage || i.stage.name === o.stage)
      const report = yield* runPlan(plan, { jobs: Option.getOrElse(o.jobs, defaultJobs), force: [] }).pipe(
        Effect.provide(Layer.merge(storeLayer(l), ReporterLive.auto(process.stderr))),
      )
      if (!report.ok) {
        for (const line of summaryLines(report)) yield* Console.error(line)
        process.exitCode = EXIT_STAGE_FAILED
        return
      }
      for (const t of targets) {
        const art = report.artifacts.get(t.id)!
        const dest = targets.length === 1 ? path.resolve(o.dest) : path.resolve(o.dest, t.id)
        yield* copyOut(art.dir, dest)
        yield* Console.log(`exported ${t.id} -> ${dest}`)
      }
    }),
).pipe(Command.withDescription("copy a stage's artifact out of the store (running what is missing first)"))
