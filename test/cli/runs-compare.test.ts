import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { ChromiumCheckFailed, checkReport, DEFAULT_CHROMIUM } from "../../bench/check-report.js"
import type { HistoryEntry } from "../../src/cli/history-view.js"
import { comparisonCsv, compareRuns, renderComparison, selectRuns } from "../../src/cli/runs-compare.js"
import { runsPage, writeRunsPage } from "../../src/cli/runs-html.js"
import { fixtureFiles } from "../support/fixture-project.js"
import { cli, makeProject, removeProjects } from "../support/helpers.js"

const runChromium = fs.existsSync(DEFAULT_CHROMIUM) || process.env["CAIRN_REQUIRE_CHROMIUM"] === "1"

/** A variant of sweep `s1` with a CV, per-fold scores and, with `seeds`, a CV per seed. */
const variant = (name: string, values: Record<string, string>, cv: number, folds: Array<number>, seeds: Array<number> = [], ok = true): HistoryEntry => ({
  runId: `s1-${name}`,
  pipeline: "p",
  startedAt: "2026-12-08T00:00:00.000Z",
  seconds: 12.5,
  ok,
  params: { lr: 1 },
  metrics: {
    ...(ok ? { cv_score: cv } : {}),
    ...Object.fromEntries(folds.map((f, i) => [`fold${i}_score`, f])),
    ...Object.fromEntries(seeds.map((s, i) => [`cv_score[seed-${i + 1}]`, s])),
    prior_baseline: 1.2,
  },
  stages: [],
  headline: "cv_score",
  sweep: { id: "s1", variant: name, values, sweepSeconds: 40 },
})

// v2 is v1 minus 0.05 on every fold (plus small noise): a real difference; v3 fails.
const v1 = variant("v1", { lr: "1e-3", epochs: "2" }, 0.7, [0.71, 0.69, 0.72, 0.68], [0.69, 0.71])
const v2 = variant("v2", { lr: "3e-4", epochs: "2" }, 0.65, [0.661, 0.639, 0.668, 0.632], [0.64, 0.66, 0.65])
const v3 = variant("v3", { lr: "1e-3", epochs: "3" }, 0, [], [], false)
const other: HistoryEntry = { ...v1, runId: "plain-run", sweep: undefined, params: { lr: 2 }, metrics: { cv_score: 0.9 } }

