import * as path from "node:path"
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Either, Layer, Option } from "effect"
import { restrictPlan } from "../../core/pipeline/index.js"
import { Reporter } from "../../core/reporter.js"
import { planMemory } from "../../core/resources.js"
import { runPlan } from "../../core/runner.js"
import { EXIT_STAGE_FAILED, WriteRefused } from "../cli-errors.js"
import { load, storeLayer } from "../load.js"
import { memoryBudget } from "../memory-budget.js"
import { cacheDirOpt, jobsOpt, memoryOpt, paramOpt, pipelineArg } from "../options.js"
import { defaultJobs } from "../project.js"
import { copyOut } from "../publish.js"
import { summaryLines } from "../run-output.js"
import { refusedFolder } from "../written-files.js"

export const exportCommand = Command.make(
  "export",
  {
    pipeline: pipelineArg,
    stage: Args.text({ name: "stage-id" }),
    dest: Args.text({ name: "dest" }),
    params: paramOpt,
    jobs: jobsOpt,
    memory: memoryOpt,
    cacheDir: cacheDirOpt,
    force: Options.boolean("force").pipe(
      Options.withDescription("write into a non-empty folder that holds no earlier export, and over files of the exported names (nothing else is removed)"),
    ),
  },
  (o) =>
    Effect.gen(function* () {
      const l = yield* load(o.pipeline, o.params, o.cacheDir)
      const plan = yield* Either.match(restrictPlan(l.plan, [o.stage]), { onLeft: Effect.fail, onRight: Effect.succeed })
      const targets = plan.instances.filter((i) => i.id === o.stage || i.stage.name === o.stage)
      const destOf = (id: string) => (targets.length === 1 ? path.resolve(o.dest) : path.resolve(o.dest, id))
      const policy = { unmarked: o.force ? "write-over" : "refuse", overwriteChanged: o.force } as const
      // Before anything runs: a folder that cannot take the export is refused now, not after hours.
      for (const t of targets) {
        const refused = refusedFolder(destOf(t.id), policy)
        if (refused) return yield* new WriteRefused({ ...refused, force: "--force" })
      }
      const jobs = Option.getOrElse(o.jobs, defaultJobs)
      const memory = yield* planMemory(plan, yield* memoryBudget(o.memory), jobs)
      const report = yield* runPlan(plan, { jobs, force: [], memory }).pipe(Effect.provide(Layer.merge(storeLayer(l), Reporter.layerAuto(process.stderr))))
      if (!report.ok) {
        for (const line of summaryLines(report)) yield* Console.error(line)
        process.exitCode = EXIT_STAGE_FAILED
        return
      }
      for (const t of targets) {
        const art = report.artifacts.get(t.id)!
        const dest = destOf(t.id)
        const done = yield* copyOut(art.dir, dest, { by: "export", what: t.id, key: art.key }, policy, "--force")
        yield* Console.log(`exported ${t.id} -> ${dest}`)
        for (const file of done.kept)
          yield* Console.error(`note: kept ${path.join(dest, file)}: changed since cairn exported it (no longer part of the export)`)
      }
    }),
).pipe(Command.withDescription("copy a stage's artifact out of the store (running what is missing first)"))
