/**
 * Memory planning in the runner: stages declare their need (`resources`), the plan refuses a need
 * above the budget before anything runs, and the runner never runs together instances whose needs
 * do not fit the budget side by side. Overlap is read from the stages' own event log, not from time.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Either, Layer } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { loadPipeline } from "../../src/cli/project.js"
import { parseOverride, planPipeline } from "../../src/core/pipeline/index.js"
import { collectingReporter, Reporter } from "../../src/core/reporter.js"
import { GIB, MemoryOverBudget, memorySummary, parseMemorySize, planMemory } from "../../src/core/resources.js"
import { runPlan } from "../../src/core/runner.js"
import { storeLayer } from "../../src/core/store/store-layer.js"
import { cli, makeProject, removeProjects } from "../support/helpers.js"

/**
 * Two instances of one stage, each needing `gib` GiB. Each logs its start, then waits until the other
 * has started (they overlap) or the runner has said it holds the other back (the `.held` file the
 * test's reporter writes), then logs its end.
 */
const FILES = {
  "stages/big.ts": `
import * as fs from "node:fs"
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"

const log = () => process.env.CAIRN_TEST_LOG ?? ""
const events = () => (fs.existsSync(log()) ? fs.readFileSync(log(), "utf8").split("\\n").filter(Boolean) : [])

export const big = defineStage({
  name: "big",
  params: Schema.Struct({ part: Schema.Int, gib: Schema.Number }),
  resources: (p) => Effect.succeed({ memoryBytes: p.gib * 1024 ** 3, subject: \`part \${p.part}\` }),
  run: (ctx) =>
    Effect.gen(function* () {
      const other = 1 - ctx.params.part
      fs.appendFileSync(log(), \`start \${ctx.params.part}\\n\`)
      while (!events().includes(\`start \${other}\`) && !fs.existsSync(\`\${log()}.held\`)) yield* Effect.sleep("20 millis")
      fs.appendFileSync(log(), \`end \${ctx.params.part}\\n\`)
      return ctx.params.part
    }),
})
`,
  "pipelines/mem.ts": `
import { definePipeline, fanOut } from "@cairn"
import { big } from "../stages/big.js"
export default definePipeline({ name: "mem", stages: [big], fanOut: [fanOut(big, "part", [0, 1])], params: { gib: 10 } })
`,
}

const BUDGET = { bytes: 16 * GIB, origin: "--memory 16G" }

const runMem = (dir: string, gib: number, withMemory: boolean) => {
  const log = path.join(dir, `events-${gib}.log`)
  process.env.CAIRN_TEST_LOG = log
  const collected = collectingReporter()
  const reporter = {
    ...collected.reporter,
    waiting: (id: string, detail: string) =>
      Effect.zipRight(
        collected.reporter.waiting(id, detail),
        Effect.sync(() => fs.writeFileSync(`${log}.held`, id)),
      ),
  }
  return Effect.runPromise(
    Effect.gen(function* () {
      const pipeline = yield* loadPipeline(path.join(dir, "pipelines/mem.ts"))
      const plan = yield* planPipeline(pipeline, [Either.getOrThrow(parseOverride(`gib=${gib}`))])
      const memory = yield* planMemory(plan, BUDGET, 2)
      const report = yield* runPlan(plan, { jobs: 2, force: [], ...(withMemory ? { memory } : {}) }).pipe(Effect.provide(Layer.succeed(Reporter, reporter)))
      return { report, memory, events: fs.readFileSync(log, "utf8").split("\n").filter(Boolean), lines: collected.lines }
    }).pipe(Effect.provide(storeLayer(path.join(dir, "cache"), dir))),
  )
}

/** Whether one instance started while the other was running. */
const overlapped = (events: ReadonlyArray<string>) => events.slice(0, 2).every((e) => e.startsWith("start "))

