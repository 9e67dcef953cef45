/** Reading a CSV with an expected schema through DuckDB, into typed columns, checked header first. */
import { open } from "node:fs/promises"
import type { DuckDBInstance } from "@duckdb/node-api"
import { Effect } from "effect"
import {
  ColumnOutOfOrder,
  CsvMalformed,
  describeError,
  type DuckDbFailed,
  EmptyFile,
  FileReadFailed,
  InvalidValue,
  MissingColumn,
  UnexpectedColumn,
} from "../data-errors.js"
import { runQuery, sqlIdent, sqlString, withConnection } from "./duckdb-connection.js"

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

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)
const HEADER_PROBE_BYTES = 64 * 1024
const CSV_DELIMITER = ","
const CSV_QUOTE = '"'
const BOM = "\uFEFF"

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
    catch: (cause) => new FileReadFailed({ file, reason: describeError(cause) }),
  }).pipe(
    Effect.flatMap((line) => {
      const header = line.replace(/\r$/, "").replace(BOM, "")
      return header.trim() === "" ? Effect.fail(new EmptyFile({ file, detail: "no header row" })) : Effect.succeed(splitCsvRecord(header))
    }),
  )

const checkHeader = (
  file: string,
  header: ReadonlyArray<string>,
  schema: CsvSchema,
): Effect.Effect<void, MissingColumn | UnexpectedColumn | ColumnOutOfOrder> => {
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

const EXPECTED_TEXT: Record<Exclude<CsvType, "string">, string> = {
  float64: "a number",
  integer: "an integer",
}

/** Reads `file` as a CSV with `schema` (names in order, types) into typed columns. */
export const readCsvWith = <const S extends CsvSchema>(instance: DuckDBInstance, file: string, schema: S): Effect.Effect<CsvTable<S>, CsvReadError> =>
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
        const value =
          c.type === "integer" ? `CASE WHEN regexp_full_match(${col}, '\\s*[+-]?[0-9]+\\s*') THEN TRY_CAST(${col} AS BIGINT) END` : `TRY_CAST(${col} AS DOUBLE)`
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
