/**
 * The DuckDB service: an in-memory DuckDB instance (`@duckdb/node-api`) opened and closed as a
 * scoped resource, with the table reads and writes cairn's stages need. Each call runs on its own
 * connection, so two calls in flight run in parallel.
 *
 * - `readCsv`: a CSV with an expected schema (column names in order, types) into typed columns,
 *   read column-wise from DuckDB's chunks. Ids are exact as numbers below 2^53.
 * - `readParquetColumnMajor`: an index column (`time`) plus float value columns into one
 *   column-major `Float32Array`, NULL and NaN replaced (pandas' `fillna`).
 * - `writeParquetColumnMajor`: the reverse, through DuckDB's appender and `COPY ... (FORMAT parquet)`.
 * - `query`: rows of a small SQL query as plain objects (reports, tests).
 *
 * Files: connection.ts (connections, quoting, queries), read-csv.ts, parquet.ts, this service.
 */
import { DuckDBInstance } from "@duckdb/node-api"
import { Context, Effect, Layer, type Scope } from "effect"
import { describeError, DuckDbFailed, type FileWriteFailed } from "../data-errors.js"
import type { ColumnMajorOptions, ColumnMajorTable, ColumnMajorWrite } from "../parquet/index.js"
import { queryWith } from "./duckdb-connection.js"
import { type ParquetReadError, readParquetWith, writeParquetWith } from "./parquet.js"
import { type CsvReadError, type CsvSchema, type CsvTable, readCsvWith } from "./read-csv.js"

export interface DuckDbService {
  readonly readCsv: <const S extends CsvSchema>(file: string, schema: S) => Effect.Effect<CsvTable<S>, CsvReadError>
  readonly readParquetColumnMajor: (file: string, options: ColumnMajorOptions) => Effect.Effect<ColumnMajorTable, ParquetReadError>
  readonly writeParquetColumnMajor: (file: string, table: ColumnMajorWrite) => Effect.Effect<void, FileWriteFailed | DuckDbFailed>
  readonly query: (sql: string) => Effect.Effect<ReadonlyArray<Record<string, unknown>>, DuckDbFailed>
}

export class DuckDb extends Context.Tag("cairn/DuckDb")<DuckDb, DuckDbService>() {}

export interface DuckDbOptions {
  /** DuckDB worker threads per query; DuckDB's default (all cores) when absent. */
  readonly threads?: number
}

/** Opens an in-memory DuckDB instance for the scope and closes it after. */
export const makeDuckDb = (options: DuckDbOptions = {}): Effect.Effect<DuckDbService, DuckDbFailed, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => DuckDBInstance.create(":memory:", options.threads === undefined ? {} : { threads: String(options.threads) }),
      catch: (cause) => new DuckDbFailed({ operation: "opening an in-memory database", reason: describeError(cause) }),
    }),
    (instance) => Effect.sync(() => instance.closeSync()),
  ).pipe(
    Effect.map(
      (instance): DuckDbService => ({
        readCsv: (file, schema) => readCsvWith(instance, file, schema),
        readParquetColumnMajor: (file, options) => readParquetWith(instance, file, options),
        writeParquetColumnMajor: (file, table) => writeParquetWith(instance, file, table),
        query: (sql) => queryWith(instance, sql),
      }),
    ),
  )

/**
 * The same service, opening its instance on first use only (and closing it with the scope if it
 * was opened): for code that needs DuckDB rarely, such as a fallback in a worker thread.
 */
export const makeLazyDuckDb = (options: DuckDbOptions = {}): Effect.Effect<DuckDbService, never, Scope.Scope> =>
  Effect.gen(function* () {
    let opened: DuckDBInstance | undefined
    yield* Effect.addFinalizer(() => Effect.sync(() => opened?.closeSync()))
    const instance = yield* Effect.cached(
      Effect.tryPromise({
        try: () => DuckDBInstance.create(":memory:", options.threads === undefined ? {} : { threads: String(options.threads) }),
        catch: (cause) => new DuckDbFailed({ operation: "opening an in-memory database", reason: describeError(cause) }),
      }).pipe(Effect.tap((i) => Effect.sync(() => void (opened = i)))),
    )
    return {
      readCsv: (file, schema) => Effect.flatMap(instance, (i) => readCsvWith(i, file, schema)),
      readParquetColumnMajor: (file, opts) => Effect.flatMap(instance, (i) => readParquetWith(i, file, opts)),
      writeParquetColumnMajor: (file, table) => Effect.flatMap(instance, (i) => writeParquetWith(i, file, table)),
      query: (sql) => Effect.flatMap(instance, (i) => queryWith(i, sql)),
    } satisfies DuckDbService
  })

/** The lazy DuckDB service (see `makeLazyDuckDb`). */
export const DuckDbLazy: Layer.Layer<DuckDb> = Layer.scoped(DuckDb, makeLazyDuckDb())

/** The DuckDB service over an in-memory instance. */
export const DuckDbLive: Layer.Layer<DuckDb, DuckDbFailed> = Layer.scoped(DuckDb, makeDuckDb())

/** The same with a chosen thread count. */
export const duckDbLayer = (options: DuckDbOptions): Layer.Layer<DuckDb, DuckDbFailed> => Layer.scoped(DuckDb, makeDuckDb(options))
