/**
 * Chart builders: plain data in, a vega-lite spec out (render it with `renderVegaLite`). Each builder
 * checks its input (finite numbers, unique labels, a rectangular matrix) and returns a
 * `ChartInputInvalid` on the left of an `Either` otherwise. The specs are typed by vega-lite's own
 * `TopLevelSpec`, so the compiler checks them.
 *
 * Marks carry stable names, so a rendered SVG can be inspected by mark: the line chart's groups are
 * `lines_marks` / `points_marks` / `highlights_marks`, the heatmap's `cells_marks` / `cell_labels_marks`,
 * the bar charts' `bars_marks` / `bar_labels_marks` / `reference_marks` / `reference_label_marks`.
 */
export {
  type BarCategories,
  type BarChartInput,
  type BarDatum,
  barChart,
  type GroupedBarDatum,
  type HorizontalBarInput,
  horizontalBarChart,
  type ReferenceRule,
} from "./bars.js"
export { type ChartTitle, chartConfig, MARK_NAMES } from "./common.js"
export { type HeatmapInput, heatmap } from "./heatmap.js"
export { type LineChartInput, type LineHighlight, type LinePoint, lineChart } from "./line.js"
export { SPREAD_MARKS, type SpreadChartInput, type SpreadRow, spreadChart } from "./spread.js"
