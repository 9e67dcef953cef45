/** The spread chart: one row per label, its value as a point, a bar from low to high, and its samples (seeds) as open points. */
import { Either } from "effect"
import type { ChartInputInvalid } from "../report-errors.js"
import { BAND_STEP, CHART_WIDTH, INK_MUTED, SERIES_PALETTE } from "../theme.js"
import {
  type Channel,
  type ChartTitle,
  chartConfig,
  finite,
  type Layer,
  MARK_NAMES,
  nonEmpty,
  POINT_SIZE,
  type TopLevelSpec,
  titleOf,
  uniqueLabels,
} from "./common.js"

export interface SpreadRow {
  readonly label: string
  /** The point drawn (a mean over seeds, or the one value). */
  readonly value: number
  /** A bar from `low` to `high` (mean ± sd), when both are given. */
  readonly low?: number
  readonly high?: number
  /** The values it summarises (one per seed), drawn as open points. */
  readonly samples?: ReadonlyArray<number>
}

export interface SpreadChartInput extends ChartTitle {
  readonly xTitle: string
  readonly yTitle?: string
  /** Rows top to bottom. */
  readonly rows: ReadonlyArray<SpreadRow>
  readonly width?: number
}

/** Mark names of the spread chart (its SVG groups are `<name>_marks`). */
export const SPREAD_MARKS = { spread: "spread", samples: "samples", points: MARK_NAMES.points } as const

const SAMPLE_SIZE = 40
const POINT_AREA = POINT_SIZE * 3
const RANGE_STROKE = 3

export const spreadChart = (input: SpreadChartInput): Either.Either<TopLevelSpec, ChartInputInvalid> =>
  Either.gen(function* () {
    const chart = input.title
    yield* nonEmpty(chart, "rows", input.rows.length)
    const labels = input.rows.map((r) => r.label)
    yield* uniqueLabels(chart, "rows.label", labels)
    for (const [i, r] of input.rows.entries()) {
      yield* finite(chart, `rows[${i}].value`, r.value)
      if (r.low !== undefined) yield* finite(chart, `rows[${i}].low`, r.low)
      if (r.high !== undefined) yield* finite(chart, `rows[${i}].high`, r.high)
      for (const [j, s] of (r.samples ?? []).entries()) yield* finite(chart, `rows[${i}].samples[${j}]`, s)
    }
    const all = input.rows.flatMap((r) => [r.value, ...(r.low === undefined ? [] : [r.low]), ...(r.high === undefined ? [] : [r.high]), ...(r.samples ?? [])])
    const lo = Math.min(...all)
    const hi = Math.max(...all)
    const pad = (hi - lo || Math.abs(hi) || 1) * 0.08
    const x: Channel<"x"> = { field: "value", type: "quantitative", title: input.xTitle, scale: { domain: [lo - pad, hi + pad], nice: false, zero: false } }
    const y: Channel<"y"> = { field: "label", type: "nominal", title: input.yTitle ?? null, sort: labels }
    const ranges = input.rows.flatMap((r) => (r.low !== undefined && r.high !== undefined ? [{ label: r.label, low: r.low, high: r.high }] : []))
    const samples = input.rows.flatMap((r) => (r.samples ?? []).map((value) => ({ label: r.label, value })))
    const layers: Array<Layer> = []
    if (ranges.length > 0) {
      layers.push({
        name: SPREAD_MARKS.spread,
        data: { values: ranges },
        mark: { type: "rule", color: SERIES_PALETTE[0], strokeWidth: RANGE_STROKE, opacity: 0.45 },
        encoding: {
          x: { field: "low", type: "quantitative", scale: { domain: [lo - pad, hi + pad], nice: false, zero: false }, title: input.xTitle },
          x2: { field: "high" },
          y,
        },
      })
    }
    if (samples.length > 0) {
      layers.push({
        name: SPREAD_MARKS.samples,
        data: { values: samples },
        mark: { type: "point", filled: false, color: INK_MUTED, size: SAMPLE_SIZE },
        encoding: { x, y },
      })
    }
    layers.push({
      name: SPREAD_MARKS.points,
      data: { values: input.rows.map((r) => ({ label: r.label, value: r.value })) },
      mark: { type: "point", filled: true, color: SERIES_PALETTE[0], size: POINT_AREA },
      encoding: {
        x,
        y,
        tooltip: [
          { field: "label", type: "nominal" },
          { field: "value", type: "quantitative", format: ".4f" },
        ],
      },
    })
    return {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title: titleOf(input),
      width: input.width ?? CHART_WIDTH,
      height: { step: BAND_STEP },
      layer: layers,
      config: chartConfig,
    }
  })
