import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Either, Layer } from "effect"
import { afterAll, beforeEach, describe, expect, it } from "vitest"
import { loadPipeline } from "../../src/cli/project.js"
import { parseOverride, planPipeline } from "../../src/core/pipeline/index.js"
import { collectingReporter, Reporter } from "../../src/core/reporter.js"
import { runPlan } from "../../src/core/runner.js"
import { pipelineStatus } from "../../src/core/pipeline-status.js"
import { Cache } from "../../src/core/store/cache.js"
import { storeLayer } from "../../src/core/store/store-layer.js"
import { fixtureFiles, memoFiles } from "../support/fixture-project.js"
import { makeProject, removeProjects, writeFile } from "../support/helpers.js"

/** Ages the data files so the file-hash memo may remember them (fresh files are always re-read). */
const ageData = (dir: string) => {
  const old = new Date(Date.now() - 60_000)
  for (const f of fs.readdirSync(path.join(dir, "data"))) fs.utimesSync(path.join(dir, "data", f), old, old)
}

const run = (dir: string, pipelineFile: string, params: ReadonlyArray<string> = [], force: ReadonlyArray<string> = []) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const pipeline = yield* loadPipeline(path.join(dir, pipelineFile))
      const plan = yield* planPipeline(
        pipeline,
        params.map((p) => Either.getOrThrow(parseOverride(p))),
      )
      const collected = collectingReporter()
      const store = yield* Cache
      const report = yield* runPlan(plan, { jobs: 2, force }).pipe(Effect.provide(Layer.succeed(Reporter, collected.reporter)))
      const status = Object.fromEntries(report.stages.map((s) => [s.id, s.status]))
      return { report, status, readFiles: [...store.fileHashes.readFiles], lines: collected.lines }
    }).pipe(Effect.provide(storeLayer(path.join(dir, "cache"), dir))),
  )

const ran = (status: Record<string, string>) =>
  Object.entries(status)
    .filter(([, s]) => s === "ran")
    .map(([id]) => id)
    .sort()