describe("comparing runs", () => {
  afterAll(removeProjects)

  it("sorts by CV, shows the varied params, mean ± sd over seeds, folds, and the paired difference against the baseline", () => {
    const runs = compareRuns([v1, v2, v3], undefined)
    expect(runs.map((r) => r.variant)).toEqual(["v2", "v1", "v3"])
    expect(runs[0]!.params).toEqual({ lr: 3e-4, epochs: 2 })
    expect(runs[0]!.cv.mean).toBeCloseTo(0.65, 12)
    expect(runs[0]!.cv.sd).toBeCloseTo(0.01, 12)
    expect(runs[0]!.folds).toEqual({ "0": 0.661, "1": 0.639, "2": 0.668, "3": 0.632 })
    const vs = runs[0]!.vsBaseline!
    expect(vs.baseline).toBe("s1-v1")
    expect(vs.n).toBe(4)
    expect(vs.mean).toBeCloseTo(-0.05, 3)
    expect(vs.interval![1]).toBeLessThan(0) // the interval excludes 0
    expect(runs[1]!.baseline).toBe(true)
    const text = renderComparison(runs)
    const lines = text.split("\n")
    expect(lines[0]).toBe("sweep s1, 3 runs, sorted by cv_score")
    expect(lines[1]).toMatch(/^run\s+lr\s+epochs\s+cv_score\s+folds 0 1 2 3\s+seconds\s+vs v1 \(paired over folds, 95% CI\)\s+status$/)
    expect(lines[2]).toMatch(/^v2\s+3e-4\s+2\s+0\.65 ± 0\.01 \(3 seeds\)\s+0\.6610 0\.6390 0\.6680 0\.6320\s+12\.5\s+-0\.05\d* \[-0\.0\d+, -0\.0\d+\]\s+ok$/)
    expect(lines[3]).toMatch(/^v1\s+1e-3\s+2\s+0\.7 ± 0\.014142 \(2 seeds\)\s+0\.7100 0\.6900 0\.7200 0\.6800\s+12\.5\s+baseline\s+ok$/)
    expect(lines[4]).toMatch(/^v3\s+1e-3\s+3\s+-\s+- - - -\s+12\.5\s+-\s+FAILED$/)
  })

  it("takes a chosen baseline, and compares any runs by the params that differ among them", () => {
    const runs = compareRuns([v1, v2], v2)
    expect(runs.find((r) => r.variant === "v1")!.vsBaseline!.mean).toBeCloseTo(0.05, 3)
    expect(compareRuns([v1, other], undefined).map((r) => r.params)).toEqual([{ lr: 1 }, { lr: 2 }])
  })

  it("CSV and JSON carry every run with its params and metrics", () => {
    const runs = compareRuns([v1, v2, v3], undefined)
    const csv = comparisonCsv(runs).split("\n")
    expect(csv[0]).toBe("run_id,variant,status,lr,epochs,cv_metric,cv,cv_mean,cv_sd,seeds,fold0,fold1,fold2,fold3,seconds,vs_baseline,vs_low,vs_high")
    expect(csv[1]).toMatch(/^s1-v2,v2,ok,0\.0003,2,cv_score,0\.65,0\.65\d*,0\.01\d*,3,0\.661,0\.639,0\.668,0\.632,12\.5,-0\.0\d+,-0\.0\d+,-0\.0\d+$/)
    expect(csv[3]).toBe("s1-v3,v3,failed,0.001,3,cv_score,,,,0,,,,,12.5,,,")
    const json = JSON.parse(JSON.stringify(runs)) as Array<{ params: Record<string, unknown>; metrics: Record<string, unknown> }>
    expect(json.map((r) => [r.params, r.metrics.cv_score])).toEqual([
      [{ lr: 3e-4, epochs: 2 }, 0.65],
      [{ lr: 1e-3, epochs: 2 }, 0.7],
      [{ lr: 1e-3, epochs: 3 }, undefined],
    ])
  })

  it("selects the last sweep, a sweep by id, or runs by id, and says what it cannot find", () => {
    const later = { ...v1, runId: "s2-v1", sweep: { ...v1.sweep!, id: "s2" } }
    expect(selectRuns([v1, v2, other, later], "last", [])).toEqual([later])
    expect(selectRuns([v1, v2, other, later], "s1", [])).toEqual([v1, v2])
    expect(selectRuns([v1, v2, other], undefined, ["plain", "s1-v2"])).toEqual([other, v2])
    expect(selectRuns([other], "last", [])).toMatch(/^no sweep recorded/)
    expect(selectRuns([v1], "zz", [])).toMatch(/^no sweep "zz"/)
    expect(selectRuns([v1], undefined, ["nope"])).toMatch(/^no run "nope"/)
  })

  it("writes a page with the CV-with-spread and per-fold charts, and never overwrites a file it did not write", async () => {
    const dir = makeProject({})
    const runs = compareRuns([v1, v2, v3], undefined)
    const html = await Effect.runPromise(runsPage(runs))
    expect((html.match(/<svg/g) ?? []).length).toBe(2)
    expect(html).toContain('class="mark-rule role-mark spread_marks"')
    expect(html).toContain("samples_marks")
    const file = path.join(dir, "runs.html")
    fs.writeFileSync(file, "my notes\n")
    const refused = await Effect.runPromise(Effect.flip(writeRunsPage(runs, file)))
    expect(refused.message).toContain("not overwritten")
    expect(fs.readFileSync(file, "utf8")).toBe("my notes\n")
    fs.rmSync(file)
    await Effect.runPromise(writeRunsPage(runs, file))
    await Effect.runPromise(writeRunsPage(runs, file)) // its own page: replaced
    if (!runChromium) return
    const check = await checkReport(file).catch((e: unknown) => {
      throw e instanceof ChromiumCheckFailed ? new Error(e.message) : e
    })
    expect(check.consoleErrors).toEqual([])
    expect(check.pageErrors).toEqual([])
    expect(check.ok).toBe(true)
    expect(check.svgCount).toBe(2)
    expect(check.title).toBe("sweep s1")
  })

  it("cairn run --sweep records one run per variant; cairn runs --sweep last compares them (table, JSON, CSV)", async () => {
    const dir = makeProject(fixtureFiles())
    const run = await cli(dir, ["run", "pipelines/chain.ts", "--sweep", "min=1,6", "--sweep", "tag=a,b", "-j", "2"])
    expect(run.code, run.stdout + run.stderr).toBe(0)
    expect(run.stdout).toContain("sweep: 4 variants, 2 stages shared by all")
    // data and clean once, count/split/merge per min (2), other per tag (2).
    expect(run.stdout).toContain("ok: 14 ran, 0 cached, 0 failed, 0 skipped")
    expect(run.stdout).toMatch(/ {2}v4 min=6 tag=b: ok, words 1 \(/)
    const table = await cli(dir, ["runs", "--sweep", "last"])
    expect(table.code, table.stderr).toBe(0)
    const lines = table.stdout.trim().split("\n")
    expect(lines).toHaveLength(6)
    expect(lines[1]).toMatch(/^run\s+min\s+tag\s+words\s+seconds/)
    expect(lines.slice(2).map((l) => l.split(/\s+/).slice(0, 4).join(" "))).toEqual(["v3 6 a 1", "v4 6 b 1", "v1 1 a 4", "v2 1 b 4"])
    const json = JSON.parse((await cli(dir, ["runs", "--sweep", "last", "--json"])).stdout) as Array<{
      params: Record<string, unknown>
      metrics: Record<string, unknown>
    }>
    expect(json.map((r) => [r.params, r.metrics.words, r.metrics.total])).toEqual([
      [{ min: 6, tag: "a" }, 1, 1],
      [{ min: 6, tag: "b" }, 1, 1],
      [{ min: 1, tag: "a" }, 4, 4],
      [{ min: 1, tag: "b" }, 4, 4],
    ])
    const csv = (await cli(dir, ["runs", "--sweep", "last", "--csv"])).stdout.trim().split("\n")
    expect(csv).toHaveLength(5)
    expect(csv[1]).toMatch(/,v3,ok,6,a,words,1,/)
    // The same again: everything cached, a new sweep of the same four.
    const again = await cli(dir, ["run", "pipelines/chain.ts", "--sweep", "min=1,6", "--sweep", "tag=a,b"])
    expect(again.stdout).toContain("ok: 0 ran, 14 cached")
  })
})
