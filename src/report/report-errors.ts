/**
 * Errors of the report layer. Each one is data: its fields say which chart, node, field or file
 * is at fault, and its message is computed from them.
 */
import { Data } from "effect"

/** A vega-lite spec could not be compiled, parsed or rendered, or it produced a warning. */
export class ChartRenderFailed extends Data.TaggedError("ChartRenderFailed")<{
  /** The chart's title or description, or "<untitled chart>". */
  readonly chart: string
  readonly phase: "compile" | "parse" | "render" | "warning"
  readonly reason: string
}> {
  override get message(): string {
    return `chart "${this.chart}": ${this.phase} failed: ${this.reason}`
  }
}

/** A chart builder was given data it cannot draw (NaN, ragged matrix, unknown label...). */
export class ChartInputInvalid extends Data.TaggedError("ChartInputInvalid")<{
  readonly chart: string
  /** Where in the input: `points[3].y`, `values[2][5]`, `rowLabels`. */
  readonly field: string
  readonly reason: string
}> {
  override get message(): string {
    return `chart "${this.chart}": ${this.field}: ${this.reason}`
  }
}

/** A graph handed to `dagSvg` is not a DAG over its nodes (unknown node, duplicate id, cycle). */
export class DagInvalid extends Data.TaggedError("DagInvalid")<{
  /** `nodes[4].id`, `edges[2][1]`, `edges` (for a cycle). */
  readonly field: string
  readonly reason: string
}> {
  override get message(): string {
    return `DAG ${this.field}: ${this.reason}`
  }
}

/** A report's input record is inconsistent or holds a value that cannot be shown. */
export class ReportDataInvalid extends Data.TaggedError("ReportDataInvalid")<{
  readonly report: string
  /** The field at fault, with its index: `folds[2].history[4].valLoss`, `confusion[1]`. */
  readonly field: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.report} report data: ${this.field}: ${this.reason}`
  }
}

/** The one line of an unknown thrown value (one implementation, in the core). */
export { describeError } from "../core/errors.js"
