/**
 * Attacks 5-7: a stage's code closure is the module holding its `run` code and everything that
 * module imports, resolved as tsx resolves it:
 *  5. a helper imported from another stage's module is in the importer's closure (importing only a
 *     stage definition keeps early cutoff);
 *  6. a stage made by a factory hashes the caller's file (where its code is), not the factory's;
 *  7. a stray `x.js` beside `x.ts` is not what tsx runs, so not what is hashed.
 */
import { afterAll, describe, expect, it } from "vitest"
import { removeProjects } from "../support/helpers.js"
import { attackProject, cairn, edit, PATHS, pipelineFile, ran, run } from "./attack.js"
import * as fs from "node:fs"
import * as path from "node:path"

const stage = (name: string, imports: string, body: string, inputs = "clean") => `
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
import { ${inputs} } from "./${inputs === "clean" ? "clean" : inputs}.js"
${imports}
export const ${name.replace(/-(\w)/g, (_, c: string) => c.toUpperCase())} = defineStage({
  name: "${name}",
  params: Schema.Struct({}),
  inputs: { ${inputs} },
  run: (ctx) => Effect.gen(function* () {
    const seen = ${body}
    yield* ctx.metrics({ [ctx.id]: seen })
    return seen
  }),
})
`

/** What each stage computed in the last run (their metrics), from the JSON report. */
const seen = (dir: string) => (JSON.parse(fs.readFileSync(path.join(dir, "report.json"), "utf8")) as { metrics: Record<string, unknown> }).metrics

describe.each(PATHS)("code closures ($name)", (via) => {
  afterAll(removeProjects)

  it("5. a helper imported from another stage's module reruns the importer; a stage-only import keeps early cutoff", async () => {
    const helpers = (suffix: string, comment = "") =>
      stage("producer", `export const shout = (s: string) => s.toUpperCase() + "${suffix}"${comment}`, "shout(String(ctx.inputs.clean.value.lines))")
    const dir = attackProject({
      "stages/producer.ts": helpers("!"),
      "stages/borrower.ts": stage("borrower", 'import { shout } from "./producer.js"', 'shout("b")'),
      "stages/consumer.ts": stage("consumer", "", "ctx.inputs.producer.value", "producer"),
      "pipelines/closure.ts": pipelineFile("closure", { borrower: "../stages/borrower.js", consumer: "../stages/consumer.js" }, { data: "data", lower: true }),
    })
    expect((await run(dir, via, "pipelines/closure.ts")).code).toBe(0)
    expect(seen(dir)).toMatchObject({ borrower: "B!", consumer: "2!" })

    edit(dir, "stages/producer.ts", helpers("?"))
    const status = await cairn(dir, ["status", "pipelines/closure.ts"])
    expect(status.stdout).toMatch(/STALE\s+borrower\s+code: stages\/producer\.ts \(modified\)/)
    const edited = await run(dir, via, "pipelines/closure.ts")
    expect(edited.code, edited.stderr).toBe(0)
    expect(ran(edited).sort()).toEqual(["borrower", "consumer", "producer"])
    expect(seen(dir)).toMatchObject({ borrower: "B?", consumer: "2?" })

    // A comment in the producer's module: producer and borrower rerun (their code file changed),
    // consumer imports only the stage definition and its input is unchanged: served from cache.
    edit(dir, "stages/producer.ts", helpers("?", " // reworded"))
    const comment = await run(dir, via, "pipelines/closure.ts")
    expect(ran(comment).sort()).toEqual(["borrower", "producer"])
    expect(comment.statuses.consumer).toBe("cached")
  })

  it("6. a stage made by a factory hashes the file holding its run code", async () => {
    const factory = `
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
import { clean } from "./clean.js"
export const makeStage = (name: string, compute: (lines: number) => string) =>
  defineStage({
    name,
    params: Schema.Struct({}),
    inputs: { clean },
    run: (ctx) => Effect.gen(function* () {
      const seen = compute(ctx.inputs.clean.value.lines)
      yield* ctx.metrics({ [ctx.id]: seen })
      return seen
    }),
  })
`
    const user = (word: string) => `
import { makeStage } from "./factory.js"
export const made = makeStage("made", (n) => "${word}" + n)
`
    const dir = attackProject({
      "stages/factory.ts": factory,
      "stages/made.ts": user("one"),
      "pipelines/made.ts": pipelineFile("made", { made: "../stages/made.js", other: "../stages/other.js" }, { data: "data", lower: true, tag: "t" }),
    })
    expect((await run(dir, via, "pipelines/made.ts")).code).toBe(0)
    expect(seen(dir)).toMatchObject({ made: "one2" })
    edit(dir, "stages/made.ts", user("two"))
    const status = await cairn(dir, ["status", "pipelines/made.ts"])
    expect(status.stdout).toMatch(/STALE\s+made\s+code: stages\/made\.ts \(modified\)/)
    const edited = await run(dir, via, "pipelines/made.ts")
    expect(ran(edited)).toEqual(["made"])
    expect(seen(dir)).toMatchObject({ made: "two2" })
    // The factory is in the closure too (it holds the run wrapper).
    edit(dir, "stages/factory.ts", factory.replace("compute(ctx.inputs.clean.value.lines)", "compute(ctx.inputs.clean.value.lines + 1)"))
    const factoryEdited = await run(dir, via, "pipelines/made.ts")
    expect(ran(factoryEdited)).toEqual(["made"])
    expect(seen(dir)).toMatchObject({ made: "two3" })
  })

  it("7. a stray x.js beside x.ts: the closure hashes x.ts, which tsx runs", async () => {
    const dir = attackProject({
      "stages/wording.ts": 'export const word = "from-ts-1"\n',
      "stages/wording.js": 'export const word = "from-stray-js"\n',
      "stages/worded.ts": stage("worded", 'import { word } from "./wording.js"', "word"),
      "pipelines/worded.ts": pipelineFile("worded", { worded: "../stages/worded.js" }, { data: "data", lower: true }),
    })
    expect((await run(dir, via, "pipelines/worded.ts")).code).toBe(0)
    expect(seen(dir)).toMatchObject({ worded: "from-ts-1" })
    edit(dir, "stages/wording.ts", 'export const word = "from-ts-2"\n')
    const edited = await run(dir, via, "pipelines/worded.ts")
    expect(ran(edited)).toEqual(["worded"])
    expect(seen(dir)).toMatchObject({ worded: "from-ts-2" })
    // The stray file is not what runs: editing it reruns nothing.
    edit(dir, "stages/wording.js", 'export const word = "stray-2"\n')
    expect(ran(await run(dir, via, "pipelines/worded.ts"))).toEqual([])
  })
})
