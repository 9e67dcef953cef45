/**
 * The smaller findings: cached values hold no absolute paths (a copy of the project elsewhere
 * shares the cache entries); a data folder that does not exist is a configuration error (exit 2)
 * naming the param; a stage failure keeps its cause for --verbose; a full disk under the cache is a
 * typed failure naming the path (exit 1), not an interrupt.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { removeProjects } from "../support/helpers.js"
import { attackProject, PATHS, pipelineFile, ran, run } from "./attack.js"

const via = PATHS[0]

const files = {
  "stages/locate.ts": `
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
import { data } from "./data.js"
export const locate = defineStage({
  name: "locate",
  params: Schema.Struct({ absolute: Schema.Boolean }),
  inputs: { data },
  run: (ctx) => Effect.sync(() => ({ file: ctx.params.absolute ? path.join(ctx.inputs.data.dir, "a.txt") : "a.txt" })),
})
`,
  "stages/explode.ts": `
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
import { clean } from "./clean.js"
const deep = () => { throw new Error("exploded deep inside") }
export const explode = defineStage({
  name: "explode",
  params: Schema.Struct({}),
  inputs: { clean },
  run: () => Effect.try({ try: deep, catch: (e) => e }),
})
`,
  "pipelines/locate.ts": pipelineFile(
    "locate",
    { locate: "../stages/locate.js", other: "../stages/other.js" },
    { data: "data", absolute: false, lower: true, tag: "t" },
  ),
  "pipelines/explode.ts": pipelineFile("explode", { explode: "../stages/explode.js" }, { data: "data", lower: true }),
}

describe("portable values and errors", () => {
  afterAll(removeProjects)

  it("a value holding an absolute path is refused; relative values are shared by a copy of the project", async () => {
    const dir = attackProject(files)
    const absolute = await run(dir, via, "pipelines/locate.ts", ["--param", "absolute=true"])
    expect(absolute.code).toBe(1)
    expect(absolute.stdout).toMatch(/locate\s+— its value holds an absolute path at file/)
    expect(absolute.statuses.other).toBe("ran")

    const first = await run(dir, via, "pipelines/locate.ts")
    expect(first.code, first.stderr).toBe(0)
    // The same project and data under another folder, sharing the cache folder: nothing reruns.
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-copy-"))
    try {
      for (const entry of ["data", "stages", "pipelines", "package.json"]) fs.cpSync(path.join(dir, entry), path.join(copy, entry), { recursive: true })
      fs.symlinkSync(fs.readlinkSync(path.join(dir, "node_modules")), path.join(copy, "node_modules"))
      const elsewhere = await run(copy, via, "pipelines/locate.ts", ["--cache-dir", path.join(dir, "cache")])
      expect(elsewhere.code, elsewhere.stdout + elsewhere.stderr).toBe(0)
      expect(ran(elsewhere)).toEqual([])
    } finally {
      fs.rmSync(copy, { recursive: true, force: true })
    }
  })

  it("a data folder that does not exist: exit 2 naming the param and the folder", async () => {
    const dir = attackProject(files)
    const r = await run(dir, via, "pipelines/locate.ts", ["--param", "data=no-such-folder"])
    expect(r.code).toBe(2)
    expect(r.stdout + r.stderr).toContain("param data=no-such-folder: no such file or folder")
    expect(r.stdout + r.stderr).not.toMatch(/ENOENT/)
  })

  it("a failed stage keeps its cause: --verbose prints the stack", async () => {
    const dir = attackProject(files)
    const r = await run(dir, via, "pipelines/explode.ts")
    expect(r.code).toBe(1)
    expect(r.stdout).toContain("exploded deep inside")
    expect(r.stderr).toMatch(/at deep \(.*stages\/explode\.ts/)
  })

  it("a full disk under the cache: a typed failure naming the path, exit 1 (not 130)", async () => {
    const dir = attackProject({
      ...files,
      "stages/big.ts": `
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
import { clean } from "./clean.js"
export const big = defineStage({
  name: "big",
  params: Schema.Struct({}),
  inputs: { clean },
  run: (ctx) => Effect.sync(() => fs.writeFileSync(path.join(ctx.outDir, "big.bin"), Buffer.alloc(3 << 20, 1))),
})
`,
      "pipelines/big.ts": pipelineFile("big", { big: "../stages/big.js" }, { data: "data", lower: true }),
    })
    const cache = path.join(dir, "small-cache")
    fs.mkdirSync(cache)
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", cache])
    if (mounted.status !== 0) {
      console.warn(`skipped: cannot mount a small tmpfs here (${mounted.stderr.toString().trim()})`)
      return
    }
    try {
      // The stage's own write fails: its error, as the stage saw it.
      const r = await run(dir, via, "pipelines/big.ts", ["--cache-dir", cache])
      expect(r.code).toBe(1)
      expect(r.stdout).toMatch(/FAILED\s+[\d.]+s\s+big\s+— .*ENOSPC/)
      // The disk full before anything runs: the runner's own bookkeeping fails, naming the path.
      fs.writeFileSync(path.join(cache, "filler"), Buffer.alloc(0))
      try {
        fs.appendFileSync(path.join(cache, "filler"), Buffer.alloc(4 << 20, 1))
      } catch (error) {
        expect((error as NodeJS.ErrnoException).code).toBe("ENOSPC")
      }
      const full = await run(dir, via, "pipelines/big.ts", ["--cache-dir", cache])
      expect(full.code).toBe(1)
      expect(full.stdout + full.stderr).toMatch(/no space left|ENOSPC/i)
      expect(full.stdout + full.stderr).toContain(cache)
      expect(full.stdout + full.stderr).not.toMatch(/interrupted/i)
    } finally {
      spawnSync("umount", ["-l", cache])
    }
  })
})
