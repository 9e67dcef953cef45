/** The heatmap: a matrix of cells, each with its value written in it (a confusion matrix). */
import { Either } from "effect"
import { ChartInputInvalid } from "../report-errors.js"
import { FONT_SIZE, HEATMAP_DARK_FRACTION, HEATMAP_SCHEME, INK } from "../theme.js"
import {
  type Channel,
  type ChartTitle,
  COUNT_FORMAT,
  chartConfig,
  finite,
  HEATMAP_CELL,
  MARK_NAMES,
  nonEmpty,
  type TopLevelSpec,
  titleOf,
  uniqueLabels,
} from "./common.js"

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
export const heatmap = (input: HeatmapInput): Either.Either<TopLevelSpec, ChartInputInvalid> =>
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
    const x: Channel<"x"> = { field: "col", type: "nominal", title: input.colTitle, sort: [...input.colLabels], axis: { labelAngle: 0, orient: "top" } }
    const y: Channel<"y"> = { field: "row", type: "nominal", title: input.rowTitle, sort: [...input.rowLabels] }
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
    }
  })
