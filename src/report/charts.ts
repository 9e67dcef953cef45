/**
 * Chart builders: plain data in, a vega-lite spec out (render it with `renderVegaLite`). Each builder
 * checks its input (finite numbers, unique labels, a rectangular matrix) and returns a
 * `ChartInputInvalid` on the left of an `Either` otherwise.
 *
 * Marks carry stable names, so a rendered SVG can be inspected by mark: the line chart's groups are
 * `lines_marks` / `points_marks` / `highlights_marks`, the heatmap's `cells_marks` / `cell_labels_marks`,
 * the bar charts' `bars_marks` / `bar_labels_marks` / `reference_marks` / `reference_label_marks`.
 */
import { Either } from "effect"
import { ChartInputInvalid } from "./errors.js"
import {
  ACCENT,
  BAND_STEP,
  CHART_HEIGHT,
  CHART_WIDTH,
  DASH_PATTERN,
  FONT_SANS,
  FONT_SIZE,
  FONT_SIZE_SMALL,
  FONT_SIZE_TITLE,
  HEATMAP_DARK_FRACTION,
  HEATMAP_SCHEME,
  INK,
  INK_MUTED,
  SERIES_PALETTE,
  SOLID_PATTERN,
} from "./theme.js"
import type { VegaLiteSpec } from "./vega.js"

/** Mark names (vega-lite `name`), as they appear in the SVG's class attributes with a `_marks` suffix. */
export const MARK_NAMES = {
  lines: "lines",
  points: "points",
  highlights: "highlights",
  highlightLabels: "highlight_labels",
  cells: "cells",
  cellLabels: "cell_labels",
  bars: "bars",
  barLabels: "bar_labels",
  reference: "reference",
  referenceLabel: "reference_label",
} as const

/** Extra room above the largest bar for its value label, as a fraction of the axis range. */
const VALUE_LABEL_HEADROOM = 0.16
/** Heatmap cell size in px. */
const HEATMAP_CELL = 46
/** Point sizes (vega's `size`: area in px²). */
const POINT_SIZE = 22
const HIGHLIGHT_SIZE = 130
const LINE_WIDTH = 1.8
/** Gap between a bar's end and its value label, px. */
const BAR_LABEL_GAP = 4
/** The reference rule's label sits this many px above the plot. */
const REFERENCE_LABEL_RAISE = 6
const DEFAULT_FORMAT = ".3f"
const COUNT_FORMAT = "d"

export interface ChartTitle {
  readonly title: string
  readonly subtitle?: string
}

const titleOf = (t: ChartTitle) => ({
  text: t.title,
  ...(t.subtitle === undefined ? {} : { subtitle: t.subtitle }),
  anchor: "start" as const,
  offset: 10,
})

/** Shared vega-lite config: fonts, sizes, colours from the theme. */
export const chartConfig = {
  font: FONT_SANS,
  background: "white",
  view: { stroke: null },
  title: { fontSize: FONT_SIZE_TITLE, subtitleFontSize: FONT_SIZE, subtitleColor: INK_MUTED, color: INK },
  axis: { labelFontSize: FONT_SIZE_SMALL, titleFontSize: FONT_SIZE, labelColor: INK, titleColor: INK, gridColor: "#e6e9ec" },
  legend: { labelFontSize: FONT_SIZE_SMALL, titleFontSize: FONT_SIZE, labelColor: INK, titleColor: INK },
  range: { category: [...SERIES_PALETTE] },
} as const

const finite = (chart: string, field: string, v: number): Either.Either<number, ChartInputInvalid> =>
  Number.isFinite(v) ? Either.right(v) : Either.left(new ChartInputInvalid({ chart, field, reason: `${String(v)} is not a finite number` }))

const uniqueLabels = (chart: string, field: string, labels: ReadonlyArray<string>): Either.Either<void, ChartInputInvalid> => {
  const seen = new Map<string, number>()
  for (const [i, l] of labels.entries()) {
    const before = seen.get(l)
    if (before !== undefined) return Either.left(new ChartInputInvalid({ chart, field: `${field}[${i}]`, reason: `"${l}" repeats ${field}[${before}]` }))
    seen.set(l, i)
  }
  return Either.right(undefined)
}

const nonEmpty = (chart: string, field: string, n: number): Either.Either<void, ChartInputInvalid> =>
  n > 0 ? Either.right(undefined) : Either.left(new ChartInputInvalid({ chart, field, reason: "is empty" }))

/** Labels in order of first appearance. */
const firstAppearance = (labels: Iterable<string>): Array<string> => [...new Set(labels)]

