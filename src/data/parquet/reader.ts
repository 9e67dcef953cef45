/** Reading flat numeric parquet files with the native decoder. */
import { Effect, Either } from "effect"
import { readFile } from "node:fs/promises"
import { describeError, FileReadFailed, type ParquetCorrupt, ParquetSchemaMismatch, type ParquetUnsupported } from "../data-errors.js"
import type { ColumnMajorOptions, ColumnMajorTable } from "./column-major.js"
import { decodeColumn } from "./column.js"
import { attempt } from "./failure.js"
import { PhysicalType } from "./format.js"
import { parseLayout, type ParquetColumn } from "./layout.js"

/** The columns and row count of a parquet file, from its footer. */
export const parquetSchema = (
  bytes: Uint8Array,
  file: string,
): Either.Either<{ rows: number; columns: ReadonlyArray<ParquetColumn> }, ParquetCorrupt | ParquetUnsupported> =>
  attempt(file, () => {
    const { rows, columns } = parseLayout(bytes)
    return { rows, columns }
  })

/** Every column of a flat numeric parquet file as float64 (NULL cells become NaN), by name. */
export const decodeParquetColumns = (
  bytes: Uint8Array,
  file: string,
): Either.Either<{ rows: number; columns: ReadonlyArray<ParquetColumn>; values: ReadonlyArray<Float64Array> }, ParquetCorrupt | ParquetUnsupported> =>
  attempt(file, () => {
    const layout = parseLayout(bytes)
    const values = layout.columns.map((_, j) => {
      const out = new Float64Array(layout.rows)
      decodeColumn(bytes, layout, j, out, 0, NaN)
      return out
    })
    return { rows: layout.rows, columns: layout.columns, values }
  })

const INDEX_TYPES = new Set<number>([PhysicalType.INT32, PhysicalType.INT64, PhysicalType.FLOAT, PhysicalType.DOUBLE])
const VALUE_TYPES = new Set<number>([PhysicalType.FLOAT, PhysicalType.DOUBLE])

/** Decodes a parquet file's bytes into a `ColumnMajorTable`. */
export const decodeParquetColumnMajor = (
  bytes: Uint8Array,
  file: string,
  options: ColumnMajorOptions,
): Either.Either<ColumnMajorTable, ParquetCorrupt | ParquetUnsupported | ParquetSchemaMismatch> =>
  Either.flatMap(
    attempt(file, () => parseLayout(bytes)),
    (layout): Either.Either<ColumnMajorTable, ParquetCorrupt | ParquetUnsupported | ParquetSchemaMismatch> => {
      const first = layout.columns[0]
      if (first === undefined || first.name !== options.indexColumn) {
        return Either.left(new ParquetSchemaMismatch({ file, column: first?.name ?? "(none)", reason: `the first column must be "${options.indexColumn}"` }))
      }
      if (!INDEX_TYPES.has(layout.types[0]!)) {
        return Either.left(new ParquetSchemaMismatch({ file, column: first.name, reason: `is ${first.physicalType}, expected an integer or float type` }))
      }
      for (let j = 1; j < layout.columns.length; j++) {
        if (!VALUE_TYPES.has(layout.types[j]!)) {
          const c = layout.columns[j]!
          return Either.left(new ParquetSchemaMismatch({ file, column: c.name, reason: `is ${c.physicalType}, expected FLOAT or DOUBLE` }))
        }
      }
      return attempt(file, () => {
        const rows = layout.rows
        const nValues = layout.columns.length - 1
        const data = new Float32Array(nValues * rows)
        const index = new Float64Array(rows)
        decodeColumn(bytes, layout, 0, index, 0, NaN)
        const missing = options.missingValue
        for (let j = 0; j < nValues; j++) {
          const base = j * rows
          decodeColumn(bytes, layout, j + 1, data, base, missing)
          for (let i = base; i < base + rows; i++) if (data[i] !== data[i]) data[i] = missing
        }
        return { columns: layout.columns.slice(1).map((c) => c.name), rows, data, index }
      })
    },
  )

const readBytes = (file: string): Effect.Effect<Uint8Array, FileReadFailed> =>
  Effect.tryPromise({
    try: () => readFile(file),
    catch: (cause) => new FileReadFailed({ file, reason: describeError(cause) }),
  })

/** Reads a parquet file into a `ColumnMajorTable` with the native decoder. */
export const readParquetColumnMajor = (
  file: string,
  options: ColumnMajorOptions,
): Effect.Effect<ColumnMajorTable, FileReadFailed | ParquetCorrupt | ParquetUnsupported | ParquetSchemaMismatch> =>
  Effect.flatMap(readBytes(file), (bytes) => decodeParquetColumnMajor(bytes, file, options))
