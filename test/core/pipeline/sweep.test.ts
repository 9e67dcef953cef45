import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Either, Layer } from "effect"
import { afterAll, beforeEach, describe, expect, it } from "vitest"
import { loadPipeline } from "../../../src/cli/project.js"
import { paramSets, parseOverride, parseSweepAxis, planSweep, sweepVariants } from "../../../src/core/pipeline/index.js"
import { collectingReporter, Reporter } from "../../../src/core/reporter.js"
import { runPlan } from "../../../src/core/runner.js"
import { RunHistory } from "../../../src/core/store/run-history.js"
import { storeLayer } from "../../../src/core/store/store-layer.js"
import { saveSweepHistory } from "../../../src/core/sweep-report.js"
import { fixtureFiles } from "../../support/fixture-project.js"
import { makeProject, removeProjects } from "../../support/helpers.js"

const axes = (...texts: Array<string>) => texts.map((t) => Either.getOrThrow(parseSweepAxis(t)))

const sweepOf = (dir: string, file: string, sweeps: Array<string>, params: Array<string> = []) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const pipeline = yield* loadPipeline(path.join(dir, file))
      return yield* planSweep(
        pipeline,
        params.map((p) => Either.getOrThrow(parseOverride(p))),
        sweepVariants([], axes(...sweeps)),
      )
    }),
  )

describe("sweep axes and variants", () => {
  it("parses scoped names, JSON values with commas, and refuses empty or repeated values", () => {
    expect(axes("train.lr=1e-3,3e-4")).toEqual([{ param: "train.lr", values: ["1e-3", "3e-4"] }])
    expect(axes("sizes=[1,2],[3]")[0]!.values).toEqual(["[1,2]", "[3]"])
    expect(Either.isLeft(parseSweepAxis("lr=1,,2"))).toBe(true)
    expect(Either.getLeft(parseSweepAxis("lr=1,1")).pipe((e) => e._tag === "Some" && e.value.message)).toBe("--sweep lr=1,1: value 1 appears twice")
    expect(Either.isLeft(parseSweepAxis("lr"))).toBe(true)
  })

  it("crosses the axes (first slowest) with the param sets of a file", () => {
    const v = sweepVariants([], axes("epochs=2,3", "lr=1e-3,3e-4"))
    expect(v.map((x) => x.values)).toEqual([
      { epochs: "2", lr: "1e-3" },
      { epochs: "2", lr: "3e-4" },
      { epochs: "3", lr: "1e-3" },
      { epochs: "3", lr: "3e-4" },
    ])
    expect(v.map((x) => x.name)).toEqual(["v1", "v2", "v3", "v4"])
    const sets = Either.getOrThrow(paramSets("f.json", [{ lr: 0.001, model: "resnet18d" }, { lr: 0.01 }]))
    expect(sweepVariants(sets, axes("seed=1,2")).map((x) => x.values)).toEqual([
      { lr: "0.001", model: "resnet18d", seed: "1" },
      { lr: "0.001", model: "resnet18d", seed: "2" },
      { lr: "0.01", seed: "1" },
      { lr: "0.01", seed: "2" },
    ])
    expect(Either.getLeft(paramSets("f.json", { lr: 1 })).pipe((e) => e._tag === "Some" && e.value.message)).toContain("f.json: must hold a non-empty list")
    expect(Either.isLeft(paramSets("f.json", [1]))).toBe(true)
  })
})

