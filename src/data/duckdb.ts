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
 */
import { BIGINT, DOUBLE, DuckDBDataChunk, DuckDBInstance, FLOAT, type DuckDBConnection, type DuckDBType } from "@duckdb/node-api"
import { Context, Effect, Layer, type Scope } from "effect"
import { open, stat } from "node:fs/promises"
import {
  ColumnOutOfOrder,
  CsvMalformed,
  describeCause,
  DuckDbFailed,
  EmptyFile,
  FileReadFailed,
  FileWriteFailed,
  InvalidValue,
  MissingColumn,
  ParquetCorrupt,
  ParquetSchemaMismatch,
  UnexpectedColumn,
} from "./errors.js"
import type { ColumnMajorOptions, ColumnMajorTable, ColumnMajorWrite } from "./parquet/index.js"

// ---------------------------------------------------------------------------------------------
// Schemas

/** `float64`: any number DuckDB parses (NaN and inf included); `integer`: a whole number below 2^53; `string`: as is (empty cells are ""). */
export type CsvType = "float64" | "integer" | "string"
export interface CsvColumn {
  readonly name: string
  readonly type: CsvType
}
export type CsvSchema = ReadonlyArray<CsvColumn>
type ColumnValues<T extends CsvType> = T extends "string" ? ReadonlyArray<string> : Float64Array
export type CsvColumns<S extends CsvSchema> = { readonly [C in S[number] as C["name"]]: ColumnValues<C["type"]> }

export interface CsvTable<S extends CsvSchema> {
  readonly file: string
  readonly rows: number
  readonly columns: CsvColumns<S>
}

export type CsvReadError = FileReadFailed | EmptyFile | MissingColumn | UnexpectedColumn | ColumnOutOfOrder | InvalidValue | CsvMalformed | DuckDbFailed
export type ParquetReadError = FileReadFailed | ParquetCorrupt | ParquetSchemaMismatch | DuckDbFailed

export interface DuckDbService {
  readonly readCsv: <const S extends CsvSchema>(file: string, schema: S) => Effect.Effect<CsvTable<S>, CsvReadError>
  readonly readParquetColumnMajor: (file: string, options: ColumnMajorOptions) => Effect.Effect<ColumnMajorTable, ParquetReadError>
  readonly writeParquetColumnMajor: (file: string, table: ColumnMajorWrite) => Effect.Effect<void, FileWriteFailed | DuckDbFailed>
  readonly query: (sql: string) => Effect.Effect<ReadonlyArray<Record<string, unknown>>, DuckDbFailed>
}

export class DuckDb extends Context.Tag("cairn/DuckDb")<DuckDb, DuckDbService>() {}

// ---------------------------------------------------------------------------------------------
// Helpers

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)
const HEADER_PROBE_BYTES = 64 * 1024
const CSV_DELIMITER = ","
const CSV_QUOTE = '"'
const BOM = "\uFEFF"

/** A SQL string literal. */
export const sqlString = (s: string): string => `'${s.replaceAll("'", "''")}'`
/** A SQL quoted identifier. */
export const sqlIdent = (s: string): string => `"${s.replaceAll('"', '""')}"`

const withConnection = <A, E>(
  instance: DuckDBInstance,
  operation: string,
  use: (connection: DuckDBConnection) => Effect.Effect<A, E>,
): Effect.Effect<A, E | DuckDbFailed> =>
  Effect.acquireUseRelease(
    Effect.tryPromise({
      try: () => instance.connect(),
      catch: (cause) => new DuckDbFailed({ operation: `connecting for ${operation}`, reason: describeCause(cause) }),
    }),
    use,
    (connection) => Effect.sync(() => connection.closeSync()),
  )

/** Splits one CSV record (no embedded newlines) into fields, honouring double quotes. */
const splitCsvRecord = (line: string): Array<string> => {
  const fields: Array<string> = []
  let field = ""
  let quoted = false
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!
    if (quoted) {
      if (ch === CSV_QUOTE && line[i + 1] === CSV_QUOTE) {
        field += CSV_QUOTE
        i++
      } else if (ch === CSV_QUOTE) quoted = false
      else field += ch
    } else if (ch === CSV_QUOTE) quoted = true
    else if (ch === CSV_DELIMITER) {
      fields.push(field)
      field = ""
    } else field += ch
  }
  fields.push(field)
  return fields
}

