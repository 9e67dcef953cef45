/**
 * A small pipeline of cairn's own, used by the core and CLI tests:
 *
 *   data (source) -> clean -> count -> split/part-0..N-1 -> merge
 *                          \-> other
 *
 * Every stage appends "<id>" to the file named by $CAIRN_TEST_LOG when it runs, so tests can
 * count executions across processes. `slow` writes $CAIRN_TEST_STARTED, sleeps `ms` (or
 * $CAIRN_TEST_SLEEP_MS), then waits for the file $CAIRN_TEST_RELEASE when that is set.
 */
export const fixtureFiles = (): Record<string, string> => ({
  "data/a.txt": "Hello World\n",
  "data/b.txt": "Second File\n",
  "stages/log.ts": `
import * as fs from "node:fs"
export const logRun = (id: string) => {
  const file = process.env.CAIRN_TEST_LOG
  if (file) fs.appendFileSync(file, id + "\\n")
}
`,
  "stages/text-helpers.ts": `
export const normalize = (s: string, lower: boolean) => (lower ? s.toLowerCase() : s).trim()
`,
  "stages/unrelated.ts": `
export const unused = 1
`,
  "stages/data.ts": `
import { Schema } from "effect"
import { defineSource } from "@cairn"
export const data = defineSource({ name: "data", param: "data", params: Schema.Struct({ data: Schema.String }) })
`,
  "stages/clean.ts": `
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
import { data } from "./data.js"
import { logRun } from "./log.js"
import { normalize } from "./text-helpers.js"
export const clean = defineStage({
  name: "clean",
  params: Schema.Struct({ lower: Schema.Boolean }),
  inputs: { data },
  run: (ctx) => Effect.sync(() => {
    logRun(ctx.id)
    const dir = ctx.inputs.data.dir
    const text = fs.readdirSync(dir).sort().map((f) => normalize(fs.readFileSync(path.join(dir, f), "utf8"), ctx.params.lower)).join("\\n")
    fs.writeFileSync(path.join(ctx.outDir, "clean.txt"), text)
    return { lines: text.split("\\n").length }
  }),
})
`,
  "stages/count.ts": `
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
import { clean } from "./clean.js"
import { logRun } from "./log.js"
export const count = defineStage({
  name: "count",
  params: Schema.Struct({ min: Schema.Number }),
  inputs: { clean },
  run: (ctx) => Effect.gen(function* () {
    logRun(ctx.id)
    const words = fs.readFileSync(path.join(ctx.inputs.clean.dir, "clean.txt"), "utf8").split(/\\s+/).filter((w) => w.length >= ctx.params.min)
    fs.writeFileSync(path.join(ctx.outDir, "words.json"), JSON.stringify(words))
    yield* ctx.metrics({ words: words.length })
    return words.length
  }),
})
`,
  "stages/split.ts": `
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
import { count } from "./count.js"
import { logRun } from "./log.js"
export const split = defineStage({
  name: "split",
  params: Schema.Struct({ part: Schema.Number, parts: Schema.Number }),
  inputs: { count },
  run: (ctx) => Effect.sync(() => {
    logRun(ctx.id)
    const words = JSON.parse(fs.readFileSync(path.join(ctx.inputs.count.dir, "words.json"), "utf8")) as string[]
    const mine = words.filter((_, i) => i % ctx.params.parts === ctx.params.part)
    fs.writeFileSync(path.join(ctx.outDir, "part.txt"), mine.join(" "))
    return mine.length
  }),
})
`,
  "stages/merge.ts": `
import { Effect, Schema } from "effect"
import { allOf, defineStage } from "@cairn"
import { split } from "./split.js"
import { logRun } from "./log.js"
export const merge = defineStage({
  name: "merge",
  params: Schema.Struct({}),
  inputs: { parts: allOf(split) },
  run: (ctx) => Effect.gen(function* () {
    logRun(ctx.id)
    const total = ctx.inputs.parts.reduce((a, p) => a + p.value, 0)
    yield* ctx.metrics({ total })
    return total
  }),
})
`,
  "stages/other.ts": `
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
import { clean } from "./clean.js"
import { logRun } from "./log.js"
export const other = defineStage({
  name: "other",
  params: Schema.Struct({ tag: Schema.String }),
  inputs: { clean },
  run: (ctx) => Effect.sync(() => {
    logRun(ctx.id)
    fs.writeFileSync(path.join(ctx.outDir, "tagged.txt"), ctx.params.tag + ":" + fs.readFileSync(path.join(ctx.inputs.clean.dir, "clean.txt"), "utf8"))
    return null
  }),
})
`,
  "stages/slow.ts": `
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
import { clean } from "./clean.js"
import { logRun } from "./log.js"
export const slow = defineStage({
  name: "slow",
  params: Schema.Struct({ ms: Schema.Number }),
  inputs: { clean },
  run: (ctx) => Effect.gen(function* () {
    logRun(ctx.id + ":start")
    fs.writeFileSync(path.join(ctx.outDir, "partial.bin"), Buffer.alloc(1 << 20, 7))
    if (process.env.CAIRN_TEST_STARTED) fs.writeFileSync(process.env.CAIRN_TEST_STARTED, "started")
    yield* Effect.sleep(Number(process.env.CAIRN_TEST_SLEEP_MS ?? ctx.params.ms))
    // With CAIRN_TEST_RELEASE, also wait until the test creates that file (no race with a timer).
    const release = process.env.CAIRN_TEST_RELEASE
    while (release && !fs.existsSync(release)) yield* Effect.sleep(20)
    fs.writeFileSync(path.join(ctx.outDir, "done.txt"), "done")
    logRun(ctx.id + ":end")
    return null
  }),
})
`,
  "stages/broken.ts": `
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
import { clean } from "./clean.js"
export const broken = defineStage({
  name: "broken",
  params: Schema.Struct({ fail: Schema.Boolean }),
  inputs: { clean },
  run: (ctx) => ctx.params.fail ? Effect.fail(new Error("broken on purpose")) : Effect.succeed(1),
})
`,
  "stages/after-broken.ts": `
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
import { broken } from "./broken.js"
export const afterBroken = defineStage({
  name: "after-broken",
  params: Schema.Struct({}),
  inputs: { broken },
  run: () => Effect.succeed(2),
})
`,
  "pipelines/chain.ts": `
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { definePipeline, fanOut, fromParam, range } from "@cairn"
import { merge } from "../stages/merge.js"
import { other } from "../stages/other.js"
import { split } from "../stages/split.js"
export default definePipeline({
  name: "chain",
  stages: [merge, other],
  fanOut: [fanOut(split, "part", fromParam(split, "parts", range))],
  params: { data: "data", lower: false, min: 1, parts: 3, tag: "t" },
  publish: { "out/merge": merge, "out/other": other },
  afterRun: {
    outDir: "out/report",
    write: (run) => Effect.sync(() => fs.writeFileSync(path.join(run.outDir, "summary.txt"), run.stages.map((s) => s.id + " " + s.status).join("\\n") + "\\nwords " + String(run.artifacts.get("count")?.value))),
  },
})
`,
  "pipelines/slow.ts": `
import { definePipeline } from "@cairn"
import { count } from "../stages/count.js"
import { slow } from "../stages/slow.js"
export default definePipeline({
  name: "slow",
  stages: [count, slow],
  params: { data: "data", lower: false, min: 1, ms: 200 },
})
`,
  "pipelines/broken.ts": `
import { definePipeline } from "@cairn"
import { afterBroken } from "../stages/after-broken.js"
import { count } from "../stages/count.js"
export default definePipeline({
  name: "broken",
  stages: [afterBroken, count],
  params: { data: "data", lower: false, min: 1, fail: true },
})
`,
})