/** Checks that every label is in `order` (the declared domain). */
const inDomain = (chart: string, field: string, labels: ReadonlyArray<string>, order: ReadonlyArray<string>, orderField: string) => {
  const known = new Set(order)
  for (const [i, l] of labels.entries()) {
    if (!known.has(l)) return Either.left(new ChartInputInvalid({ chart, field: `${field}[${i}]`, reason: `"${l}" is not in ${orderField} (${order.join(", ")})` }))
  }
  return Either.right(undefined)
}

/** An axis domain from `lo`/`hi` that includes zero and leaves room for value labels past the bars. */
const barDomain = (values: ReadonlyArray<number>): [number, number] => {
  const lo = Math.min(0, ...values)
  const hi = Math.max(0, ...values)
  const span = hi - lo || 1
  return [lo < 0 ? lo - span * VALUE_LABEL_HEADROOM : 0, hi > 0 || lo === 0 ? hi + span * VALUE_LABEL_HEADROOM : 0]
}

// ---------------------------------------------------------------------------------------------
// Line chart

export interface LinePoint {
  readonly x: number
  readonly y: number
  readonly series: string
  /** One of `styles`: the first is drawn solid, the second dashed. */
  readonly style?: string
}

export interface LineHighlight {
  readonly x: number
  readonly y: number
  readonly series: string
  /** Short text drawn next to the point. */
  readonly label?: string
}

export interface LineChartInput extends ChartTitle {
  readonly xTitle: string
  readonly yTitle: string
  readonly points: ReadonlyArray<LinePoint>
  /** Series in legend and colour order; default: order of first appearance. */
  readonly seriesOrder?: ReadonlyArray<string>
  readonly seriesTitle?: string
  /** `[solid, dashed]` style names (e.g. `["train", "validation"]`); every point then needs a `style`. */
  readonly styles?: readonly [string, string]
  readonly styleTitle?: string
  /** Points drawn as open diamonds in the accent colour (e.g. each fold's best epoch). */
  readonly highlights?: ReadonlyArray<LineHighlight>
  /** Legend text of the highlights. */
  readonly highlightTitle?: string
  /** Integer x values (epochs): ticks on integers only. */
  readonly integerX?: boolean
  readonly width?: number
  readonly height?: number
}

/**
 * Multi-series line chart with a point at every value. With `styles`, each series has a solid and a
 * dashed line (train vs validation), told apart by the `style` of each point.
 */
export const lineChart = (input: LineChartInput): Either.Either<VegaLiteSpec, ChartInputInvalid> =>
  Either.gen(function* () {
    const chart = input.title
    yield* nonEmpty(chart, "points", input.points.length)
    const rows: Array<Record<string, string | number>> = []
    for (const [i, p] of input.points.entries()) {
      yield* finite(chart, `points[${i}].x`, p.x)
      yield* finite(chart, `points[${i}].y`, p.y)
      if (input.styles !== undefined && (p.style === undefined || !input.styles.includes(p.style))) {
        return yield* Either.left(
          new ChartInputInvalid({ chart, field: `points[${i}].style`, reason: `${JSON.stringify(p.style)} is not one of ${input.styles.join(", ")}` }),
        )
      }
      rows.push({ x: p.x, y: p.y, series: p.series, ...(input.styles === undefined ? {} : { style: p.style! }) })
    }
    const series = input.seriesOrder ?? firstAppearance(input.points.map((p) => p.series))
    yield* uniqueLabels(chart, "seriesOrder", series)
    yield* inDomain(
      chart,
      "points.series",
      input.points.map((p) => p.series),
      series,
      "seriesOrder",
    )
    const highlights = input.highlights ?? []
    for (const [i, h] of highlights.entries()) {
      yield* finite(chart, `highlights[${i}].x`, h.x)
      yield* finite(chart, `highlights[${i}].y`, h.y)
    }
    yield* inDomain(
      chart,
      "highlights.series",
      highlights.map((h) => h.series),
      series,
      "seriesOrder",
    )

    const xAxis = input.integerX === true ? { tickMinStep: 1, format: "d" } : {}
    const x = { field: "x", type: "quantitative", title: input.xTitle, scale: { zero: false, nice: false }, axis: xAxis } as const
    const y = { field: "y", type: "quantitative", title: input.yTitle, scale: { zero: false } } as const
    const color = {
      field: "series",
      type: "nominal",
      title: input.seriesTitle ?? null,
      scale: { domain: series, range: series.map((_, i) => SERIES_PALETTE[i % SERIES_PALETTE.length]!) },
    } as const
    const strokeDash =
      input.styles === undefined
        ? {}
        : {
            strokeDash: {
              field: "style",
              type: "nominal",
              title: input.styleTitle ?? null,
              scale: { domain: [...input.styles], range: [[...SOLID_PATTERN], [...DASH_PATTERN]] },
            },
          }
    const detail = input.styles === undefined ? {} : { detail: { field: "style", type: "nominal" } }
    const layers: Array<Record<string, unknown>> = [
      { name: MARK_NAMES.lines, mark: { type: "line", strokeWidth: LINE_WIDTH }, encoding: { x, y, color, ...strokeDash } },
      { name: MARK_NAMES.points, mark: { type: "point", filled: true, size: POINT_SIZE, opacity: 1 }, encoding: { x, y, color, ...detail } },
    ]
    if (highlights.length > 0) {
      const hl = highlights.map((h) => ({ x: h.x, y: h.y, series: h.series, label: h.label ?? "", kind: input.highlightTitle ?? "highlight" }))
      layers.push({
        name: MARK_NAMES.highlights,
        data: { values: hl },
        mark: { type: "point", shape: "diamond", filled: false, size: HIGHLIGHT_SIZE, strokeWidth: 2, opacity: 1 },
        encoding: {
          x,
          y,
          stroke: { field: "kind", type: "nominal", title: null, scale: { domain: [hl[0]!.kind], range: [ACCENT] } },
        },
      })
      if (hl.some((h) => h.label !== "")) {
        layers.push({
          name: MARK_NAMES.highlightLabels,
          data: { values: hl.filter((h) => h.label !== "") },
          mark: { type: "text", align: "left", dx: 7, dy: -7, fontSize: FONT_SIZE_SMALL, color: ACCENT },
          encoding: { x, y, text: { field: "label", type: "nominal" } },
        })
      }
    }
    return {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title: titleOf(input),
      width: input.width ?? CHART_WIDTH,
      height: input.height ?? CHART_HEIGHT,
      data: { values: rows },
      layer: layers,
      config: chartConfig,
    } as unknown as VegaLiteSpec
  })

