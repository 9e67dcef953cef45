/** Column-major float32 tables: an index column (e.g. `time`) followed by float value columns. */

export interface ColumnMajorTable {
  /** The value columns' names, in file order (the index column excluded). */
  readonly columns: ReadonlyArray<string>
  readonly rows: number
  /** Column-major: column j's `rows` values at [j * rows, (j + 1) * rows), i.e. a C-order (columns, rows) matrix. */
  readonly data: Float32Array
  /** The index column's values. */
  readonly index: Float64Array
}

export interface ColumnMajorOptions {
  /** The name the first column must have; it is returned in `index`, not in `data`. */
  readonly indexColumn: string
  /** What NULL and NaN value cells become (pandas' `fillna`). */
  readonly missingValue: number
}

export interface ColumnMajorWrite {
  readonly indexColumn: string
  /** Index values; written as INT64 when all are safe integers, else as DOUBLE. */
  readonly index: ArrayLike<number>
  readonly columns: ReadonlyArray<string>
  readonly rows: number
  /** Column-major float32 values, `columns.length * rows` of them. */
  readonly data: Float32Array
}
