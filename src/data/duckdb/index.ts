/** The DuckDB service and what it reads and writes (see service.ts). */
export { sqlIdent, sqlString } from "./duckdb-connection.js"
export type { ParquetReadError } from "./parquet.js"
export type { CsvColumn, CsvColumns, CsvReadError, CsvSchema, CsvTable, CsvType } from "./read-csv.js"
export { DuckDb, DuckDbLazy, DuckDbLive, type DuckDbOptions, type DuckDbService, duckDbLayer, makeDuckDb, makeLazyDuckDb } from "./service.js"
