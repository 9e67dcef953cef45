/**
 * The Kaggle "kullback-leibler-divergence" metric (`kaggle_kl_div.score`), as its Python computes it:
 *
 * - both tables must hold valid probabilities (verify_valid_probabilities): numeric, >= 0, <= 1,
 *   every row summing to 1 within `np.allclose` (|s - 1| <= 1e-8 + 1e-5);
 * - the submission is clipped to [eps, 1 - eps] (eps = 1e-15);
 * - each cell is `y * log(y / p)` where y != 0, else 0 (scipy's rel_entr convention);
 * - micro average (the default, and the competition's): each row's cells summed left to right,
 *   then `np.average` over rows (optionally weighted); macro: `np.average` of the column means.
 * Sums use numpy's pairwise summation so the value matches Python to the last bit or two.
 */
import { Either } from "effect"
import { MetricInputError } from "../ml-errors.js"
import { numpySum } from "../input/preprocess.js"

/** The metric's default epsilon (10**-15). */
export const KAGGLE_KL_EPSILON = 1e-15

/** np.allclose(x, 1) tolerances. */
const ALLCLOSE_RTOL = 1e-5
const ALLCLOSE_ATOL = 1e-8

/** A row-major table of probabilities with named columns (the metric's DataFrame, id column dropped). */
export interface ProbabilityTable {
  readonly columns: ReadonlyArray<string>
  /** `rows * columns.length` values, row-major. */
  readonly values: Float64Array | Float32Array
  /** Optional row ids; when both tables have them they must agree row by row. */
  readonly rowIds?: ReadonlyArray<string | number>
}

export interface KlScoreOptions {
  readonly epsilon: number
  readonly microAverage: boolean
  /** One weight per row (only with microAverage, as in the metric). */
  readonly sampleWeights?: Float64Array
}

export const KL_SCORE_DEFAULTS: KlScoreOptions = { epsilon: KAGGLE_KL_EPSILON, microAverage: true }

const rowCount = (table: ProbabilityTable, source: string): Either.Either<number, MetricInputError> => {
  const cols = table.columns.length
  if (cols === 0 || table.values.length % cols !== 0) {
    return Either.left(
      new MetricInputError({
        source,
        row: -1,
        column: "",
        detail: `${table.values.length} values do not fill rows of ${cols} columns`,
      }),
    )
  }
  return Either.right(table.values.length / cols)
}

/** kaggle_metric_utilities.verify_valid_probabilities on the given columns. */
const verifyProbabilities = (
  table: ProbabilityTable,
  source: string,
  columnIndex: ReadonlyArray<number>,
  rows: number,
): Either.Either<void, MetricInputError> => {
  const stride = table.columns.length
  let min = Infinity
  let max = -Infinity
  let minAt = { row: -1, column: "" }
  let maxAt = { row: -1, column: "" }
  for (let r = 0; r < rows; r++) {
    for (const c of columnIndex) {
      const v = table.values[r * stride + c]!
      if (v < min) {
        min = v
        minAt = { row: r, column: table.columns[c]! }
      }
      if (v > max) {
        max = v
        maxAt = { row: r, column: table.columns[c]! }
      }
    }
  }
  if (min < 0) {
    return Either.left(new MetricInputError({ source, ...minAt, detail: `All target values in ${source} must be at least zero (${min})` }))
  }
  if (max > 1) {
    return Either.left(new MetricInputError({ source, ...maxAt, detail: `All target values in ${source} must be no greater than one (${max})` }))
  }
  for (let r = 0; r < rows; r++) {
    let s = 0
    for (const c of columnIndex) s += table.values[r * stride + c]!
    if (!(Math.abs(s - 1) <= ALLCLOSE_ATOL + ALLCLOSE_RTOL)) {
      return Either.left(new MetricInputError({ source, row: r, column: "", detail: `Target values in ${source} do not add to one (sum ${s})` }))
    }
  }
  return Either.right(undefined)
}