describe("runner", () => {
  afterAll(removeProjects)
  let dir: string
  let log: string
  beforeEach(() => {
    dir = makeProject({ ...fixtureFiles(), ...memoFiles() })
    ageData(dir)
    log = path.join(dir, "runs.log")
    process.env.CAIRN_TEST_LOG = log
  })
  const runsLogged = () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").split("\n").filter(Boolean).sort() : [])

  it("runs everything once, then nothing, and reads no data file on a no-op rerun", async () => {
    const first = await run(dir, "pipelines/chain.ts")
    expect(
      first.report.stages.filter((s) => s.error),
      JSON.stringify(first.report.stages),
    ).toEqual([])
    expect(first.report.ok).toBe(true)
    expect(ran(first.status)).toEqual(["clean", "count", "data", "merge", "other", "split/part-0", "split/part-1", "split/part-2"])
    expect(first.report.metrics).toEqual({ words: 4, total: 4 })
    expect(first.readFiles.map((f) => path.basename(f)).sort()).toEqual(["a.txt", "b.txt"])

    fs.writeFileSync(log, "")
    const second = await run(dir, "pipelines/chain.ts")
    expect(Object.values(second.status).every((s) => s === "cached")).toBe(true)
    expect(second.readFiles).toEqual([])
    expect(runsLogged()).toEqual([])
    expect(second.report.metrics).toEqual(first.report.metrics)
  })

  it("changing one param reruns exactly the stages downstream of it", async () => {
    await run(dir, "pipelines/chain.ts")
    const r = await run(dir, "pipelines/chain.ts", ["min=6"])
    expect(ran(r.status)).toEqual(["count", "merge", "split/part-0", "split/part-1", "split/part-2"])
    expect(r.status.other).toBe("cached")
    expect(r.status.clean).toBe("cached")
    // A param of one stage only.
    const t = await run(dir, "pipelines/chain.ts", ["min=6", "other.tag=x"])
    expect(ran(t.status)).toEqual(["other"])
  })

  it("editing a helper reruns the stage that imports it and its dependents; an unrelated file changes nothing", async () => {
    await run(dir, "pipelines/chain.ts")
    writeFile(dir, "stages/unrelated.ts", "export const unused = 2\n")
    const same = await run(dir, "pipelines/chain.ts")
    expect(ran(same.status)).toEqual([])
    writeFile(dir, "stages/text-helpers.ts", "export const normalize = (s: string, lower: boolean) => (lower ? s.toLowerCase() : s).trim()  // edited\n")
    const edited = await run(dir, "pipelines/chain.ts")
    // clean's code changed; its output is byte-identical, so everything below is an early-cutoff hit.
    expect(ran(edited.status)).toEqual(["clean"])
    // (A helper edit that changes the output is tested through the CLI, which loads the new code.)
  })

  it("a changed data file reruns its consumers; status names the file", async () => {
    await run(dir, "pipelines/chain.ts")
    fs.writeFileSync(path.join(dir, "data", "b.txt"), "Third File here\n")
    const { status, statusReads } = await Effect.runPromise(
      Effect.gen(function* () {
        const pipeline = yield* loadPipeline(path.join(dir, "pipelines/chain.ts"))
        const plan = yield* planPipeline(pipeline, [])
        const status = yield* pipelineStatus(plan)
        return { status, statusReads: [...(yield* Cache).fileHashes.readFiles] }
      }).pipe(Effect.provide(storeLayer(path.join(dir, "cache"), dir))),
    )
    const data = status.find((s) => s.id === "data")!
    expect(data.state).toBe("stale")
    expect(data.reasons.join(" ")).toContain("b.txt (modified)")
    expect(status.find((s) => s.id === "clean")!.reasons.join(" ")).toContain("upstream stale: data")
    const r = await run(dir, "pipelines/chain.ts")
    expect(r.status.clean).toBe("ran")
    // Only the changed file is read again: by status, or by the run when status's read of the
    // just-written file could not be trusted yet (its stamp was racy), depending on timing.
    expect([...new Set([...statusReads, ...r.readFiles].map((f) => path.basename(f)))]).toEqual(["b.txt"])
  })

  it("status names the changed param with its old and new value", async () => {
    await run(dir, "pipelines/chain.ts")
    const status = await Effect.runPromise(
      Effect.gen(function* () {
        const pipeline = yield* loadPipeline(path.join(dir, "pipelines/chain.ts"))
        const plan = yield* planPipeline(pipeline, [Either.getOrThrow(parseOverride("min=3"))])
        return yield* pipelineStatus(plan)
      }).pipe(Effect.provide(storeLayer(path.join(dir, "cache"), dir))),
    )
    const byId = Object.fromEntries(status.map((s) => [s.id, s]))
    expect(byId.clean!.state).toBe("fresh")
    expect(byId.count!.state).toBe("stale")
    expect(byId.count!.reasons).toEqual(["param min: 1 -> 3"])
    expect(byId["split/part-0"]!.reasons).toEqual(["upstream stale: count"])
    expect(byId.other!.state).toBe("fresh")
  })

  it("a failure skips its dependents, the other branches finish, and nothing of it is cached", async () => {
    const r = await run(dir, "pipelines/broken.ts")
    expect(r.report.ok).toBe(false)
    expect(r.status).toMatchObject({ data: "ran", clean: "ran", broken: "failed", "after-broken": "skipped", count: "ran" })
    expect(r.report.stages.find((s) => s.id === "broken")!.error).toContain("broken on purpose")
    const again = await run(dir, "pipelines/broken.ts", ["fail=false"])
    expect(again.status).toMatchObject({ broken: "ran", "after-broken": "ran", count: "cached" })
    // The failed attempt left no staging behind.
    expect(fs.readdirSync(path.join(dir, "cache", "tmp"))).toEqual([])
  })

  it("--force reruns a cached stage", async () => {
    await run(dir, "pipelines/chain.ts")
    const r = await run(dir, "pipelines/chain.ts", [], ["count"])
    expect(ran(r.status)).toEqual(["count"])
  })

  it("memo items: only the changed file of a folder is recomputed; unhashable outputs are refused", async () => {
    const first = await run(dir, "pipelines/memo.ts")
    expect(first.status["per-file"]).toBe("ran")
    expect(first.report.metrics.computed).toBe(2)
    expect(first.status["bad-value"]).toBe("failed")
    expect(first.report.stages.find((s) => s.id === "bad-value")!.error).toMatch(/cannot be cached: cannot hash the value at value.when: a Date object/)
    fs.writeFileSync(path.join(dir, "data", "c.txt"), "third\n")
    fs.writeFileSync(log, "")
    const second = await run(dir, "pipelines/memo.ts")
    expect(second.status["per-file"]).toBe("ran")
    expect(second.report.metrics.computed).toBe(1)
    expect(runsLogged()).toEqual(["item:c.txt"])
    const out = second.report.artifacts.get("per-file")!.dir
    expect(fs.readdirSync(out).sort()).toEqual(["a.txt.up", "b.txt.up", "c.txt.up"])
    expect(fs.readFileSync(path.join(out, "c.txt.up"), "utf8")).toBe("THIRD\n")

    // A failure after some items were computed leaves none of them (nor anything else) behind.
    const itemsBefore = fs.readdirSync(path.join(dir, "cache", "items")).flatMap((s) => fs.readdirSync(path.join(dir, "cache", "items", s)))
    fs.writeFileSync(path.join(dir, "data", "d.txt"), "fourth\n")
    fs.writeFileSync(path.join(dir, "data", "fail.txt"), "x\n")
    const failed = await run(dir, "pipelines/memo.ts")
    expect(failed.status["per-file"]).toBe("failed")
    const itemsAfter = fs.readdirSync(path.join(dir, "cache", "items")).flatMap((s) => fs.readdirSync(path.join(dir, "cache", "items", s)))
    expect(itemsAfter.sort()).toEqual(itemsBefore.sort())
    expect(fs.readdirSync(path.join(dir, "cache", "tmp"))).toEqual([])
  })
})
