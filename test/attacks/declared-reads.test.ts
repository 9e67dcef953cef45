/**
 * Attack 2: what a stage reads besides its inputs (a file named by a param, a fixed path, an
 * environment variable, the files its `engine` hook inspects) is in its key, and the fast path
 * stamps all of it: a change reruns the stage on both paths.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { removeProjects } from "../support/helpers.js"
import { attackProject, cairn, edit, PATHS, pipelineFile, ran, run } from "./attack.js"

const files = {
  "stages/weigh.ts": `
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
import { clean } from "./clean.js"
export const weigh = defineStage({
  name: "weigh",
  params: Schema.Struct({ weights: Schema.String, checkpoints: Schema.String }),
  inputs: { clean },
  env: ["WEIGH_SCALE"],
  reads: ["weights", "config/fixed.txt", (p) => (p.checkpoints ? path.join(p.checkpoints, "fold-0.bin") : undefined)],
  engine: () => Effect.sync(() => ({ device: fs.readFileSync("devices.txt", "utf8").trim() })),
  engineInputs: ["devices.txt"],
  run: (ctx) => Effect.sync(() => {
    const w = fs.readFileSync(ctx.params.weights, "utf8")
    const fixed = fs.readFileSync("config/fixed.txt", "utf8")
    const ckpt = ctx.params.checkpoints ? fs.readFileSync(path.join(ctx.params.checkpoints, "fold-0.bin"), "utf8") : ""
    const seen = [w, fixed, ckpt, process.env.WEIGH_SCALE ?? "", ctx.engine.device].join("|")
    return seen
  }).pipe(Effect.tap((seen) => ctx.metrics({ seen }))),
})
`,
  "pipelines/weigh.ts": pipelineFile(
    "weigh",
    { weigh: "../stages/weigh.js", other: "../stages/other.js" },
    { data: "data", lower: true, tag: "t", weights: "w.bin", checkpoints: "ckpt" },
  ),
  "w.bin": "w1",
  "config/fixed.txt": "f1",
  "ckpt/fold-0.bin": "c1",
  "devices.txt": "cpu",
}

/** What weigh saw in the last run (its metric), from the run's JSON report. */
const seen = (dir: string) => (JSON.parse(fs.readFileSync(path.join(dir, "report.json"), "utf8")) as { metrics: { seen?: string } }).metrics.seen

describe.each(PATHS)("declared reads ($name)", (via) => {
  afterAll(removeProjects)
  const changes: Array<[string, (dir: string) => void, string, string]> = [
    ["the file a param names", (dir) => edit(dir, "w.bin", "w2"), "read weights changed", "w2|f1|c1||cpu"],
    ["a fixed path", (dir) => edit(dir, "config/fixed.txt", "f2"), "read config/fixed.txt changed", "w1|f2|c1||cpu"],
    ["a file in a folder a param names", (dir) => edit(dir, "ckpt/fold-0.bin", "c2"), "changed", "w1|f1|c2||cpu"],
    ["an engine input", (dir) => edit(dir, "devices.txt", "gpu"), 'engine device: "cpu" -> "gpu"', "w1|f1|c1||gpu"],
  ]

  it.each(changes)("a change of %s reruns the stage that reads it, and status says why", async (_what, change, why, after) => {
    const dir = attackProject(files)
    expect((await run(dir, via, "pipelines/weigh.ts")).code).toBe(0)
    expect(ran(await run(dir, via, "pipelines/weigh.ts"))).toEqual([])
    change(dir)
    const status = await cairn(dir, ["status", "pipelines/weigh.ts"])
    expect(status.stdout).toMatch(/STALE\s+weigh/)
    expect(status.stdout).toContain(why)
    const rerun = await run(dir, via, "pipelines/weigh.ts")
    expect(rerun.code, rerun.stderr).toBe(0)
    expect(ran(rerun)).toEqual(["weigh"])
    expect(seen(dir)).toBe(after)
  })

  it("a declared environment variable is in the key; an undeclared one is not", async () => {
    const dir = attackProject(files)
    expect((await run(dir, via, "pipelines/weigh.ts")).code).toBe(0)
    const scaled = await run(dir, via, "pipelines/weigh.ts", [], { WEIGH_SCALE: "2" })
    expect(ran(scaled)).toEqual(["weigh"])
    expect(seen(dir)).toBe("w1|f1|c1|2|cpu")
    expect(ran(await run(dir, via, "pipelines/weigh.ts", [], { WEIGH_SCALE: "2" }))).toEqual([])
    expect(ran(await run(dir, via, "pipelines/weigh.ts", [], { WEIGH_SCALE: "2", SOMETHING_ELSE: "1" }))).toEqual([])
    // Unset again: the first result is served.
    expect(ran(await run(dir, via, "pipelines/weigh.ts"))).toEqual([])
    expect(seen(dir)).toBe("w1|f1|c1||cpu")
  })

  it("a read that does not exist is a configuration error naming the param (exit 2)", async () => {
    const dir = attackProject(files)
    const missing = await run(dir, via, "pipelines/weigh.ts", ["--param", "weights=nope.bin"])
    expect(missing.code).toBe(2)
    expect(missing.stdout + missing.stderr).toMatch(/weights.*nope\.bin/)
  })
})