// ---------------------------------------------------------------------------------------------
// Heatmap

export interface HeatmapInput extends ChartTitle {
  /** Row labels, top to bottom. */
  readonly rowLabels: ReadonlyArray<string>
  /** Column labels, left to right. */
  readonly colLabels: ReadonlyArray<string>
  /** `values[row][col]`. */
  readonly values: ReadonlyArray<ReadonlyArray<number>>
  readonly rowTitle: string
  readonly colTitle: string
  readonly colorTitle?: string
  /** d3-format of the cell labels; default "d" (counts). */
  readonly format?: string
  readonly cellSize?: number
}

/** A heatmap with each cell's value written in it (a confusion matrix: rows true, columns predicted). */
export const heatmap = (input: HeatmapInput): Either.Either<VegaLiteSpec, ChartInputInvalid> =>
  Either.gen(function* () {
    const chart = input.title
    yield* nonEmpty(chart, "rowLabels", input.rowLabels.length)
    yield* nonEmpty(chart, "colLabels", input.colLabels.length)
    yield* uniqueLabels(chart, "rowLabels", input.rowLabels)
    yield* uniqueLabels(chart, "colLabels", input.colLabels)
    if (input.values.length !== input.rowLabels.length) {
      return yield* Either.left(
        new ChartInputInvalid({ chart, field: "values", reason: `has ${input.values.length} rows, but there are ${input.rowLabels.length} row labels` }),
      )
    }
    let max = 0
    for (const [i, row] of input.values.entries()) {
      if (row.length !== input.colLabels.length) {
        return yield* Either.left(
          new ChartInputInvalid({ chart, field: `values[${i}]`, reason: `has ${row.length} values, but there are ${input.colLabels.length} column labels` }),
        )
      }
      for (const [j, v] of row.entries()) max = Math.max(max, Math.abs(yield* finite(chart, `values[${i}][${j}]`, v)))
    }
    const darkAbove = max * HEATMAP_DARK_FRACTION
    const cells = input.values.flatMap((row, i) =>
      row.map((v, j) => ({ row: input.rowLabels[i]!, col: input.colLabels[j]!, value: v, dark: max > 0 && Math.abs(v) > darkAbove })),
    )
    const size = input.cellSize ?? HEATMAP_CELL
    const x = { field: "col", type: "nominal", title: input.colTitle, sort: [...input.colLabels], axis: { labelAngle: 0, orient: "top" } } as const
    const y = { field: "row", type: "nominal", title: input.rowTitle, sort: [...input.rowLabels] } as const
    const format = input.format ?? COUNT_FORMAT
    return {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title: titleOf(input),
      width: size * input.colLabels.length,
      height: size * input.rowLabels.length,
      data: { values: cells },
      layer: [
        {
          name: MARK_NAMES.cells,
          mark: { type: "rect", stroke: "white", strokeWidth: 1 },
          encoding: { x, y, color: { field: "value", type: "quantitative", title: input.colorTitle ?? null, scale: { scheme: HEATMAP_SCHEME } } },
        },
        {
          name: MARK_NAMES.cellLabels,
          mark: { type: "text", fontSize: FONT_SIZE },
          encoding: {
            x,
            y,
            text: { field: "value", type: "quantitative", format },
            color: { condition: { test: "datum.dark", value: "white" }, value: INK },
          },
        },
      ],
      config: chartConfig,
    } as unknown as VegaLiteSpec
  })

