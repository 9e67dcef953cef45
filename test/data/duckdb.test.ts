import { it as effectIt } from "@effect/vitest"
import { Effect, Either } from "effect"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect } from "vitest"
import { DuckDb, DuckDbLive } from "../../src/data/duckdb/index.js"
import { decodeParquetColumnMajor, encodeParquetColumnMajor } from "../../src/data/parquet/index.js"
import { REAL_SPECTROGRAM, REAL_SPECTROGRAM_GOLDEN } from "./real-fixture-golden.js"

const dir = mkdtempSync(join(tmpdir(), "cairn-duckdb-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const FIXTURES = join(import.meta.dirname, "fixtures")

let counter = 0
const csv = (text: string): string => {
  const file = join(dir, `t${++counter}.csv`)
  writeFileSync(file, text)
  return file
}

const SCHEMA = [
  { name: "id", type: "integer" },
  { name: "name", type: "string" },
  { name: "score", type: "float64" },
] as const

const run = <A, E>(effect: Effect.Effect<A, E, DuckDb>) => Effect.provide(effect, DuckDbLive)

describe("DuckDb.readCsv", () => {
  effectIt.effect("reads typed columns, ids exact up to 2^53", () =>
    run(
      Effect.gen(function* () {
        const db = yield* DuckDb
        const file = csv('id,name,score\n4294967295,"a, quoted",1.5\n9007199254740991,,-2e3\n3,x,nan\n')
        const t = yield* db.readCsv(file, SCHEMA)
        expect(t.rows).toBe(3)
        expect(Array.from(t.columns.id)).toEqual([4294967295, 9007199254740991, 3])
        expect(t.columns.name).toEqual(["a, quoted", "", "x"])
        expect(t.columns.score[0]).toBe(1.5)
        expect(t.columns.score[1]).toBe(-2000)
        expect(Number.isNaN(t.columns.score[2])).toBe(true)
        // CRLF line ends and a header-only file.
        const crlf = yield* db.readCsv(csv("id,name,score\r\n1,b,2\r\n"), SCHEMA)
        expect(crlf.columns.name).toEqual(["b"])
        expect((yield* db.readCsv(csv("id,name,score\n"), SCHEMA)).rows).toBe(0)
      }),
    ),
  )

  const failure = (text: string) =>
    run(
      Effect.gen(function* () {
        const db = yield* DuckDb
        return yield* Effect.flip(db.readCsv(csv(text), SCHEMA))
      }),
    )

  effectIt.effect("names file, row and column of each bad input", () =>
    Effect.gen(function* () {
      const missing = yield* failure("id,score\n1,2\n")
      expect(missing._tag).toBe("MissingColumn")
      expect(missing.message).toMatch(/t\d+\.csv: header row is missing column "name"/)

      const extra = yield* failure("id,name,score,bonus\n1,a,2,3\n")
      expect(extra._tag).toBe("UnexpectedColumn")
      expect(extra.message).toMatch(/unexpected column "bonus" at position 4/)

      const order = yield* failure("name,id,score\na,1,2\n")
      expect(order._tag).toBe("ColumnOutOfOrder")
      expect(order.message).toMatch(/column "name" at position 1, expected "id"/)

      const text = yield* failure("id,name,score\n1,a,2\n2,b,3\n3,c,abc\n")
      expect(text._tag).toBe("InvalidValue")
      expect(text.message).toMatch(/t\d+\.csv: data row 3 \(line 4\), column "score": "abc" is not a number/)

      const id = yield* failure("id,name,score\n1,a,2\n2.5,b,3\n")
      expect(id.message).toMatch(/data row 2 \(line 3\), column "id": "2\.5" is not an integer below 2\^53/)

      const big = yield* failure("id,name,score\n9007199254740993,a,2\n")
      expect(big.message).toMatch(/data row 1 .*"9007199254740993" is not an integer/)

      const empty = yield* failure("id,name,score\n1,a,\n")
      expect(empty.message).toMatch(/data row 1 \(line 2\), column "score": an empty cell is not a number/)

      // The earliest bad row wins, whichever column it is in.
      const first = yield* failure("id,name,score\n1,a,x\nz,b,3\n")
      expect(first.message).toMatch(/data row 1 .*column "score"/)

      const zero = yield* failure("")
      expect(zero._tag).toBe("EmptyFile")
      expect((yield* failure("\n\n  \n"))._tag).toBe("EmptyFile")

      const ragged = yield* failure("id,name,score\n1,a,2,9\n")
      expect(ragged._tag).toBe("CsvMalformed")
      expect(ragged.message).toMatch(/t\d+\.csv: malformed CSV/)

      const none = yield* run(Effect.flip(Effect.flatMap(DuckDb, (db) => db.readCsv(join(dir, "nope.csv"), SCHEMA))))
      expect(none._tag).toBe("FileReadFailed")
      expect(none.message).toContain("nope.csv")
    }),
  )
})

describe("DuckDb parquet", () => {
  effectIt.effect("reads the real spectrogram like pyarrow and like the native reader", () =>
    run(
      Effect.gen(function* () {
        const db = yield* DuckDb
        const t = yield* db.readParquetColumnMajor(REAL_SPECTROGRAM, { indexColumn: "time", missingValue: 0 })
        expect(t.rows).toBe(300)
        expect(t.columns.length).toBe(400)
        for (const [r, c, v] of REAL_SPECTROGRAM_GOLDEN.cells) expect(t.data[r * t.rows + c]).toBe(v)
        let total = 0
        for (const v of t.data) total += v
        expect(total).toBeCloseTo(REAL_SPECTROGRAM_GOLDEN.total, 4)
        const native = Either.getOrThrow(
          decodeParquetColumnMajor(new Uint8Array(readFileSync(REAL_SPECTROGRAM)), "real", { indexColumn: "time", missingValue: 0 }),
        )
        expect(Buffer.from(native.data.buffer).equals(Buffer.from(t.data.buffer))).toBe(true)
        expect(native.index).toEqual(t.index)
      }),
    ),
  )

  effectIt.effect("agrees with the native reader on every pyarrow fixture it can read", () =>
    run(
      Effect.gen(function* () {
        const db = yield* DuckDb
        // (DuckDB 1.5 refuses byte-stream-split-brotli: pyarrow split the INT64 time column too.)
        for (const name of ["snappy-dict-v1", "dict-v2-snappy", "plain-v2-gzip", "row-groups-and-pages", "zstd", "int32-index-double-values", "double-index"]) {
          const file = join(FIXTURES, `${name}.parquet`)
          const t = yield* db.readParquetColumnMajor(file, { indexColumn: "time", missingValue: 0 })
          const native = decodeParquetColumnMajor(new Uint8Array(readFileSync(file)), file, { indexColumn: "time", missingValue: 0 })
          if (Either.isRight(native)) {
            expect(Buffer.from(native.right.data.buffer).equals(Buffer.from(t.data.buffer)), name).toBe(true)
            expect(Array.from(native.right.index)).toEqual(Array.from(t.index))
          } else expect(native.left._tag).toBe("ParquetUnsupported")
        }
      }),
    ),
  )

  effectIt.effect("refuses missing, truncated and mistyped files, naming them", () =>
    run(
      Effect.gen(function* () {
        const db = yield* DuckDb
        const opts = { indexColumn: "time", missingValue: 0 }
        const missing = yield* Effect.flip(db.readParquetColumnMajor(join(dir, "gone.parquet"), opts))
        expect(missing._tag).toBe("FileReadFailed")
        expect(missing.message).toContain("gone.parquet")
        const good = readFileSync(join(FIXTURES, "snappy-dict-v1.parquet"))
        const cut = join(dir, "cut.parquet")
        writeFileSync(cut, good.subarray(0, good.length - 10))
        const truncated = yield* Effect.flip(db.readParquetColumnMajor(cut, opts))
        expect(truncated._tag).toBe("ParquetCorrupt")
        expect(truncated.message).toContain("cut.parquet")
        const typed = yield* Effect.flip(db.readParquetColumnMajor(join(FIXTURES, "int-value-column.parquet"), opts))
        expect(typed._tag).toBe("ParquetSchemaMismatch")
        expect(typed.message).toMatch(/column "a_0\.78": is BIGINT/)
      }),
    ),
  )

  effectIt.effect("writes parquet that both readers read back, NaN cells as 0", () =>
    run(
      Effect.gen(function* () {
        const db = yield* DuckDb
        const rows = 2500 // more than one DuckDB vector
        const columns = ["x_1", "x_2", "y_1"]
        const data = new Float32Array(columns.length * rows).map((_, k) => (k % 97 === 5 ? NaN : Math.fround(Math.cos(k) * 100)))
        const index = Array.from({ length: rows }, (_, i) => 2 * i + 1)
        const file = join(dir, "duck.parquet")
        yield* db.writeParquetColumnMajor(file, { indexColumn: "time", index, columns, rows, data })
        const back = yield* db.readParquetColumnMajor(file, { indexColumn: "time", missingValue: 0 })
        const native = Either.getOrThrow(decodeParquetColumnMajor(new Uint8Array(readFileSync(file)), file, { indexColumn: "time", missingValue: 0 }))
        const want = data.map((v) => (Number.isNaN(v) ? 0 : v))
        for (const t of [back, native]) {
          expect(t.columns).toEqual(columns)
          expect(Buffer.from(t.data.buffer).equals(Buffer.from(want.buffer))).toBe(true)
          expect(t.index[rows - 1]).toBe(2 * rows - 1)
        }
        // DuckDB reads the native writer's files too.
        const ours = join(dir, "ours.parquet")
        writeFileSync(ours, encodeParquetColumnMajor({ indexColumn: "time", index, columns, rows, data }, { nanAsNull: true }))
        const fromOurs = yield* db.readParquetColumnMajor(ours, { indexColumn: "time", missingValue: 0 })
        expect(Buffer.from(fromOurs.data.buffer).equals(Buffer.from(want.buffer))).toBe(true)
        const nulls = yield* db.query(`SELECT count(*) - count(x_1) AS n FROM read_parquet('${ours}')`)
        expect(Number(nulls[0]!.n)).toBe(Array.from(data.subarray(0, rows)).filter(Number.isNaN).length)
      }),
    ),
  )
})
