/**
 * Reading a parquet file as a `ColumnMajorTable` (an index column, then float value columns) the
 * fast way when possible: the native decoder (`parquet/`) first, DuckDB when the native decoder
 * meets a feature it lacks (a codec, an encoding, a nested column; `ParquetUnsupported`) or finds
 * the file corrupt (`ParquetCorrupt`), since DuckDB reads more and has the last word on what is
 * corrupt. A missing file (`FileReadFailed`) or a schema the caller does not accept
 * (`ParquetSchemaMismatch`) is final: DuckDB would say the same.
 */
import { Effect } from "effect"
import { DuckDb, type ParquetReadError } from "./duckdb/index.js"
import type { ParquetCorrupt, ParquetUnsupported } from "./data-errors.js"
import { readParquetColumnMajor, type ColumnMajorOptions, type ColumnMajorTable } from "./parquet/index.js"

/** The native decoder's failures on which `readParquetTable` asks DuckDB instead. */
export type NativeParquetFallback = ParquetUnsupported | ParquetCorrupt

/** A parquet file as a `ColumnMajorTable`: the native decoder, or DuckDB where it falls short. */
export const readParquetTable = (file: string, options: ColumnMajorOptions): Effect.Effect<ColumnMajorTable, ParquetReadError, DuckDb> => {
  const viaDuckDb = (_: NativeParquetFallback): Effect.Effect<ColumnMajorTable, ParquetReadError, DuckDb> =>
    Effect.flatMap(DuckDb, (db) => db.readParquetColumnMajor(file, options))
  return readParquetColumnMajor(file, options).pipe(Effect.catchTags({ ParquetUnsupported: viaDuckDb, ParquetCorrupt: viaDuckDb }))
}
