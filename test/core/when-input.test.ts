/**
 * Inputs needed for some params only (`when`): a stage that no requested output needs is not
 * planned. Here `fit` needs `download` only when no `given` file is named, as hms's `train` needs
 * `pretrained-weights` only without `--param checkpoints`; `download` fails if it ever runs (a
 * download with no network), so a plan that still held it could not succeed.
 */
import * as path from "node:path"
import { Effect, Either, Layer } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { loadPipeline } from "../../src/cli/project.js"
import { parseOverride, planPipeline } from "../../src/core/pipeline/index.js"
import { collectingReporter, Reporter } from "../../src/core/reporter.js"
import { runPlan } from "../../src/core/runner.js"
import { storeLayer } from "../../src/core/store/store-layer.js"
import { cli, makeProject, removeProjects } from "../support/helpers.js"

const files = {
  "stages/download.ts": `
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
export const download = defineStage({
  name: "download",
  params: Schema.Struct({ url: Schema.String }),
  run: () => Effect.fail(new Error("no network: download was run")),
})
`,
  "stages/fit.ts": `
import { Effect, Schema } from "effect"
import { defineStage, when } from "@cairn"
import { download } from "./download.js"
export const fit = defineStage({
  name: "fit",
  params: Schema.Struct({ given: Schema.String }),
  inputs: { weights: when(download, (p: { readonly given: string }) => p.given === "") },
  run: (ctx) => Effect.succeed({ from: ctx.inputs.weights === undefined ? "given" : "download" }),
})
`,
  "pipelines/fit.ts": `
import { definePipeline } from "@cairn"
import { fit } from "../stages/fit.js"
export default definePipeline({ name: "fit", stages: [fit], params: { given: "", url: "http://127.0.0.1:9/w" }, publish: { "out/fit": fit } })
`,
}

const planOf = (dir: string, params: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const pipeline = yield* loadPipeline(path.join(dir, "pipelines/fit.ts"))
    return yield* planPipeline(
      pipeline,
      params.map((p) => Either.getOrThrow(parseOverride(p))),
    )
  })

const plan = (dir: string, params: ReadonlyArray<string>) => Effect.runPromise(planOf(dir, params))

const run = (dir: string, params: ReadonlyArray<string>) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const p = yield* planOf(dir, params)
      const collected = collectingReporter()
      return yield* runPlan(p, { jobs: 2, force: [] }).pipe(Effect.provide(Layer.succeed(Reporter, collected.reporter)))
    }).pipe(Effect.provide(storeLayer(path.join(dir, "cache"), dir))),
  )

describe("when: an input needed for some params only", () => {
  afterAll(removeProjects)

  it("is wired and planned while its predicate holds", async () => {
    const dir = makeProject(files)
    const p = await plan(dir, [])
    expect(p.instances.map((i) => i.id)).toEqual(["download", "fit"])
    expect(p.byId.get("fit")!.inputs).toEqual({ weights: { kind: "one", id: "download" } })
    const r = await run(dir, [])
    expect(r.stages.find((s) => s.id === "download")?.status).toBe("failed")
  })

  it("is not planned, run or shown when no planned instance needs it", async () => {
    const dir = makeProject(files)
    const p = await plan(dir, ["given=w.bin"])
    expect(p.instances.map((i) => i.id)).toEqual(["fit"])
    expect(p.byId.get("fit")!.inputs).toEqual({})
    const r = await run(dir, ["given=w.bin"])
    expect(r.ok).toBe(true)
    expect(r.stages.map((s) => [s.id, s.status])).toEqual([["fit", "ran"]])
    // The CLI's views of the plan agree.
    expect((await cli(dir, ["dag", "pipelines/fit.ts", "--param", "given=w.bin"])).stdout).not.toContain("download")
    expect((await cli(dir, ["status", "pipelines/fit.ts", "--param", "given=w.bin"])).stdout).not.toContain("download")
    expect((await cli(dir, ["dag", "pipelines/fit.ts"])).stdout).toContain("download")
  })
})