/** A stage with a per-file memo, and one returning a value that cannot be hashed. */
export const memoFiles = (): Record<string, string> => ({
  "stages/per-file.ts": `
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
import { data } from "./data.js"
import { logRun } from "./log.js"
export const perFile = defineStage({
  name: "per-file",
  params: Schema.Struct({}),
  inputs: { data },
  run: (ctx) => Effect.gen(function* () {
    let computed = 0
    for (const f of fs.readdirSync(ctx.inputs.data.dir).sort()) {
      const src = path.join(ctx.inputs.data.dir, f)
      const item = yield* ctx.memo({ name: f, key: { file: yield* ctx.hashFile(src) } }, (dir) => Effect.sync(() => {
        logRun("item:" + f)
        fs.writeFileSync(path.join(dir, f + ".up"), fs.readFileSync(src, "utf8").toUpperCase())
        return { bytes: fs.statSync(src).size }
      }))
      if (!item.cached) computed++
      yield* ctx.linkFile(path.join(item.dir, f + ".up"), f + ".up")
      if (f === "fail.txt") return yield* Effect.fail(new Error("fail.txt is not allowed"))
    }
    yield* ctx.metrics({ computed })
    return computed
  }),
})
`,
  "stages/bad-value.ts": `
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
export const badValue = defineStage({ name: "bad-value", params: Schema.Struct({}), run: () => Effect.succeed({ when: new Date(0) }) })
`,
  "pipelines/memo.ts": `
import { definePipeline } from "@cairn"
import { perFile } from "../stages/per-file.js"
import { badValue } from "../stages/bad-value.js"
export default definePipeline({ name: "memo", stages: [perFile, badValue], params: { data: "data" } })
`,
})