/** The header fields of a CSV file, or `EmptyFile` when it has no non-blank line. */
const readCsvHeader = (file: string): Effect.Effect<Array<string>, FileReadFailed | EmptyFile> =>
  Effect.tryPromise({
    try: async () => {
      const handle = await open(file, "r")
      try {
        let text = ""
        let position = 0
        for (;;) {
          const buffer = Buffer.alloc(HEADER_PROBE_BYTES)
          const { bytesRead } = await handle.read(buffer, 0, HEADER_PROBE_BYTES, position)
          position += bytesRead
          text += buffer.toString("utf8", 0, bytesRead)
          const trimmed = text.replace(/^[\s\uFEFF]+/, "")
          const newline = trimmed.indexOf("\n")
          if (newline >= 0) return trimmed.slice(0, newline)
          if (bytesRead === 0) return trimmed
        }
      } finally {
        await handle.close()
      }
    },
    catch: (cause) => new FileReadFailed({ file, reason: describeCause(cause) }),
  }).pipe(
    Effect.flatMap((line) => {
      const header = line.replace(/\r$/, "").replace(BOM, "")
      return header.trim() === "" ? Effect.fail(new EmptyFile({ file, detail: "no header row" })) : Effect.succeed(splitCsvRecord(header))
    }),
  )

const checkHeader = (file: string, header: ReadonlyArray<string>, schema: CsvSchema): Effect.Effect<void, MissingColumn | UnexpectedColumn | ColumnOutOfOrder> => {
  const expected = new Set(schema.map((c) => c.name))
  const seen = new Set<string>()
  for (let i = 0; i < header.length; i++) {
    const name = header[i]!
    if (!expected.has(name) || seen.has(name)) return Effect.fail(new UnexpectedColumn({ file, column: name, position: i + 1 }))
    seen.add(name)
  }
  for (const c of schema) if (!seen.has(c.name)) return Effect.fail(new MissingColumn({ file, column: c.name, header }))
  for (let i = 0; i < schema.length; i++) {
    if (header[i] !== schema[i]!.name) return Effect.fail(new ColumnOutOfOrder({ file, column: header[i]!, position: i + 1, expected: schema[i]!.name }))
  }
  return Effect.void
}

const runQuery = (connection: DuckDBConnection, sql: string, operation: string) =>
  Effect.tryPromise({
    try: async () => {
      const result = await connection.run(sql)
      return { names: result.columnNames(), types: result.columnTypes(), chunks: await result.fetchAllChunks() }
    },
    catch: (cause) => new DuckDbFailed({ operation, reason: describeCause(cause) }),
  })

const EXPECTED_TEXT: Record<Exclude<CsvType, "string">, string> = {
  float64: "a number",
  integer: "an integer",
}

// ---------------------------------------------------------------------------------------------
// CSV

