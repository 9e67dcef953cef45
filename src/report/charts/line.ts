/** The line chart: series over x, solid and dashed styles, highlighted points. */
import { Either } from "effect"
import type { Field } from "vega-lite/types_unstable/channeldef.js"
import type { Encoding } from "vega-lite/types_unstable/encoding.js"
import { ChartInputInvalid } from "../report-errors.js"
import { ACCENT, CHART_HEIGHT, CHART_WIDTH, DASH_PATTERN, FONT_SIZE_SMALL, SERIES_PALETTE, SOLID_PATTERN } from "../theme.js"
import {
  type Channel,
  type ChartTitle,
  chartConfig,
  firstAppearance,
  finite,
  HIGHLIGHT_SIZE,
  inDomain,
  type Layer,
  LINE_WIDTH,
  MARK_NAMES,
  nonEmpty,
  POINT_SIZE,
  type TopLevelSpec,
  titleOf,
  uniqueLabels,
} from "./common.js"

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
export const lineChart = (input: LineChartInput): Either.Either<TopLevelSpec, ChartInputInvalid> =>
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
    const x: Channel<"x"> = { field: "x", type: "quantitative", title: input.xTitle, scale: { zero: false, nice: false }, axis: xAxis }
    const y: Channel<"y"> = { field: "y", type: "quantitative", title: input.yTitle, scale: { zero: false } }
    const color: Channel<"color"> = {
      field: "series",
      type: "nominal",
      title: input.seriesTitle ?? null,
      scale: { domain: [...series], range: series.map((_, i) => SERIES_PALETTE[i % SERIES_PALETTE.length]!) },
    }
    const strokeDash: Pick<Encoding<Field>, "strokeDash"> = input.styles === undefined
      ? {}
      : {
          strokeDash: {
            field: "style",
            type: "nominal",
            title: input.styleTitle ?? null,
            scale: { domain: [...input.styles], range: [[...SOLID_PATTERN], [...DASH_PATTERN]] },
          },
        }
    const detail: Pick<Encoding<Field>, "detail"> = input.styles === undefined ? {} : { detail: { field: "style", type: "nominal" } }
    const layers: Array<Layer> = [
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
    }
  })
