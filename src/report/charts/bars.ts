/** The bar charts: horizontal bars with a reference rule, and vertical bars, simple or grouped. */
import { Either } from "effect"
import type { Field } from "vega-lite/types_unstable/channeldef.js"
import type { Encoding } from "vega-lite/types_unstable/encoding.js"
import { ChartInputInvalid } from "../report-errors.js"
import { ACCENT, BAND_STEP, CHART_HEIGHT, CHART_WIDTH, DASH_PATTERN, FONT_SIZE_SMALL, INK, SERIES_PALETTE } from "../theme.js"
import {
  BAR_LABEL_GAP,
  barDomain,
  type Channel,
  type ChartTitle,
  chartConfig,
  DEFAULT_FORMAT,
  finite,
  firstAppearance,
  inDomain,
  type Layer,
  MARK_NAMES,
  nonEmpty,
  REFERENCE_LABEL_RAISE,
  type TopLevelSpec,
  titleOf,
  uniqueLabels,
} from "./common.js"

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

/** The bars' colour channel by category (none without categories), after checking the categories. */
const categoryEncoding = (
  chart: string,
  bars: ReadonlyArray<BarDatum>,
  categories: BarCategories | undefined,
): Either.Either<Pick<Encoding<Field>, "color">, ChartInputInvalid> =>
  Either.gen(function* () {
    if (categories === undefined) return {}
    yield* uniqueLabels(chart, "categories.domain", categories.domain)
    if (categories.colors.length !== categories.domain.length) {
      return yield* Either.left(
        new ChartInputInvalid({
          chart,
          field: "categories.colors",
          reason: `has ${categories.colors.length} colours for ${categories.domain.length} categories`,
        }),
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

/** Bars are non-empty and every value finite. */
const checkBars = (chart: string, bars: ReadonlyArray<BarDatum>, field: string) =>
  Either.gen(function* () {
    yield* nonEmpty(chart, field, bars.length)
    for (const [i, b] of bars.entries()) yield* finite(chart, `${field}[${i}].value`, b.value)
  })

/** Horizontal bars with their values written at the ends, and an optional labelled reference rule. */
export const horizontalBarChart = (input: HorizontalBarInput): Either.Either<TopLevelSpec, ChartInputInvalid> =>
  Either.gen(function* () {
    const chart = input.title
    yield* checkBars(chart, input.bars, "bars")
    const labels = input.bars.map((b) => b.label)
    yield* uniqueLabels(chart, "bars.label", labels)
    const color = yield* categoryEncoding(chart, input.bars, input.categories)
    if (input.rule !== undefined) yield* finite(chart, "rule.value", input.rule.value)
    const format = input.format ?? DEFAULT_FORMAT
    const domain = barDomain([...input.bars.map((b) => b.value), ...(input.rule === undefined ? [] : [input.rule.value])])
    const x: Channel<"x"> = { field: "value", type: "quantitative", title: input.xTitle, scale: { domain, nice: false } }
    const y: Channel<"y"> = { field: "label", type: "nominal", title: input.yTitle ?? null, sort: labels }
    const values = input.bars.map((b) => ({ label: b.label, value: b.value, category: b.category ?? "" }))
    const layers: Array<Layer> = [
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
    }
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
export const barChart = (input: BarChartInput): Either.Either<TopLevelSpec, ChartInputInvalid> =>
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
    const x: Channel<"x"> = { field: "label", type: "nominal", title: input.xTitle ?? null, sort: labels, axis: { labelAngle: 0 } }
    const y: Channel<"y"> = {
      field: "value",
      type: "quantitative",
      title: input.yTitle,
      scale: { domain: barDomain(input.bars.map((b) => b.value)), nice: false },
    }
    // Grouped: bars of one label side by side (xOffset), coloured by group; the value labels follow the offset.
    const offset: Pick<Encoding<Field>, "xOffset"> = groups === undefined
      ? {}
      : { xOffset: { field: "group", type: "nominal", sort: [...groups.domain], scale: { domain: [...groups.domain] } } }
    const color: Pick<Encoding<Field>, "color"> = groups === undefined
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
    const layers: Array<Layer> = [
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
    }
  })
