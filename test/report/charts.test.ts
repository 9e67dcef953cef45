import { describe, expect, it } from "vitest"
import { barChart, heatmap, horizontalBarChart, lineChart, type LinePoint } from "../../src/report/charts/index.js"
import { ChartInputInvalid, ChartRenderFailed } from "../../src/report/report-errors.js"
import { ACCENT, SERIES_PALETTE } from "../../src/report/theme.js"
import { renameSvgIds, renderVegaLite, type VegaLiteSpec } from "../../src/report/vega.js"
import { left, right } from "../support/assert-helpers.js"
import { markGroups, markItems } from "./svg-inspect.js"

/** 3 series × 2 styles × 4 x values, y distinct per point. */
const linePoints = (): Array<LinePoint> => {
  const out: Array<LinePoint> = []
  for (const s of ["a", "b", "c"])
    for (const style of ["train", "val"])
      for (let x = 1; x <= 4; x++) out.push({ x, y: x * 0.1 + s.charCodeAt(0) + (style === "val" ? 0.05 : 0), series: s, style })
  return out
}

const lineSpec = () =>
  right(
    lineChart({
      title: "loss",
      xTitle: "epoch",
      yTitle: "loss",
      points: linePoints(),
      styles: ["train", "val"],
      highlights: [
        { x: 2, y: 97.25, series: "a", label: "best" },
        { x: 3, y: 99.35, series: "c" },
      ],
      highlightTitle: "best epoch",
      integerX: true,
    }),
  )

describe("renderVegaLite", () => {
  it("draws one line per (series, style), one point per value, one diamond per highlight", async () => {
    const svg = await renderVegaLite(lineSpec())
    const lines = markGroups(svg, "lines").flat()
    expect(lines).toHaveLength(6)
    // Each line passes through its 4 points: M + 3 L.
    for (const l of lines) expect(l.attrs.d!.match(/[ML]/g)).toHaveLength(4)
    // Solid for train, dashed for val, three of each; colours by series in palette order.
    expect(lines.filter((l) => l.attrs["stroke-dasharray"] === "1,0")).toHaveLength(3)
    expect(lines.filter((l) => l.attrs["stroke-dasharray"] === "6,4")).toHaveLength(3)
    expect(new Set(lines.map((l) => l.attrs.stroke))).toEqual(new Set(SERIES_PALETTE.slice(0, 3)))
    expect(markItems(svg, "points")).toHaveLength(24)
    const hl = markItems(svg, "highlights")
    expect(hl).toHaveLength(2)
    for (const h of hl) expect(h.attrs.stroke).toBe(ACCENT)
    expect(markItems(svg, "highlight_labels").map((t) => t.text)).toEqual(["best"])
  })

  it("is deterministic: the same spec renders to the same bytes, ids included", async () => {
    const spec = right(
      heatmap({
        title: "h",
        rowLabels: ["a", "b"],
        colLabels: ["x", "y"],
        values: [
          [1, 2],
          [3, 4],
        ],
        rowTitle: "r",
        colTitle: "c",
      }),
    )
    const a = await renderVegaLite(spec)
    await renderVegaLite(lineSpec()) // moves vega's global id counters
    const b = await renderVegaLite(spec)
    expect(b).toBe(a)
    // The colour legend's gradient got a hashed id, and its reference follows it.
    const ids = [...a.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]!)
    expect(ids.length).toBeGreaterThan(0)
    for (const id of ids) {
      expect(id).toMatch(/^vl-[0-9a-f]{10}-\d+$/)
      expect(a).toContain(`url(#${id})`)
    }
    const other = await renderVegaLite(right(heatmap({ title: "h2", rowLabels: ["a"], colLabels: ["x"], values: [[1]], rowTitle: "r", colTitle: "c" })))
    const otherIds = [...other.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]!)
    for (const id of otherIds) expect(ids).not.toContain(id)
  })

  it("fails with ChartRenderFailed on a spec vega-lite rejects, and on warnings unless told otherwise", async () => {
    const bad = { title: "broken", mark: "nonsense", data: { values: [] } } as unknown as VegaLiteSpec
    const e1 = await renderVegaLite(bad).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(e1).toBeInstanceOf(ChartRenderFailed)
    expect((e1 as ChartRenderFailed).phase).toBe("compile")
    expect((e1 as ChartRenderFailed).message).toContain('chart "broken"')

    // An unknown field type makes vega-lite warn and drop the channel.
    const warns = {
      title: "warns",
      data: { values: [{ a: 1 }] },
      mark: "point",
      encoding: { x: { field: "a", type: "quantitative" }, size: { field: "a", type: "geojson" } },
    } as unknown as VegaLiteSpec
    const e2 = await renderVegaLite(warns).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(e2).toBeInstanceOf(ChartRenderFailed)
    expect((e2 as ChartRenderFailed).phase).toBe("warning")
    const seen: Array<string> = []
    const svg = await renderVegaLite(warns, { onWarning: (m) => seen.push(m) })
    expect(svg.startsWith("<svg")).toBe(true)
    expect(seen.length).toBeGreaterThan(0)
  })
})

