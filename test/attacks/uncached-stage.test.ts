/**
 * Attack 3: a `cache: false` stage runs on every `cairn run` (the fast path never replays a
 * pipeline holding one), and what depends on it sees its fresh result.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { removeProjects } from "../support/helpers.js"
import { attackProject, PATHS, pipelineFile, ran, run } from "./attack.js"

const files = {
  "stages/notify.ts": `
import * as fs from "node:fs"
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
import { count } from "./count.js"
export const notify = defineStage({
  name: "notify",
  params: Schema.Struct({}),
  inputs: { count },
  cache: false,
  run: (ctx) => Effect.sync(() => {
    fs.appendFileSync("notified.log", "sent " + ctx.inputs.count.value + "\\n")
    return null
  }),
})
`,
  "pipelines/notify.ts": pipelineFile("notify", { notify: "../stages/notify.js" }, { data: "data", lower: true, min: 1 }),
}

describe.each(PATHS)("an uncached stage ($name)", (via) => {
  afterAll(removeProjects)

  it("runs on every cairn run; the cached stages before it do not", async () => {
    const dir = attackProject(files)
    for (let i = 1; i <= 3; i++) {
      const r = await run(dir, via, "pipelines/notify.ts")
      expect(r.code, r.stderr).toBe(0)
      expect(r.replayed).toBe(false)
      expect(ran(r)).toEqual(i === 1 ? ["data", "clean", "count", "notify"] : ["notify"])
      expect(fs.readFileSync(path.join(dir, "notified.log"), "utf8").trim().split("\n")).toHaveLength(i)
    }
  })
})
