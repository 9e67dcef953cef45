/** cairn's report toolkit: vega-lite charts rendered to SVG in Node, DAG drawing, HTML pages. */
export { barChart, chartConfig, heatmap, horizontalBarChart, lineChart, MARK_NAMES, SPREAD_MARKS, spreadChart } from "./charts/index.js"
export type {
  BarCategories,
  BarChartInput,
  BarDatum,
  ChartTitle,
  GroupedBarDatum,
  HeatmapInput,
  HorizontalBarInput,
  LineChartInput,
  LineHighlight,
  LinePoint,
  ReferenceRule,
  SpreadChartInput,
  SpreadRow,
} from "./charts/index.js"
export { dagLayout, dagSvg, layoutSvg, separatedPositions } from "./dag/index.js"
export type { DagInput, DagLayout, DagNode, PlacedEdge, PlacedNode } from "./dag/index.js"
export { ChartInputInvalid, ChartRenderFailed, DagInvalid, ReportDataInvalid } from "./report-errors.js"
export { escapeHtml, escapeXml } from "./escape.js"
export { CONTENT_SECURITY_POLICY, figure, Html, html, htmlPage, htmlTable, keyValueTable, paragraph, renderContent, slug, trusted } from "./html.js"
export type { Content, FigureOptions, PageInput, PageSection, TableOptions } from "./html.js"
export { renameSvgIds, renderVegaLite, renderVegaLiteEffect } from "./vega.js"
export type { RenderOptions, VegaLiteSpec } from "./vega.js"
export { SERIES_PALETTE, STAGE_STATUSES, STATUS_STYLES } from "./theme.js"