const readCsvWith = <const S extends CsvSchema>(instance: DuckDBInstance, file: string, schema: S): Effect.Effect<CsvTable<S>, CsvReadError> =>
  Effect.gen(function* () {
    const header = yield* readCsvHeader(file)
    yield* checkHeader(file, header, schema)
    const columnsSpec = `{${schema.map((c) => `${sqlString(c.name)}: 'VARCHAR'`).join(", ")}}`
    const source = `read_csv(${sqlString(file)}, header = true, auto_detect = false, columns = ${columnsSpec}, delim = ',', quote = '"', escape = '"', strict_mode = true, null_padding = false)`
    const select = schema
      .map((c, i) => {
        const col = sqlIdent(c.name)
        if (c.type === "string") return `${col} AS c${i}`
        // DuckDB's VARCHAR -> BIGINT cast rounds "2.5" to 3: integers must be digits only.
        const value = c.type === "integer" ? `CASE WHEN regexp_full_match(${col}, '\\s*[+-]?[0-9]+\\s*') THEN TRY_CAST(${col} AS BIGINT) END` : `TRY_CAST(${col} AS DOUBLE)`
        return `${value} AS c${i}, ${col} IS NULL AS e${i}`
      })
      .join(", ")
    return yield* withConnection(instance, `reading ${file}`, (connection) =>
      Effect.gen(function* () {
        const result = yield* runQuery(connection, `SELECT ${select} FROM ${source}`, `reading ${file}`).pipe(
          Effect.mapError((e) => new CsvMalformed({ file, reason: e.reason })),
        )
        const rows = result.chunks.reduce((a, c) => a + c.rowCount, 0)
        const columns: Record<string, Float64Array | Array<string>> = {}
        // The first bad cell in row order (then column order): [row index, schema index, empty?].
        let bad: [number, number, boolean] | undefined
        let outColumn = 0
        for (let k = 0; k < schema.length; k++) {
          const spec = schema[k]!
          if (spec.type === "string") {
            const out: Array<string> = new Array(rows)
            let r = 0
            for (const chunk of result.chunks) {
              const v = chunk.getColumnVector(outColumn)
              for (let i = 0; i < chunk.rowCount; i++) out[r++] = (v.getItem(i) as string | null) ?? ""
            }
            columns[spec.name] = out
            outColumn += 1
            continue
          }
          const out = new Float64Array(rows)
          let r = 0
          search: for (const chunk of result.chunks) {
            const v = chunk.getColumnVector(outColumn)
            const empty = chunk.getColumnVector(outColumn + 1)
            for (let i = 0; i < chunk.rowCount; i++, r++) {
              const x = v.getItem(i) as number | bigint | null
              if (x === null || (typeof x === "bigint" && (x > MAX_SAFE || x < -MAX_SAFE))) {
                if (bad === undefined || r < bad[0]) bad = [r, k, empty.getItem(i) === true]
                break search
              }
              out[r] = Number(x)
            }
          }
          columns[spec.name] = out
          outColumn += 2
        }
        if (bad !== undefined) {
          const [r, k, isEmpty] = bad
          const spec = schema[k]!
          let raw = ""
          if (!isEmpty) {
            const one = yield* runQuery(connection, `SELECT ${sqlIdent(spec.name)} FROM ${source} LIMIT 1 OFFSET ${r}`, `reading ${file}`)
            raw = (one.chunks[0]?.getColumnVector(0).getItem(0) as string | null | undefined) ?? ""
          }
          const expected = spec.type === "integer" ? `${EXPECTED_TEXT.integer} below 2^53` : EXPECTED_TEXT.float64
          return yield* Effect.fail(new InvalidValue({ file, row: r + 1, column: spec.name, value: raw, expected }))
        }
        return { file, rows, columns: columns as unknown as CsvColumns<S> }
      }),
    )
  })

// ---------------------------------------------------------------------------------------------
// Parquet

const NUMERIC_INDEX_TYPES = new Set(["TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE"])
const FLOAT_TYPES = new Set(["FLOAT", "DOUBLE"])

const readParquetWith = (instance: DuckDBInstance, file: string, options: ColumnMajorOptions): Effect.Effect<ColumnMajorTable, ParquetReadError> =>
  Effect.gen(function* () {
    yield* Effect.tryPromise({
      try: () => stat(file),
      catch: (cause) => new FileReadFailed({ file, reason: describeCause(cause) }),
    })
    return yield* withConnection(instance, `reading ${file}`, (connection) =>
      Effect.gen(function* () {
        const result = yield* runQuery(connection, `SELECT * FROM read_parquet(${sqlString(file)})`, `reading ${file}`).pipe(
          Effect.mapError((e) => new ParquetCorrupt({ file, reason: e.reason })),
        )
        const { names, types, chunks } = result
        const first = names[0]
        if (first !== options.indexColumn) {
          return yield* Effect.fail(new ParquetSchemaMismatch({ file, column: first ?? "(none)", reason: `the first column must be "${options.indexColumn}"` }))
        }
        if (!NUMERIC_INDEX_TYPES.has(types[0]!.toString())) {
          return yield* Effect.fail(new ParquetSchemaMismatch({ file, column: first, reason: `is ${types[0]!.toString()}, expected an integer or float type` }))
        }
        for (let j = 1; j < names.length; j++) {
          if (!FLOAT_TYPES.has(types[j]!.toString())) {
            return yield* Effect.fail(new ParquetSchemaMismatch({ file, column: names[j]!, reason: `is ${types[j]!.toString()}, expected FLOAT or DOUBLE` }))
          }
        }
        const rows = chunks.reduce((a, c) => a + c.rowCount, 0)
        const nValues = names.length - 1
        const data = new Float32Array(nValues * rows)
        const index = new Float64Array(rows)
        const missing = options.missingValue
        let r0 = 0
        for (const chunk of chunks) {
          const n = chunk.rowCount
          const iv = chunk.getColumnVector(0)
          for (let i = 0; i < n; i++) {
            const t = iv.getItem(i) as number | bigint | null
            index[r0 + i] = t === null ? NaN : Number(t)
          }
          for (let j = 0; j < nValues; j++) {
            const v = chunk.getColumnVector(j + 1)
            const base = j * rows + r0
            for (let i = 0; i < n; i++) {
              const x = v.getItem(i) as number | null
              data[base + i] = x === null || x !== x ? missing : x
            }
          }
          r0 += n
        }
        return { columns: names.slice(1), rows, data, index }
      }),
    )
  })

