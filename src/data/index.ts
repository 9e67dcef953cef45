/**
 * `cairn/data`: reading and writing the tables and arrays stages exchange (CSV and Parquet through
 * DuckDB, Arrow IPC, .npy), k-fold splits, numpy's RandomState, summary statistics, downloads, and
 * the errors they fail with. Everything else under src/data is internal.
 *
 * Named re-exports only: a stage's code closure then covers the modules it takes names from, not
 * every module listed here.
 */
export { readArrowTable, writeArrowTable } from "./arrow.js"
export type { ArrowColumns, Columns, ColumnValues } from "./arrow.js"
export { formatCsv, pythonFloatRepr, writeCsv } from "./csv.js"
export type { CsvOutColumn } from "./csv.js"
export { downloadFile, DownloadFailed } from "./download.js"
export type { DownloadOptions } from "./download.js"
export { DuckDb, DuckDbLazy, DuckDbLive, duckDbLayer, makeDuckDb, makeLazyDuckDb, sqlIdent, sqlString } from "./duckdb/index.js"
export type { CsvColumn, CsvColumns, CsvReadError, CsvSchema, CsvTable, CsvType, DuckDbOptions, DuckDbService, ParquetReadError } from "./duckdb/index.js"
export {
  ColumnOutOfOrder,
  CsvMalformed,
  DuckDbFailed,
  EmptyFile,
  FileReadFailed,
  FileWriteFailed,
  InvalidValue,
  MissingColumn,
  NpyInvalid,
  ParquetCorrupt,
  ParquetSchemaMismatch,
  ParquetUnsupported,
  SplitInputInvalid,
  UnexpectedColumn,
} from "./data-errors.js"
export { stratifiedGroupKFold, stratifiedKFold, unique } from "./kfold.js"
export type { Labels, StratifiedGroupKFoldOptions, StratifiedGroupKFoldVariant, StratifiedKFoldOptions } from "./kfold.js"
export { decodeNpy, encodeNpy, readNpy, writeNpy } from "./npy.js"
export type { NpyArray } from "./npy.js"
export { encodeParquetColumnMajor } from "./parquet/index.js"
export type { ColumnMajorTable, ColumnMajorWrite } from "./parquet/index.js"
export { MAGIC, MAGIC_BYTES } from "./parquet/format.js"
export { RandomState } from "./random-state.js"
export { readParquetTable } from "./read-parquet-table.js"
export { spread } from "./stats.js"
export type { Spread } from "./stats.js"