describe("memory admission", () => {
  afterAll(removeProjects)

  it("never runs two 10 GiB instances together under a 16 GiB budget: the second waits, and says so", async () => {
    const dir = makeProject(FILES)
    const r = await runMem(dir, 10, true)
    expect(r.report.ok, JSON.stringify(r.report.stages)).toBe(true)
    expect(overlapped(r.events), r.events.join(", ")).toBe(false)
    expect(r.events).toHaveLength(4)
    expect(
      r.lines.some((l) => /waiting: memory: needs ~10 GiB, 10 GiB of the 16 GiB budget held/.test(l)),
      r.lines.join("\n"),
    ).toBe(true)
    expect(memorySummary(r.memory)).toBe("memory 16 GiB (big: ~10 GiB each, 1 at a time)")
  })

  it("without the memory plan the same two run together (the check above can fail)", async () => {
    const dir = makeProject(FILES)
    const r = await runMem(dir, 10, false)
    expect(overlapped(r.events), r.events.join(", ")).toBe(true)
  })

  it("runs two 6 GiB instances together under the same budget", async () => {
    const dir = makeProject(FILES)
    const r = await runMem(dir, 6, true)
    expect(overlapped(r.events), r.events.join(", ")).toBe(true)
    expect(r.lines.filter((l) => l.includes("waiting: memory"))).toEqual([])
    expect(memorySummary(r.memory)).toBe("memory 16 GiB (big: ~6 GiB each, 2 at a time)")
  })

  it("refuses at plan time a need above the whole budget, naming need and budget", async () => {
    const dir = makeProject(FILES)
    const refused = await Effect.runPromise(
      Effect.gen(function* () {
        const pipeline = yield* loadPipeline(path.join(dir, "pipelines/mem.ts"))
        const plan = yield* planPipeline(pipeline, [Either.getOrThrow(parseOverride("gib=20"))])
        return yield* Effect.flip(planMemory(plan, BUDGET, 2))
      }),
    )
    expect(refused).toBeInstanceOf(MemoryOverBudget)
    expect(refused.message).toMatch(/^big: part 0 needs ~20 GiB of memory, more than this run's budget of 16 GiB \(--memory 16G\): nothing ran/)
  })

  it("cairn run: the plan line shows budget and need; a need above --memory exits 2 before anything runs", async () => {
    const dir = makeProject(FILES)
    const ok = await cli(dir, ["run", "pipelines/mem.ts", "--jobs", "2", "--memory", "16G", "--param", "gib=6"], { CAIRN_TEST_LOG: path.join(dir, "cli.log") })
    expect(ok.code, ok.stdout + ok.stderr).toBe(0)
    expect(ok.stdout).toContain("cairn run mem: 2 stages, jobs 2, memory 16 GiB (big: ~6 GiB each, 2 at a time), cache cache")
    const log = path.join(dir, "refused.log")
    const refused = await cli(dir, ["run", "pipelines/mem.ts", "--memory", "16G", "--param", "gib=20"], { CAIRN_TEST_LOG: log })
    expect(refused.code, refused.stdout + refused.stderr).toBe(2)
    expect(refused.stderr).toContain("big: part 0 needs ~20 GiB of memory, more than this run's budget of 16 GiB (--memory 16G)")
    expect(fs.existsSync(log)).toBe(false)
    const env = await cli(dir, ["run", "pipelines/mem.ts", "--param", "gib=20"], { CAIRN_TEST_LOG: log, CAIRN_MEMORY: "8G" })
    expect(env.code).toBe(2)
    expect(env.stderr).toContain("budget of 8 GiB (CAIRN_MEMORY=8G)")
    const bad = await cli(dir, ["run", "pipelines/mem.ts", "--memory", "16"], { CAIRN_TEST_LOG: log })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("--memory 16: expected a size with a unit, like 16G or 512M")
  })

  it("reads sizes with binary units", () => {
    expect(parseMemorySize("16G")).toEqual(Either.right(16 * GIB))
    expect(parseMemorySize("1.5TiB")).toEqual(Either.right(1.5 * 1024 * GIB))
    expect(parseMemorySize("512m")).toEqual(Either.right(512 * 1024 ** 2))
    expect(Either.isLeft(parseMemorySize("16"))).toBe(true)
    expect(Either.isLeft(parseMemorySize("0G"))).toBe(true)
  })
})
