/**
 * The 50-stage project the cache and queue benchmarks run: a source over `data/`, a listing of its
 * files with their sizes, `parts` fan-out parts (each writes its share of the listing) and a merge.
 * `writeFanOutProject(dir, parts)` makes `dir` a project of it (package.json, node_modules linked
 * from this checkout, stages/stages.ts, pipelines/bench.ts, an empty data/ the caller fills).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

/** The pipeline file of the project, relative to it. */
export const FAN_OUT_PIPELINE = "pipelines/bench.ts"

export const writeFanOutProject = (dir: string, parts: number): void => {
  const index = path.join(REPO, "src", "index.ts")
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "bench", type: "module", private: true }))
  fs.symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"))
  for (const sub of ["data", "stages", "pipelines"]) fs.mkdirSync(path.join(dir, sub))
  fs.writeFileSync(
    path.join(dir, "stages", "stages.ts"),
    `import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { allOf, defineSource, defineStage } from "${index}"
export const data = defineSource({ name: "data", param: "data", params: Schema.Struct({ data: Schema.String }) })
export const listing = defineStage({
  name: "listing", params: Schema.Struct({}), inputs: { data },
  run: (ctx) => Effect.sync(() => fs.readdirSync(ctx.inputs.data.dir).sort().map((f) => [f, fs.statSync(path.join(ctx.inputs.data.dir, f)).size])),
})
export const part = defineStage({
  name: "part", params: Schema.Struct({ part: Schema.Number }), inputs: { listing },
  run: (ctx) => Effect.sync(() => {
    fs.writeFileSync(path.join(ctx.outDir, "part.json"), JSON.stringify(ctx.inputs.listing.value.filter((_: unknown, i: number) => i % ${parts} === ctx.params.part)))
    return ctx.params.part
  }),
})
export const merge = defineStage({
  name: "merge", params: Schema.Struct({}), inputs: { parts: allOf(part) },
  run: (ctx) => Effect.sync(() => ctx.inputs.parts.reduce((a, p) => a + p.value, 0)),
})
`,
  )
  fs.writeFileSync(
    path.join(dir, FAN_OUT_PIPELINE),
    `import { definePipeline, fanOut, range } from "${index}"
import { merge, part } from "../stages/stages.js"
export default definePipeline({ name: "bench", stages: [merge], fanOut: [fanOut(part, "part", range(${parts}))], params: { data: "data" } })
`,
  )
}