/** DuckDB's vectors hold at most this many rows. */
const VECTOR_SIZE = 2048
let tempTableCounter = 0

const writeParquetWith = (instance: DuckDBInstance, file: string, table: ColumnMajorWrite): Effect.Effect<void, FileWriteFailed | DuckDbFailed> =>
  withConnection(instance, `writing ${file}`, (connection) =>
    Effect.tryPromise({
      try: async () => {
        const { rows, data, columns } = table
        if (data.length !== columns.length * rows) throw new RangeError(`${columns.length} columns of ${rows} rows need ${columns.length * rows} values, data has ${data.length}`)
        let integral = true
        for (let i = 0; i < rows; i++) if (!Number.isSafeInteger(table.index[i])) integral = false
        const name = `cairn_write_${++tempTableCounter}`
        const defs = [`${sqlIdent(table.indexColumn)} ${integral ? "BIGINT" : "DOUBLE"}`, ...columns.map((c) => `${sqlIdent(c)} FLOAT`)]
        await connection.run(`CREATE TABLE ${name} (${defs.join(", ")})`)
        try {
          const appender = await connection.createAppender(name)
          const types: Array<DuckDBType> = [integral ? BIGINT : DOUBLE, ...columns.map(() => FLOAT)]
          for (let r0 = 0; r0 < rows; r0 += VECTOR_SIZE) {
            const n = Math.min(VECTOR_SIZE, rows - r0)
            const chunk = DuckDBDataChunk.create(types, n)
            const iv = chunk.getColumnVector(0)
            for (let i = 0; i < n; i++) iv.setItem(i, integral ? BigInt(table.index[r0 + i]!) : table.index[r0 + i]!)
            iv.flush()
            for (let j = 0; j < columns.length; j++) {
              const v = chunk.getColumnVector(j + 1)
              const base = j * rows + r0
              for (let i = 0; i < n; i++) v.setItem(i, data[base + i]!)
              v.flush()
            }
            appender.appendDataChunk(chunk)
          }
          appender.closeSync()
          await connection.run(`COPY ${name} TO ${sqlString(file)} (FORMAT parquet)`)
        } finally {
          await connection.run(`DROP TABLE IF EXISTS ${name}`)
        }
      },
      catch: (cause) => new FileWriteFailed({ file, reason: describeCause(cause) }),
    }),
  )

const queryWith = (instance: DuckDBInstance, sql: string): Effect.Effect<ReadonlyArray<Record<string, unknown>>, DuckDbFailed> =>
  withConnection(instance, "running a query", (connection) =>
    Effect.tryPromise({
      try: async () => (await connection.run(sql)).getRowObjectsJS(),
      catch: (cause) => new DuckDbFailed({ operation: `running ${sql}`, reason: describeCause(cause) }),
    }),
  )

// ---------------------------------------------------------------------------------------------
// Layers

export interface DuckDbOptions {
  /** DuckDB worker threads per query; DuckDB's default (all cores) when absent. */
  readonly threads?: number
}

/** Opens an in-memory DuckDB instance for the scope and closes it after. */
export const makeDuckDb = (options: DuckDbOptions = {}): Effect.Effect<DuckDbService, DuckDbFailed, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => DuckDBInstance.create(":memory:", options.threads === undefined ? {} : { threads: String(options.threads) }),
      catch: (cause) => new DuckDbFailed({ operation: "opening an in-memory database", reason: describeCause(cause) }),
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
        catch: (cause) => new DuckDbFailed({ operation: "opening an in-memory database", reason: describeCause(cause) }),
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