// ---------------------------------------------------------------------------------------------
// Bar charts

export interface BarDatum {
  readonly label: string
  readonly value: number
  /** Colour category (see `categories`). */
  readonly category?: string
}

export interface BarCategories {
  readonly title?: string
  readonly domain: ReadonlyArray<string>
  readonly colors: ReadonlyArray<string>
}

export interface ReferenceRule {
  readonly value: number
  readonly label: string
}

export interface HorizontalBarInput extends ChartTitle {
  readonly xTitle: string
  readonly yTitle?: string
  /** Bars top to bottom. */
  readonly bars: ReadonlyArray<BarDatum>
  /** d3-format of the value labels; default ".3f". */
  readonly format?: string
  /** Colours by `category`; without it every bar has the first palette colour. */
  readonly categories?: BarCategories
  /** A vertical reference line across the bars (a baseline), labelled above the plot. */
  readonly rule?: ReferenceRule
  readonly width?: number
}

const categoryEncoding = (chart: string, bars: ReadonlyArray<BarDatum>, categories: BarCategories | undefined) =>
  Either.gen(function* () {
    if (categories === undefined) return {}
    yield* uniqueLabels(chart, "categories.domain", categories.domain)
    if (categories.colors.length !== categories.domain.length) {
      return yield* Either.left(
        new ChartInputInvalid({ chart, field: "categories.colors", reason: `has ${categories.colors.length} colours for ${categories.domain.length} categories` }),
      )
    }
    yield* inDomain(
      chart,
      "bars.category",
      bars.map((b) => b.category ?? ""),
      categories.domain,
      "categories.domain",
    )
    return {
      color: {
        field: "category",
        type: "nominal",
        title: categories.title ?? null,
        scale: { domain: [...categories.domain], range: [...categories.colors] },
      },
    }
  })

const checkBars = (chart: string, bars: ReadonlyArray<BarDatum>, field: string) =>
  Either.gen(function* () {
    yield* nonEmpty(chart, field, bars.length)
    for (const [i, b] of bars.entries()) yield* finite(chart, `${field}[${i}].value`, b.value)
  })

/** Horizontal bars with their values written at the ends, and an optional labelled reference rule. */
export const horizontalBarChart = (input: HorizontalBarInput): Either.Either<VegaLiteSpec, ChartInputInvalid> =>
  Either.gen(function* () {
    const chart = input.title
    yield* checkBars(chart, input.bars, "bars")
    const labels = input.bars.map((b) => b.label)
    yield* uniqueLabels(chart, "bars.label", labels)
    const color = yield* categoryEncoding(chart, input.bars, input.categories)
    if (input.rule !== undefined) yield* finite(chart, "rule.value", input.rule.value)
    const format = input.format ?? DEFAULT_FORMAT
    const domain = barDomain([...input.bars.map((b) => b.value), ...(input.rule === undefined ? [] : [input.rule.value])])
    const x = { field: "value", type: "quantitative", title: input.xTitle, scale: { domain, nice: false } } as const
    const y = { field: "label", type: "nominal", title: input.yTitle ?? null, sort: labels } as const
    const values = input.bars.map((b) => ({ label: b.label, value: b.value, category: b.category ?? "" }))
    const layers: Array<Record<string, unknown>> = [
      {
        name: MARK_NAMES.bars,
        mark: { type: "bar", ...(input.categories === undefined ? { color: SERIES_PALETTE[0] } : {}) },
        encoding: { x, y, ...color },
      },
      {
        name: MARK_NAMES.barLabels,
        mark: { type: "text", align: "left", baseline: "middle", dx: BAR_LABEL_GAP, fontSize: FONT_SIZE_SMALL, color: INK },
        encoding: { x, y, text: { field: "value", type: "quantitative", format } },
      },
    ]
    if (input.rule !== undefined) {
      const ruleData = { values: [{ value: input.rule.value, text: input.rule.label }] }
      layers.push(
        {
          name: MARK_NAMES.reference,
          data: ruleData,
          mark: { type: "rule", color: ACCENT, strokeWidth: 2, strokeDash: [...DASH_PATTERN] },
          encoding: { x: { field: "value", type: "quantitative" } },
        },
        {
          name: MARK_NAMES.referenceLabel,
          data: ruleData,
          mark: { type: "text", align: "center", baseline: "bottom", dy: -REFERENCE_LABEL_RAISE, y: 0, fontSize: FONT_SIZE_SMALL, color: ACCENT },
          encoding: { x: { field: "value", type: "quantitative" }, text: { field: "text", type: "nominal" } },
        },
      )
    }
    return {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title: titleOf(input),
      width: input.width ?? CHART_WIDTH,
      height: { step: BAND_STEP },
      data: { values },
      layer: layers,
      config: chartConfig,
    } as unknown as VegaLiteSpec
  })