describe("renameSvgIds", () => {
  it("renames ids in order of appearance and rewrites references in attributes only", () => {
    const svg = `<svg><defs><clipPath id="clip7"><rect/></clipPath><linearGradient id="gradient_3"/></defs><g clip-path="url(#clip7)"><rect fill="url(#gradient_3)"/><use href="#clip7"/><text>url(#clip7) id=&quot;clip7&quot;</text></g></svg>`
    expect(renameSvgIds(svg, "p")).toBe(
      `<svg><defs><clipPath id="p-0"><rect/></clipPath><linearGradient id="p-1"/></defs><g clip-path="url(#p-0)"><rect fill="url(#p-1)"/><use href="#p-0"/><text>url(#clip7) id=&quot;clip7&quot;</text></g></svg>`,
    )
    expect(renameSvgIds("<svg><g/></svg>", "p")).toBe("<svg><g/></svg>")
  })
})

describe("heatmap", () => {
  const rowLabels = ["zeta", "alpha", "mid"]
  const colLabels = ["q", "b", "x", "a"]
  const values = [
    [5, 0, 12, 1],
    [7, 30, 2, 9],
    [0, 4, 11, 100],
  ]

  it("writes each count in its cell, rows and columns in the given order", async () => {
    const svg = await renderVegaLite(right(heatmap({ title: "confusion", rowLabels, colLabels, values, rowTitle: "true", colTitle: "predicted" })))
    const labels = markItems(svg, "cell_labels")
    expect(labels.map((l) => l.text)).toEqual(values.flat().map(String))
    expect(markItems(svg, "cells")).toHaveLength(12)
    // Position follows the given label order (not alphabetical): row i above row i+1, col j left of j+1.
    for (let i = 0; i < rowLabels.length; i++) {
      for (let j = 0; j < colLabels.length; j++) {
        const l = labels[i * colLabels.length + j]!
        if (j > 0) expect(l.x!).toBeGreaterThan(labels[i * colLabels.length + j - 1]!.x!)
        if (i > 0) expect(l.y!).toBeGreaterThan(labels[(i - 1) * colLabels.length + j]!.y!)
        expect(l.attrs["aria-label"]).toContain(`true: ${rowLabels[i]}; value: ${values[i]![j]}`)
      }
    }
    // The largest count is written in white on its dark cell, a small one in ink.
    expect(labels[11]!.attrs.fill).toBe("white")
    expect(labels[0]!.attrs.fill).not.toBe("white")
  })

  it("rejects ragged matrices, non-finite values and repeated labels", () => {
    const e1 = left(heatmap({ title: "c", rowLabels, colLabels, values: [values[0]!, [1, 2], values[2]!], rowTitle: "t", colTitle: "p" }))
    expect(e1).toBeInstanceOf(ChartInputInvalid)
    expect(e1.field).toBe("values[1]")
    const e2 = left(heatmap({ title: "c", rowLabels, colLabels, values: [values[0]!, [1, 2, Number.NaN, 4], values[2]!], rowTitle: "t", colTitle: "p" }))
    expect(e2.field).toBe("values[1][2]")
    const e3 = left(heatmap({ title: "c", rowLabels: ["a", "a", "b"], colLabels, values, rowTitle: "t", colTitle: "p" }))
    expect(e3.message).toBe(`chart "c": rowLabels[1]: "a" repeats rowLabels[0]`)
  })
})