describe("a sweep's plan", () => {
  afterAll(removeProjects)
  let dir: string
  beforeEach(() => {
    dir = makeProject(fixtureFiles())
  })

  it("plans the stages the variants share once, and the others once per variant", async () => {
    const sweep = await sweepOf(dir, "pipelines/chain.ts", ["min=1,6", "tag=a,b"])
    const ids = sweep.plan.instances.map((i) => i.id)
    // data and clean are the same in every variant: once, under their own ids.
    expect(ids.filter((id) => id.endsWith("clean"))).toEqual(["clean"])
    expect(ids.filter((id) => id === "data" || id.endsWith("/data"))).toEqual(["data"])
    // count depends on min only: v1 and v2 (min=1) share one, v3 and v4 (min=6) another.
    expect(ids.filter((id) => id.endsWith("count"))).toEqual(["v1/count", "v3/count"])
    expect(ids.filter((id) => id.endsWith("other"))).toEqual(["v1/other", "v2/other"])
    expect(ids.filter((id) => id.includes("split/"))).toHaveLength(6)
    expect(ids).toHaveLength(2 + 2 + 6 + 2 + 2)
    // Inputs are wired to the merged ids, in a topological order.
    const seen = new Set<string>()
    for (const inst of sweep.plan.instances) {
      for (const ref of Object.values(inst.inputs))
        for (const id of ref.kind === "one" ? [ref.id] : ref.ids) expect(seen.has(id), `${inst.id} <- ${id}`).toBe(true)
      seen.add(inst.id)
    }
    expect(sweep.plan.byId.get("v3/merge")!.inputs.parts).toEqual({ kind: "all", ids: ["v3/split/part-0", "v3/split/part-1", "v3/split/part-2"] })
    // Each variant maps its own ids to the sweep's; a queue worker plans the variant with its params.
    const v4 = sweep.variants[3]!
    expect(v4.idInSweep.get("count")).toBe("v3/count")
    expect(v4.idInSweep.get("other")).toBe("v2/other")
    expect(sweep.plan.byId.get("v3/count")!.origin).toEqual({ id: "count", params: ["min=6", "tag=a"] })
  })

  it("names the variant and value a stage's schema refuses", async () => {
    const e = await sweepOf(dir, "pipelines/chain.ts", ["min=1,x"]).then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(String(e)).toMatch(/--sweep: variant v2 \(min=x\): min=x: /)
  })

  it("runs the shared stages once; a failing variant leaves the others done, each saved as a run of its own", async () => {
    const log = path.join(dir, "runs.log")
    process.env.CAIRN_TEST_LOG = log
    const result = await Effect.runPromise(
      Effect.gen(function* () {
        const pipeline = yield* loadPipeline(path.join(dir, "pipelines/broken.ts"))
        const sweep = yield* planSweep(pipeline, [], sweepVariants([], axes("fail=true,false", "min=1,2")))
        const collected = collectingReporter()
        const report = yield* runPlan(sweep.plan, { jobs: 2, force: [], saveHistory: false }).pipe(Effect.provide(Layer.succeed(Reporter, collected.reporter)))
        const saved = yield* saveSweepHistory(report, sweep)
        const listed = yield* (yield* RunHistory).listHistory("broken")
        return { report, saved, listed }
      }).pipe(Effect.provide(storeLayer(path.join(dir, "cache"), dir))),
    )
    const status = Object.fromEntries(result.report.stages.map((s) => [s.id, s.status]))
    expect(status["v1/broken"]).toBe("failed")
    expect(status["v1/after-broken"]).toBe("skipped")
    expect(status["v3/broken"]).toBe("ran")
    expect(status["v3/after-broken"]).toBe("ran")
    expect(status["v2/count"]).toBe("ran") // min=2 in v2 and v4
    expect(
      fs
        .readFileSync(log, "utf8")
        .split("\n")
        .filter((l) => l === "clean"),
    ).toEqual(["clean"])
    expect(result.saved.reports.map((r) => r.ok)).toEqual([false, false, true, true])
    expect(result.saved.reports[2]!.stages.map((s) => `${s.id}:${s.status}`).sort()).toEqual([
      "after-broken:ran",
      "broken:ran",
      "clean:ran",
      "count:ran",
      "data:ran",
    ])
    expect(result.saved.reports[3]!.metrics).toEqual({ words: 4 })
    // Only the variants' runs are in the history, each tagged with the sweep and its values.
    const bodies = result.listed.map((f) => f.body as { sweep: { id: string; variant: string; values: Record<string, string> }; ok: boolean })
    expect(bodies.map((b) => [b.sweep.variant, b.sweep.values, b.ok]).sort()).toEqual([
      ["v1", { fail: "true", min: "1" }, false],
      ["v2", { fail: "true", min: "2" }, false],
      ["v3", { fail: "false", min: "1" }, true],
      ["v4", { fail: "false", min: "2" }, true],
    ])
    expect(new Set(bodies.map((b) => b.sweep.id)).size).toBe(1)
  })
})