export interface GroupedBarDatum {
  readonly label: string
  readonly value: number
  /** With groups, the bars of one label stand side by side, one per group. */
  readonly group?: string
}

export interface BarChartInput extends ChartTitle {
  readonly xTitle?: string
  readonly yTitle: string
  /** Bars left to right (with groups: labels in order of first appearance). */
  readonly bars: ReadonlyArray<GroupedBarDatum>
  /** Group order and legend title; required when bars carry a `group`. */
  readonly groups?: { readonly title?: string; readonly domain: ReadonlyArray<string> }
  /** d3-format of the value labels; default ".3f". */
  readonly format?: string
  /** Write each bar's value above it (default true). */
  readonly valueLabels?: boolean
  readonly height?: number
}

/** Vertical bars, simple or grouped (one bar per group within each label), values written on top. */
export const barChart = (input: BarChartInput): Either.Either<VegaLiteSpec, ChartInputInvalid> =>
  Either.gen(function* () {
    const chart = input.title
    yield* checkBars(chart, input.bars, "bars")
    const labels = firstAppearance(input.bars.map((b) => b.label))
    const groups = input.groups
    if (groups === undefined) {
      yield* uniqueLabels(
        chart,
        "bars.label",
        input.bars.map((b) => b.label),
      )
    } else {
      yield* uniqueLabels(chart, "groups.domain", groups.domain)
      yield* inDomain(
        chart,
        "bars.group",
        input.bars.map((b) => b.group ?? ""),
        groups.domain,
        "groups.domain",
      )
      yield* uniqueLabels(
        chart,
        "bars.(label, group)",
        input.bars.map((b) => `${b.label} / ${b.group ?? ""}`),
      )
    }
    const format = input.format ?? DEFAULT_FORMAT
    const x = { field: "label", type: "nominal", title: input.xTitle ?? null, sort: labels, axis: { labelAngle: 0 } } as const
    const y = { field: "value", type: "quantitative", title: input.yTitle, scale: { domain: barDomain(input.bars.map((b) => b.value)), nice: false } } as const
    // Grouped: bars of one label side by side (xOffset), coloured by group; the value labels follow the offset.
    const offset = groups === undefined ? {} : { xOffset: { field: "group", type: "nominal", sort: [...groups.domain], scale: { domain: [...groups.domain] } } }
    const color =
      groups === undefined
        ? {}
        : {
            color: {
              field: "group",
              type: "nominal",
              title: groups.title ?? null,
              scale: { domain: [...groups.domain], range: groups.domain.map((_, i) => SERIES_PALETTE[i % SERIES_PALETTE.length]!) },
            },
          }
    const values = input.bars.map((b) => ({ label: b.label, value: b.value, group: b.group ?? "" }))
    const layers: Array<Record<string, unknown>> = [
      { name: MARK_NAMES.bars, mark: { type: "bar", ...(groups === undefined ? { color: SERIES_PALETTE[0] } : {}) }, encoding: { x, y, ...offset, ...color } },
    ]
    if (input.valueLabels !== false) {
      layers.push({
        name: MARK_NAMES.barLabels,
        mark: { type: "text", baseline: "bottom", dy: -BAR_LABEL_GAP, fontSize: FONT_SIZE_SMALL, color: INK },
        encoding: { x, y, text: { field: "value", type: "quantitative", format }, ...offset },
      })
    }
    const step = groups === undefined ? BAND_STEP * 2 : BAND_STEP * Math.max(2, groups.domain.length)
    return {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title: titleOf(input),
      width: { step },
      height: input.height ?? CHART_HEIGHT,
      data: { values },
      layer: layers,
      config: chartConfig,
    } as unknown as VegaLiteSpec
  })
