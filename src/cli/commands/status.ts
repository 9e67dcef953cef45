import { Command, Options } from "@effect/cli"
import { Console, Effect } from "effect"
import { renderDag } from "../../core/plan-graph.js"
import { planPipeline } from "../../core/pipeline/index.js"
import { pipelineStatus } from "../../core/pipeline-status.js"
import { load, parseParams, storeLayer } from "../load.js"
import { cacheDirOpt, paramOpt, pipelineArg } from "../options.js"
import { loadPipeline } from "../project.js"

export const statusCommand = Command.make(
  "status",
  { pipeline: pipelineArg, params: paramOpt, cacheDir: cacheDirOpt, json: Options.boolean("json").pipe(Options.withDescription("print JSON")) },
  (o) =>
    Effect.gen(function* () {
      const l = yield* load(o.pipeline, o.params, o.cacheDir)
      const status = yield* pipelineStatus(l.plan).pipe(Effect.provide(storeLayer(l)))
      if (o.json) {
        yield* Console.log(
          JSON.stringify(
            status.map(({ changes: _c, ...s }) => s),
            null,
            2,
          ),
        )
        return
      }
      const width = Math.max(...status.map((s) => s.id.length))
      for (const s of status) {
        yield* Console.log(`${s.state === "fresh" ? "fresh" : "STALE"}  ${s.id.padEnd(width)}${s.reasons.length ? `  ${s.reasons[0]}` : ""}`)
        for (const r of s.reasons.slice(1)) yield* Console.log(`       ${" ".repeat(width)}  ${r}`)
      }
      const stale = status.filter((s) => s.state === "stale").length
      yield* Console.log(stale === 0 ? "everything is fresh" : `${stale} of ${status.length} stages would run`)
    }),
).pipe(Command.withDescription("say which stages are stale and which field of their key changed"))

export const dagCommand = Command.make(
  "dag",
  {
    pipeline: pipelineArg,
    params: paramOpt,
    format: Options.choice("format", ["text", "mermaid", "dot"]).pipe(Options.withDefault("text" as const)),
  },
  (o) =>
    Effect.gen(function* () {
      const pipeline = yield* loadPipeline(o.pipeline)
      const plan = yield* planPipeline(pipeline, yield* parseParams(o.params))
      yield* Console.log(renderDag(plan, o.format))
    }),
).pipe(Command.withDescription("print the pipeline's graph"))
