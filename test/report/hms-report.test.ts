import { Effect, Either } from "effect"
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { FileError } from "../../src/core/errors.js"
import { ReportDataInvalid } from "../../src/report/report-errors.js"
import { STATUS_STYLES } from "../../src/report/theme.js"
import {
  type BuiltHmsReport,
  buildHmsReport,
  formatDuration,
  formatParam,
  HMS_REPORT_FILES,
  type HmsReportData,
  shortClassName,
  validateHmsReportData,
  writeHmsReport,
} from "../../stages/hms/report/index.js"
import { FAKE_EPOCHS, fakeHmsReportData } from "./fake-hms.js"
import { markGroups, markItems } from "./svg-inspect.js"

const dir = mkdtempSync(join(tmpdir(), "cairn-report-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const data = fakeHmsReportData()
const N_FOLDS = data.folds.length
let built: BuiltHmsReport
const chart = (file: string): string => built.charts.find((c) => c.file === file)!.svg

beforeAll(async () => {
  built = await Effect.runPromise(buildHmsReport(data))
})

const invalidField = (patch: (d: HmsReportData) => HmsReportData): string => {
  const r = validateHmsReportData(patch(data))
  if (Either.isRight(r)) throw new Error("expected the record to be rejected")
  expect(r.left).toBeInstanceOf(ReportDataInvalid)
  return r.left.field
}

describe("the fake record", () => {
  it("is realistic: 5 folds of 9 epochs, 6 classes, 17 stages, and valid", () => {
    expect(N_FOLDS).toBe(5)
    for (const f of data.folds) expect(f.history).toHaveLength(FAKE_EPOCHS)
    expect(data.classes).toHaveLength(6)
    expect(data.stages).toHaveLength(17)
    expect(Either.isRight(validateHmsReportData(data))).toBe(true)
  })
})

describe("buildHmsReport", () => {
  it("has the sections in the required order", () => {
    const headings = [...built.html.matchAll(/<section id="([^"]+)"><h2>([^<]*)<\/h2>/g)].map((m) => m[1])
    expect(headings).toEqual(["summary", "dag", "loss-curves", "confusion", "per-class-kl", "cv-vs-baseline", "stage-times", "params"])
  })

  it("summarises CV, baseline, their ratio, per-fold scores, wall time and date", () => {
    const summary = /<section id="summary">(.*?)<\/section>/s.exec(built.html)![1]!
    expect(summary).toContain(`<span class="big">${data.cvScore.toFixed(4)}</span>`)
    expect(summary).toContain(`${data.priorBaseline.toFixed(4)} <span class="muted">`)
    const ratio = data.cvScore / data.priorBaseline
    expect(summary).toContain(`<td>${ratio.toFixed(3)} <span class="muted">(${(100 * (1 - ratio)).toFixed(1)}% below the baseline)</span></td>`)
    expect(summary).toContain(`<td>${data.foldScores.map((s) => s.toFixed(4)).join(", ")}</td>`)
    expect(summary).toContain(`<td>${formatDuration(data.seconds)}</td>`)
    expect(summary).toContain("<td>2025-03-14 09:26:53 UTC</td>")
    expect(summary).toContain("<td>10 ran, 6 cached, 0 failed, 1 skipped</td>")
    // Per-fold table: one row per fold with best epoch, best val loss, OOF KL.
    for (const [i, f] of data.folds.entries()) {
      expect(summary).toContain(
        `<tr><td>fold ${f.fold}</td><td class="num">${f.bestEpoch}</td><td class="num">${f.bestValLoss.toFixed(4)}</td><td class="num">${data.foldScores[i]!.toFixed(4)}</td><td class="num">${FAKE_EPOCHS}</td></tr>`,
      )
    }
  })

  it("inlines every chart once, each with a link to its file, and nothing else that could load", () => {
    expect(built.charts.map((c) => c.file)).toEqual([
      HMS_REPORT_FILES.dag,
      HMS_REPORT_FILES.lossCurves,
      HMS_REPORT_FILES.confusion,
      HMS_REPORT_FILES.perClassKl,
      HMS_REPORT_FILES.cvVsBaseline,
      HMS_REPORT_FILES.stageTimes,
    ])
    for (const c of built.charts) {
      expect(built.html.split(c.svg)).toHaveLength(2)
      expect(built.html).toContain(`href="${c.file}"`)
    }
    expect(built.html.match(/<svg[\s>]/g)).toHaveLength(6)
    expect(built.html).not.toMatch(/<script|\ssrc=/i)
    // No id is defined twice in the page (charts would steal each other's clip paths or gradients).
    const ids = [...built.html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1])
    expect(new Set(ids).size).toBe(ids.length)
  })

  it("escapes params, sorted by name", () => {
    const params = /<section id="params">(.*?)<\/section>/s.exec(built.html)![1]!
    expect(params).not.toContain("<script>")
    expect(params).toContain("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; \\&quot;quotes\\&quot;")
    const names = [...params.matchAll(/<tr><td><code>([^<]*)<\/code><\/td>/g)].map((m) => m[1])
    expect(names).toEqual(["augment", "batchSize", "epochs", "folds", "lr", "model", "note", "seed"])
    expect(params).toContain(`<code>{&quot;hflip&quot;: false, &quot;mixup&quot;: null}</code>`)
  })

  it("draws the DAG with one box per stage in its status colour", () => {
    const svg = chart(HMS_REPORT_FILES.dag)
    const boxes = [...svg.matchAll(/<g class="dag-node status-([a-z]+)" data-id="([^"]*)"[^>]*><title>[^<]*<\/title><rect [^>]*fill="([^"]+)"/g)]
    expect(boxes.map((b) => b[2])).toEqual(data.stages.map((s) => s.id))
    for (const [i, b] of boxes.entries()) {
      expect(b[1]).toBe(data.stages[i]!.status)
      expect(b[3]).toBe(STATUS_STYLES[data.stages[i]!.status].fill)
    }
    expect(svg.match(/<g class="dag-edge"/g)).toHaveLength(data.edges.length)
  })

  it("draws train and validation loss per fold, every epoch, best epochs marked on the validation curve", () => {
    const svg = chart(HMS_REPORT_FILES.lossCurves)
    const lines = markGroups(svg, "lines").flat()
    expect(lines).toHaveLength(2 * N_FOLDS)
    for (const l of lines) expect(l.attrs.d!.match(/[ML]/g)).toHaveLength(FAKE_EPOCHS)
    expect(markItems(svg, "points")).toHaveLength(2 * N_FOLDS * FAKE_EPOCHS)
    const best = markItems(svg, "highlights")
    expect(best).toHaveLength(N_FOLDS)
    // Each diamond sits on a validation point of the same epoch.
    const points = markItems(svg, "points")
    for (const [i, f] of data.folds.entries()) {
      const valAtBest = f.history.find((h) => h.epoch === f.bestEpoch)!.valLoss
      const p = points.find(
        (q) => q.attrs["aria-label"] === `epoch: ${f.bestEpoch}; loss (KL divergence): ${valAtBest}; series: fold ${f.fold}; style: validation`,
      )
      expect(p, `fold ${f.fold}`).toBeDefined()
      expect(best[i]!.x).toBeCloseTo(p!.x!, 6)
      expect(best[i]!.y).toBeCloseTo(p!.y!, 6)
    }
  })

  it("writes the confusion counts into the cells, true classes as rows, short class names", () => {
    const svg = chart(HMS_REPORT_FILES.confusion)
    const labels = markItems(svg, "cell_labels")
    expect(labels.map((l) => l.text)).toEqual(data.confusion.flat().map(String))
    const names = data.classes.map(shortClassName)
    expect(names).toEqual(["Seizure", "LPD", "GPD", "LRDA", "GRDA", "Other"])
    expect(labels[1]!.attrs["aria-label"]).toBe(`predicted class: ${names[1]}; true class: ${names[0]}; value: ${data.confusion[0]![1]}`)
  })

  it("shows per-class KL, CV vs baseline with the ratio, and stage times coloured by status", () => {
    const kl = chart(HMS_REPORT_FILES.perClassKl)
    expect(markItems(kl, "bar_labels").map((t) => t.text)).toEqual(data.classes.map((c) => data.perClassKl[c]!.toFixed(4)))

    const cv = chart(HMS_REPORT_FILES.cvVsBaseline)
    expect(markItems(cv, "bar_labels").map((t) => t.text)).toEqual([...data.foldScores, data.cvScore].map((v) => v.toFixed(4)))
    expect(markItems(cv, "reference_label").map((t) => t.text)).toEqual([`prior baseline ${data.priorBaseline.toFixed(4)}`])
    expect(cv).toContain(`CV / baseline = ${data.cvScore.toFixed(4)} / ${data.priorBaseline.toFixed(4)} = ${(data.cvScore / data.priorBaseline).toFixed(3)}`)

    const times = chart(HMS_REPORT_FILES.stageTimes)
    expect(markItems(times, "bars").map((b) => b.attrs.fill)).toEqual(data.stages.map((s) => STATUS_STYLES[s.status].stroke))
    expect(markItems(times, "bar_labels").map((t) => t.text)).toEqual(data.stages.map((s) => s.seconds.toFixed(2)))
  })

  it("is deterministic: the same record gives the same page and charts", async () => {
    const again = await Effect.runPromise(buildHmsReport(fakeHmsReportData()))
    expect(again.html).toBe(built.html)
    expect(again.charts).toEqual(built.charts)
    const other = await Effect.runPromise(buildHmsReport(fakeHmsReportData(1)))
    expect(other.html).not.toBe(built.html)
  })
})

describe("writeHmsReport", () => {
  it("writes report.html and the six charts, and returns their paths", async () => {
    const out = join(dir, "run")
    const files = await writeHmsReport(data, out)
    expect(files).toEqual([join(out, "report.html"), ...built.charts.map((c) => join(out, c.file))])
    expect(readFileSync(join(out, "report.html"), "utf8")).toBe(built.html)
    for (const c of built.charts) expect(readFileSync(join(out, c.file), "utf8")).toBe(c.svg)
    expect(readdirSync(join(out, "charts")).sort()).toEqual([
      "confusion.svg",
      "cv-vs-baseline.svg",
      "dag.svg",
      "loss-curves.svg",
      "per-class-kl.svg",
      "stage-times.svg",
    ])
  })

  it("rejects with the tagged error: invalid data, unwritable folder", async () => {
    const bad = { ...data, foldScores: data.foldScores.slice(1) }
    const e1 = await writeHmsReport(bad, join(dir, "bad")).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(e1).toBeInstanceOf(ReportDataInvalid)
    expect((e1 as ReportDataInvalid).message).toBe("HMS report data: foldScores: has 4 scores for 5 folds")
    const blocker = join(dir, "a-file")
    writeFileSync(blocker, "x")
    const e2 = await writeHmsReport(data, blocker).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(e2).toBeInstanceOf(FileError)
    expect((e2 as FileError).file).toBe(join(blocker, HMS_REPORT_FILES.dag))
  })
})

describe("validateHmsReportData", () => {
  it("names the field at fault", () => {
    expect(invalidField((d) => ({ ...d, confusion: d.confusion.map((r, i) => (i === 2 ? r.slice(1) : r)) }))).toBe("confusion[2]")
    expect(invalidField((d) => ({ ...d, confusion: d.confusion.map((r, i) => (i === 1 ? r.map((v, j) => (j === 3 ? 2.5 : v)) : r)) }))).toBe("confusion[1][3]")
    expect(invalidField((d) => ({ ...d, perClassKl: { ...d.perClassKl, lpd_vote: Number.NaN } }))).toBe(`perClassKl["lpd_vote"]`)
    expect(invalidField((d) => ({ ...d, perClassKl: { ...d.perClassKl, extra: 0 } }))).toBe(`perClassKl["extra"]`)
    expect(invalidField((d) => ({ ...d, folds: d.folds.map((f, i) => (i === 3 ? { ...f, bestEpoch: 42 } : f)) }))).toBe("folds[3].bestEpoch")
    expect(
      invalidField((d) => ({
        ...d,
        folds: d.folds.map((f, i) => (i === 1 ? { ...f, history: f.history.map((h, e) => (e === 4 ? { ...h, valLoss: Number.NaN } : h)) } : f)),
      })),
    ).toBe("folds[1].history[4].valLoss")
    expect(invalidField((d) => ({ ...d, priorBaseline: 0 }))).toBe("priorBaseline")
    expect(invalidField((d) => ({ ...d, startedAt: "yesterday" }))).toBe("startedAt")
    expect(invalidField((d) => ({ ...d, classes: [...d.classes.slice(0, 5), "seizure_vote"] }))).toBe("classes[5]")
  })
})

describe("formatting", () => {
  it("formats durations, params and class names without locale", () => {
    expect(formatDuration(12.345)).toBe("12.35 s")
    expect(formatDuration(245)).toBe("4 min 05 s")
    expect(formatDuration(3723.4)).toBe("1 h 02 min 03 s")
    expect(formatParam({ b: [1, Number.NaN], a: undefined, c: 2n })).toBe(`{"a": undefined, "b": [1, NaN], "c": 2n}`)
    expect(shortClassName("grda_vote")).toBe("GRDA")
    expect(shortClassName("foo_vote")).toBe("foo")
  })

  it("with a seed spread: a model per fold and seed, CV per seed, and the seed-spread chart", async () => {
    const seeds = [1086, 1, 2]
    const spread: HmsReportData = {
      ...data,
      folds: data.folds.flatMap((f) => seeds.map((seed, j) => ({ ...f, seed, bestValLoss: f.bestValLoss + 0.01 * j }))),
      seedScores: seeds.map((seed, j) => ({ seed, cvScore: data.cvScore + 0.02 * j })),
    }
    const r = await Effect.runPromise(buildHmsReport(spread))
    expect(r.charts.map((c) => c.file)).toContain(HMS_REPORT_FILES.seedSpread)
    expect(r.html).toContain("CV per seed")
    expect(r.html).toContain("fold 0 seed 1086")
    const svg = r.charts.find((c) => c.file === HMS_REPORT_FILES.seedSpread)!.svg
    for (const seed of seeds) expect(svg).toContain(`seed ${seed}`)
    // Without a spread the chart is not there.
    expect(built.charts.map((c) => c.file)).not.toContain(HMS_REPORT_FILES.seedSpread)
  })

  it("a replay says so, and shows when each cached result was computed and how long it took then", async () => {
    const replay: HmsReportData = {
      ...data,
      replayed: true,
      stages: data.stages.map((st) => ({ ...st, status: "cached" as const, seconds: 0, computed: { at: "2026-12-01T10:00:00.000Z", seconds: 123 } })),
    }
    const r = await Effect.runPromise(buildHmsReport(replay))
    expect(r.html).toContain("replayed from its stamp: nothing ran")
    expect(r.html).toContain("replayed (nothing ran)")
    expect(r.html).toContain(formatDuration(123))
    expect(r.html).not.toContain("0 ran, ")
  })
})
