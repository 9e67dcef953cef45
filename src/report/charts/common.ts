/** What every chart builder shares: mark names, sizes, the title block, the theme's config, input checks. */
import { Either } from "effect"
import type { SignalRef } from "vega"
import type { Config } from "vega-lite"
import type { Field } from "vega-lite/types_unstable/channeldef.js"
import type { Encoding } from "vega-lite/types_unstable/encoding.js"
import type { ExprRef } from "vega-lite/types_unstable/expr.js"
import type { LayerSpec, UnitSpec } from "vega-lite/types_unstable/spec/index.js"
import type { TitleParams } from "vega-lite/types_unstable/title.js"
import { ChartInputInvalid } from "../report-errors.js"
import { FONT_SANS, FONT_SIZE, FONT_SIZE_SMALL, FONT_SIZE_TITLE, INK, INK_MUTED, SERIES_PALETTE } from "../theme.js"

/** The spec every builder returns: vega-lite's own type, so the compiler checks each spec. */
export type { TopLevelSpec } from "vega-lite"

/** One layer of a layered chart. */
export type Layer = LayerSpec<Field> | UnitSpec<Field>

/** The definition of one encoding channel (`x`, `color`, ...), as vega-lite types it. */
export type Channel<K extends keyof Encoding<Field>> = NonNullable<Encoding<Field>[K]>

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
export const HEATMAP_CELL = 46
/** Point sizes (vega's `size`: area in px²). */
export const POINT_SIZE = 22
export const HIGHLIGHT_SIZE = 130
export const LINE_WIDTH = 1.8
/** Gap between a bar's end and its value label, px. */
export const BAR_LABEL_GAP = 4
/** The reference rule's label sits this many px above the plot. */
export const REFERENCE_LABEL_RAISE = 6
export const DEFAULT_FORMAT = ".3f"
export const COUNT_FORMAT = "d"

export interface ChartTitle {
  readonly title: string
  readonly subtitle?: string
}

/** A chart's title block: title and subtitle, left-aligned. */
export const titleOf = (t: ChartTitle): TitleParams<ExprRef | SignalRef> => ({
  text: t.title,
  ...(t.subtitle === undefined ? {} : { subtitle: t.subtitle }),
  anchor: "start",
  offset: 10,
})

/** Shared vega-lite config: fonts, sizes, colours from the theme. */
export const chartConfig: Config = {
  font: FONT_SANS,
  background: "white",
  view: { stroke: null },
  title: { fontSize: FONT_SIZE_TITLE, subtitleFontSize: FONT_SIZE, subtitleColor: INK_MUTED, color: INK },
  axis: { labelFontSize: FONT_SIZE_SMALL, titleFontSize: FONT_SIZE, labelColor: INK, titleColor: INK, gridColor: "#e6e9ec" },
  legend: { labelFontSize: FONT_SIZE_SMALL, titleFontSize: FONT_SIZE, labelColor: INK, titleColor: INK },
  range: { category: [...SERIES_PALETTE] },
}

export const finite = (chart: string, field: string, v: number): Either.Either<number, ChartInputInvalid> =>
  Number.isFinite(v) ? Either.right(v) : Either.left(new ChartInputInvalid({ chart, field, reason: `${String(v)} is not a finite number` }))

export const uniqueLabels = (chart: string, field: string, labels: ReadonlyArray<string>): Either.Either<void, ChartInputInvalid> => {
  const seen = new Map<string, number>()
  for (const [i, l] of labels.entries()) {
    const before = seen.get(l)
    if (before !== undefined) return Either.left(new ChartInputInvalid({ chart, field: `${field}[${i}]`, reason: `"${l}" repeats ${field}[${before}]` }))
    seen.set(l, i)
  }
  return Either.right(undefined)
}

export const nonEmpty = (chart: string, field: string, n: number): Either.Either<void, ChartInputInvalid> =>
  n > 0 ? Either.right(undefined) : Either.left(new ChartInputInvalid({ chart, field, reason: "is empty" }))

/** Labels in order of first appearance. */
export const firstAppearance = (labels: Iterable<string>): Array<string> => [...new Set(labels)]

/** Checks that every label is in `order` (the declared domain). */
export const inDomain = (chart: string, field: string, labels: ReadonlyArray<string>, order: ReadonlyArray<string>, orderField: string) => {
  const known = new Set(order)
  for (const [i, l] of labels.entries()) {
    if (!known.has(l))
      return Either.left(new ChartInputInvalid({ chart, field: `${field}[${i}]`, reason: `"${l}" is not in ${orderField} (${order.join(", ")})` }))
  }
  return Either.right(undefined)
}

/** An axis domain from `lo`/`hi` that includes zero and leaves room for value labels past the bars. */
export const barDomain = (values: ReadonlyArray<number>): [number, number] => {
  const lo = Math.min(0, ...values)
  const hi = Math.max(0, ...values)
  const span = hi - lo || 1
  return [lo < 0 ? lo - span * VALUE_LABEL_HEADROOM : 0, hi > 0 || lo === 0 ? hi + span * VALUE_LABEL_HEADROOM : 0]
}