/** The per-cell KL terms (rows x solution columns, row-major, float64) after validation and clipping. */
const klCells = (
  solution: ProbabilityTable,
  submission: ProbabilityTable,
  epsilon: number,
): Either.Either<{ readonly cells: Float64Array; readonly rows: number; readonly cols: number }, MetricInputError> =>
  Either.gen(function* () {
    const rows = yield* rowCount(solution, "solution")
    const subRows = yield* rowCount(submission, "submission")
    if (rows !== subRows) {
      return yield* Either.left(new MetricInputError({ source: "submission", row: -1, column: "", detail: `${subRows} rows for ${rows} solution rows` }))
    }
    const subIndex: Array<number> = []
    for (const col of solution.columns) {
      const j = submission.columns.indexOf(col)
      if (j < 0) {
        return yield* Either.left(new MetricInputError({ source: "submission", row: -1, column: col, detail: `Missing submission column ${col}` }))
      }
      subIndex.push(j)
    }
    if (solution.rowIds !== undefined && submission.rowIds !== undefined) {
      for (let r = 0; r < rows; r++) {
        if (solution.rowIds[r] !== submission.rowIds[r]) {
          return yield* Either.left(
            new MetricInputError({
              source: "submission",
              row: r,
              column: "",
              detail: `row id ${String(submission.rowIds[r])} where the solution has ${String(solution.rowIds[r])}`,
            }),
          )
        }
      }
    }
    const cols = solution.columns.length
    yield* verifyProbabilities(
      solution,
      "solution",
      solution.columns.map((_, i) => i),
      rows,
    )
    yield* verifyProbabilities(submission, "submission", subIndex, rows)
    const hi = 1 - epsilon
    const subStride = submission.columns.length
    const cells = new Float64Array(rows * cols)
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const y = solution.values[r * cols + c]!
        if (y === 0) continue
        const raw = submission.values[r * subStride + subIndex[c]!]!
        // biome-ignore lint/complexity/useMathMinMax: numpy's clip, written as it compares (NaN passes through)
        const p = raw < epsilon ? epsilon : raw > hi ? hi : raw
        cells[r * cols + c] = y * Math.log(y / p)
      }
    }
    return { cells, rows, cols }
  })

/** `kaggle_kl_div.score(solution, submission, ...)` with the id column already dropped. */
export const klDivergenceScore = (
  solution: ProbabilityTable,
  submission: ProbabilityTable,
  options: KlScoreOptions = KL_SCORE_DEFAULTS,
): Either.Either<number, MetricInputError> =>
  Either.gen(function* () {
    if (options.sampleWeights !== undefined && !options.microAverage) {
      return yield* Either.left(
        new MetricInputError({
          source: "solution",
          row: -1,
          column: "",
          detail: "Sample weights are only valid if `micro_average` is `True`",
        }),
      )
    }
    const { cells, rows, cols } = yield* klCells(solution, submission, options.epsilon)
    if (options.microAverage) {
      const rowSums = new Float64Array(rows)
      for (let r = 0; r < rows; r++) {
        let s = 0
        for (let c = 0; c < cols; c++) s += cells[r * cols + c]!
        rowSums[r] = s
      }
      const w = options.sampleWeights
      if (w === undefined) return numpySum(rowSums, 0, rows, false) / rows
      if (w.length !== rows) {
        return yield* Either.left(new MetricInputError({ source: "solution", row: -1, column: "", detail: `${w.length} sample weights for ${rows} rows` }))
      }
      const weighted = rowSums.map((v, i) => v * w[i]!)
      return numpySum(weighted, 0, rows, false) / numpySum(w, 0, rows, false)
    }
    const means = perColumnMeans(cells, rows, cols)
    return numpySum(means, 0, cols, false) / cols
  })

const perColumnMeans = (cells: Float64Array, rows: number, cols: number): Float64Array => {
  const means = new Float64Array(cols)
  const column = new Float64Array(rows)
  for (let c = 0; c < cols; c++) {
    for (let r = 0; r < rows; r++) column[r] = cells[r * cols + c]!
    means[c] = numpySum(column, 0, rows, false) / rows
  }
  return means
}

/** Each class's contribution to the (micro-averaged) score: the column means of the KL terms. */
export const perClassKl = (
  solution: ProbabilityTable,
  submission: ProbabilityTable,
  epsilon: number = KAGGLE_KL_EPSILON,
): Either.Either<ReadonlyArray<{ readonly column: string; readonly kl: number }>, MetricInputError> =>
  Either.map(klCells(solution, submission, epsilon), ({ cells, rows, cols }) => {
    const means = perColumnMeans(cells, rows, cols)
    return solution.columns.map((column, c) => ({ column, kl: means[c]! }))
  })
