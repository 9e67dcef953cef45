/**
 * Attack 4: an input read in place (a source folder, a declared read) edited while its stage runs.
 * The stage fails with "changed while running" naming the file, nothing is committed, and once the
 * file is back to a settled state every later run serves what that content computes.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { removeProjects, waitFor } from "../support/helpers.js"
import { attackProject, edit, PATHS, pipelineFile, ran, run } from "./attack.js"

const files = {
  "stages/slow-read.ts": `
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
import { data } from "./data.js"
export const slowRead = defineStage({
  name: "slow-read",
  params: Schema.Struct({ vocab: Schema.String }),
  inputs: { data },
  reads: ["vocab"],
  run: (ctx) => Effect.gen(function* () {
    const text = fs.readFileSync(path.join(ctx.inputs.data.dir, "a.txt"), "utf8") + fs.readFileSync(ctx.params.vocab, "utf8")
    if (process.env.CAIRN_TEST_STARTED) fs.writeFileSync(process.env.CAIRN_TEST_STARTED, "started")
    const release = process.env.CAIRN_TEST_RELEASE
    while (release && !fs.existsSync(release)) yield* Effect.sleep(20)
    yield* ctx.metrics({ text })
    return text
  }),
})
`,
  "pipelines/slow-read.ts": pipelineFile("slow-read", { slowRead: "../stages/slow-read.js" }, { data: "data", vocab: "vocab.txt" }),
  "vocab.txt": "v1",
}

/** What slow-read computed, from the run's JSON report (its metric). */
const computed = (dir: string) => (JSON.parse(fs.readFileSync(path.join(dir, "report.json"), "utf8")) as { metrics: { text?: string } }).metrics.text

describe.each(PATHS)("an input changed while its stage runs ($name)", (via) => {
  afterAll(removeProjects)

  it.each([
    ["a file of a source folder", "data/a.txt", "Hello World\n", "Edited\n"],
    ["a declared read", "vocab.txt", "v1", "v2"],
  ])("%s: the stage fails naming the file, nothing is stored, later runs compute from settled content", async (_what, rel, before, during) => {
    const dir = attackProject(files)
    const started = path.join(dir, "started")
    const release = path.join(dir, "release")
    const running = run(dir, via, "pipelines/slow-read.ts", [], { CAIRN_TEST_STARTED: started, CAIRN_TEST_RELEASE: release })
    await waitFor(() => fs.existsSync(started), 60_000, "the stage to start")
    edit(dir, rel, during)
    fs.writeFileSync(release, "go")
    const failed = await running
    expect(failed.code).toBe(1)
    expect(failed.stdout).toMatch(/failed slow-read: .*changed while (it|the stage) ran|input changed while running/i)
    expect(failed.stdout).toContain(rel)

    // Restored to what the stage started from: the result is computed from it (nothing was stored
    // under its key by the interrupted run), then served from the cache.
    edit(dir, rel, before)
    const again = await run(dir, via, "pipelines/slow-read.ts")
    expect(again.code, again.stderr).toBe(0)
    expect(ran(again)).toEqual(["slow-read"])
    expect(computed(dir)).toBe("Hello World\nv1")
    const third = await run(dir, via, "pipelines/slow-read.ts")
    expect(ran(third)).toEqual([])
    expect(computed(dir)).toBe("Hello World\nv1")

    edit(dir, rel, during)
    const edited = await run(dir, via, "pipelines/slow-read.ts")
    const rehashed = rel.startsWith("data/") ? ["data"] : [] // a source reports "ran" when its files changed
    expect(ran(edited)).toEqual([...rehashed, "slow-read"])
    expect(computed(dir)).toBe(rel === "vocab.txt" ? "Hello World\nv2" : "Edited\nv1")
  })
})
