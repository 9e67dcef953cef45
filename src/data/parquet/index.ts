/**
 * A native reader and writer for flat, numeric parquet tables (INT32, INT64, FLOAT, DOUBLE leaves).
 *
 * DuckDB (`../duckdb.ts`) reads any parquet file, but pays a large fixed cost per column (about
 * 0.1 ms each, so some 40 ms for a 400-column table), which dominates a file of a few hundred rows.
 * This module decodes the same files directly from their bytes: the Thrift compact footer, data
 * pages v1 and v2, PLAIN, dictionary (PLAIN_DICTIONARY / RLE_DICTIONARY) and BYTE_STREAM_SPLIT
 * encodings, RLE/bit-packed definition levels, and the UNCOMPRESSED, SNAPPY, GZIP, BROTLI (and,
 * where node has it, ZSTD) codecs. Anything else (nested or repeated columns, other encodings or
 * codecs) is a `ParquetUnsupported` error, on which callers fall back to DuckDB
 * (`../read-parquet-table.ts`).
 *
 * The writer emits what pandas/pyarrow would for a flat numeric frame (see `writer.ts`).
 */
export type { ColumnMajorOptions, ColumnMajorTable, ColumnMajorWrite } from "./column-major.js"
export { PhysicalType, type NumericPhysicalType } from "./format.js"
export type { ParquetColumn, ParquetLayout } from "./layout.js"
export { decodeParquetColumnMajor, decodeParquetColumns, parquetSchema, readParquetColumnMajor } from "./reader.js"
export { encodeParquet, encodeParquetColumnMajor, writeParquetColumnMajor, type ParquetColumnData, type ParquetWriteOptions } from "./writer.js"
