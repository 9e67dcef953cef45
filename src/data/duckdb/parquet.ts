/** Column-major parquet files read and written through DuckDB. */
import { stat } from "node:fs/promises"
import { BIGINT, DOUBLE, DuckDBDataChunk, type DuckDBInstance, FLOAT, type DuckDBType } from "@duckdb/node-api"
import { Effect } from "effect"
import { describeError, type DuckDbFailed, FileReadFailed, FileWriteFailed, ParquetCorrupt, ParquetSchemaMismatch } from "../data-errors.js"
import type { ColumnMajorOptions, ColumnMajorTable, ColumnMajorWrite } from "../parquet/index.js"
import { runQuery, sqlIdent, sqlString, withConnection } from "./duckdb-connection.js"

export type ParquetReadError = FileReadFailed | ParquetCorrupt | ParquetSchemaMismatch | DuckDbFailed

const NUMERIC_INDEX_TYPES = new Set(["TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE"])
const FLOAT_TYPES = new Set(["FLOAT", "DOUBLE"])

/** Reads an index column plus float value columns into one column-major `Float32Array` (NULL and NaN filled). */
export const readParquetWith = (instance: DuckDBInstance, file: string, options: ColumnMajorOptions): Effect.Effect<ColumnMajorTable, ParquetReadError> =>
  Effect.gen(function* () {
    yield* Effect.tryPromise({
      try: () => stat(file),
      catch: (cause) => new FileReadFailed({ file, reason: describeError(cause) }),
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

/** Writes a column-major table through DuckDB's appender and `COPY ... (FORMAT parquet)`. */
export const writeParquetWith = (instance: DuckDBInstance, file: string, table: ColumnMajorWrite): Effect.Effect<void, FileWriteFailed | DuckDbFailed> =>
  withConnection(instance, `writing ${file}`, (connection) =>
    Effect.tryPromise({
      try: async () => {
        const { rows, data, columns } = table
        if (data.length !== columns.length * rows)
          throw new RangeError(`${columns.length} columns of ${rows} rows need ${columns.length * rows} values, data has ${data.length}`)
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
      catch: (cause) => new FileWriteFailed({ file, reason: describeError(cause) }),
    }),
  )