describe("lineChart input", () => {
  it("names the point at fault", () => {
    const pts = linePoints()
    pts[5] = { ...pts[5]!, y: Number.POSITIVE_INFINITY }
    expect(left(lineChart({ title: "l", xTitle: "x", yTitle: "y", points: pts, styles: ["train", "val"] })).field).toBe("points[5].y")
    expect(left(lineChart({ title: "l", xTitle: "x", yTitle: "y", points: linePoints(), styles: ["train", "test"] })).field).toBe("points[4].style")
    expect(left(lineChart({ title: "l", xTitle: "x", yTitle: "y", points: linePoints(), seriesOrder: ["a", "b"] })).field).toBe("points.series[16]")
  })
})

describe("horizontalBarChart", () => {
  it("draws one bar per datum with its formatted value, coloured by category, and the reference rule", async () => {
    const bars = [
      { label: "fold 0", value: 0.61234, category: "fold" },
      { label: "fold 1", value: 0.65, category: "fold" },
      { label: "all", value: 0.63, category: "overall" },
    ]
    const svg = await renderVegaLite(
      right(
        horizontalBarChart({
          title: "cv",
          xTitle: "KL",
          bars,
          format: ".4f",
          categories: { domain: ["fold", "overall"], colors: ["#111111", "#222222"] },
          rule: { value: 1.2, label: "baseline 1.2000" },
        }),
      ),
    )
    const rects = markItems(svg, "bars")
    expect(rects.map((r) => r.attrs.fill)).toEqual(["#111111", "#111111", "#222222"])
    expect(markItems(svg, "bar_labels").map((t) => t.text)).toEqual(["0.6123", "0.6500", "0.6300"])
    const rule = markItems(svg, "reference")
    expect(rule).toHaveLength(1)
    expect(markItems(svg, "reference_label").map((t) => t.text)).toEqual(["baseline 1.2000"])
    // Bars top to bottom in the given order.
    const ys = markItems(svg, "bar_labels").map((t) => t.y!)
    expect([...ys].sort((a, b) => a - b)).toEqual(ys)
  })

  it("rejects a category outside the domain", () => {
    const e = left(
      horizontalBarChart({ title: "t", xTitle: "x", bars: [{ label: "a", value: 1, category: "z" }], categories: { domain: ["y"], colors: ["#000"] } }),
    )
    expect(e.field).toBe("bars.category[0]")
  })
})

describe("barChart", () => {
  it("draws simple bars with value labels", async () => {
    const svg = await renderVegaLite(
      right(
        barChart({
          title: "kl",
          yTitle: "KL",
          bars: [
            { label: "A", value: 0.1 },
            { label: "B", value: 0.25 },
            { label: "C", value: 0.05 },
          ],
        }),
      ),
    )
    expect(markItems(svg, "bars")).toHaveLength(3)
    expect(markItems(svg, "bar_labels").map((t) => t.text)).toEqual(["0.100", "0.250", "0.050"])
  })

  it("draws grouped bars side by side, one colour per group", async () => {
    const bars = [
      { label: "A", value: 1, group: "g1" },
      { label: "A", value: 2, group: "g2" },
      { label: "B", value: 3, group: "g1" },
      { label: "B", value: 4, group: "g2" },
    ]
    const svg = await renderVegaLite(right(barChart({ title: "g", yTitle: "v", bars, groups: { domain: ["g1", "g2"], title: "group" }, format: "d" })))
    const rects = markItems(svg, "bars")
    expect(rects.map((r) => r.attrs.fill)).toEqual([SERIES_PALETTE[0], SERIES_PALETTE[1], SERIES_PALETTE[0], SERIES_PALETTE[1]])
    expect(markItems(svg, "bar_labels").map((t) => t.text)).toEqual(["1", "2", "3", "4"])
    expect(left(barChart({ title: "g", yTitle: "v", bars: [...bars, { label: "A", value: 5, group: "g1" }], groups: { domain: ["g1", "g2"] } })).field).toBe(
      "bars.(label, group)[4]",
    )
  })
})
