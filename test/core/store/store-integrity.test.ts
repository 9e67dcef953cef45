/**
 * Attack 8: a flipped byte in a stored blob, a file deleted from a stored tree, a stage that
 * writes into its (hard-linked, read-only) input as root. None of them is ever served: a damaged
 * tree is a miss, `cairn verify` finds what stamps cannot (a flip with the mtime put back) and
 * quarantines it, and a stage writing into its input fails without harming what others read.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { removeProjects } from "../../support/helpers.js"
import { attackProject, cairn, flipFirstByte, PATHS, pipelineFile, ran, run, storedCleanFile, taggedOutput } from "../../attacks/attack.js"

const files = {
  "stages/vandal.ts": `
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
import { clean } from "./clean.js"
export const vandal = defineStage({
  name: "vandal",
  params: Schema.Struct({ vandalize: Schema.Boolean }),
  inputs: { clean },
  run: (ctx) => Effect.sync(() => {
    const file = path.join(ctx.inputs.clean.dir, "clean.txt")
    if (ctx.params.vandalize) {
      fs.chmodSync(file, 0o644) // root can do this to a read-only file; cairn must notice
      fs.appendFileSync(file, "vandalized")
    }
    return fs.readFileSync(file, "utf8").length
  }),
})
`,
  "pipelines/vandal.ts": pipelineFile("vandal", { vandal: "../stages/vandal.js" }, { data: "data", lower: false, vandalize: true }),
}

describe.each(PATHS)("store integrity ($name)", (via) => {
  afterAll(removeProjects)

  it("a flipped byte in a stored blob is a miss: the stage reruns and the right content is published", async () => {
    const dir = attackProject(files)
    expect((await run(dir, via, "pipelines/chain.ts")).code).toBe(0)
    expect(taggedOutput(dir)).toBe("t:Hello World\nSecond File")
    flipFirstByte(storedCleanFile(dir), false)
    const again = await run(dir, via, "pipelines/chain.ts")
    expect(again.code, again.stderr).toBe(0)
    expect(again.replayed).toBe(false)
    expect(ran(again)).toContain("clean")
    expect(again.statuses.count).toBe("cached") // same content again: early cutoff below it
    expect(taggedOutput(dir)).toBe("t:Hello World\nSecond File")
    expect((await cairn(dir, ["verify"])).stdout).toContain("store is consistent")
  })

  it("a file deleted from a stored tree is a miss", async () => {
    const dir = attackProject(files)
    expect((await run(dir, via, "pipelines/chain.ts")).code).toBe(0)
    fs.rmSync(storedCleanFile(dir))
    const again = await run(dir, via, "pipelines/chain.ts")
    expect(again.code, again.stderr).toBe(0)
    expect(ran(again)).toContain("clean")
    expect(taggedOutput(dir)).toBe("t:Hello World\nSecond File")
  })

  it("a flip that keeps the mtime is found by cairn verify, quarantined, and rerun", async () => {
    const dir = attackProject(files)
    expect((await run(dir, via, "pipelines/chain.ts")).code).toBe(0)
    flipFirstByte(storedCleanFile(dir), true)
    const verify = await cairn(dir, ["verify"])
    expect(verify.code).toBe(1)
    expect(verify.stdout).toMatch(/corrupt object [0-9a-f]{64}: quarantined/)
    expect(fs.readdirSync(path.join(dir, "cache", "quarantine")).length).toBeGreaterThan(0)
    const again = await run(dir, via, "pipelines/chain.ts")
    expect(again.code, again.stderr).toBe(0)
    expect(ran(again)).toContain("clean")
    expect(taggedOutput(dir)).toBe("t:Hello World\nSecond File")
    const clean = await cairn(dir, ["verify"])
    expect(clean.code).toBe(0)
    expect(clean.stdout).toContain("store is consistent")
  })

  it("a stage writing into its input as root fails; the damaged input is dropped, never served", async () => {
    const dir = attackProject(files)
    const r = await run(dir, via, "pipelines/vandal.ts")
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/vandal\s+— its input clean was written into while it ran: clean\.txt \(modified\)/)
    expect((await cairn(dir, ["verify"])).stdout).toContain("store is consistent")
    // The damaged result was dropped: the next run that needs it recomputes it, never serves it.
    const chain = await run(dir, via, "pipelines/chain.ts")
    expect(chain.code, chain.stderr).toBe(0)
    expect(ran(chain)).toContain("clean")
    expect(taggedOutput(dir)).toBe("t:Hello World\nSecond File")
    const fixed = await run(dir, via, "pipelines/vandal.ts", ["--param", "vandalize=false"])
    expect(fixed.code, fixed.stderr).toBe(0)
    expect(fixed.statuses.clean).toBe("cached")
    expect(ran(fixed)).toEqual(["vandal"])
  })
})
