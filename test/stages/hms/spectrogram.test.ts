import { it as effectIt } from "@effect/vitest"
import { Effect, Either } from "effect"
import { createHash } from "node:crypto"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect } from "vitest"
import { DuckDb, DuckDbLive } from "../../../src/data/duckdb/index.js"
import { readNpy } from "../../../src/data/npy.js"
import { encodeParquetColumnMajor } from "../../../src/data/parquet/index.js"
import { SPECTROGRAM_COLUMNS, TRAIN_CSV, TRAIN_SPECTROGRAMS_DIR, WINDOW_WIDTH } from "../../../stages/hms/constants.js"
import {
  convertTestSpectrogram,
  readSpectrogram,
  sliceWindow,
  splitRequests,
  splitSpectrogram,
  splitSpectrograms,
  windowStart,
} from "../../../stages/hms/spectrogram.js"
import { writeSynthDataset } from "../../../stages/hms/synth/index.js"
import { buildFoldTable, loadTrainTable } from "../../../stages/hms/train-table.js"
import { REAL_SPECTROGRAM } from "../../data/real-fixture-golden.js"

const dir = mkdtempSync(join(tmpdir(), "cairn-spec-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex")
const provide = <A, E>(e: Effect.Effect<A, E, DuckDb>) => Effect.provide(e, DuckDbLive)

/** A spectrogram-shaped table whose cell (f, t) is f * 1000 + t, with NaN at (3, 5). */
const ramp = (rows: number) => {
  const data = new Float32Array(SPECTROGRAM_COLUMNS.length * rows)
  for (let f = 0; f < SPECTROGRAM_COLUMNS.length; f++) for (let t = 0; t < rows; t++) data[f * rows + t] = f * 1000 + t
  data[3 * rows + 5] = NaN
  return { indexColumn: "time", index: Array.from({ length: rows }, (_, t) => 2 * t + 1), columns: SPECTROGRAM_COLUMNS, rows, data }
}

describe("spectrogram windows", () => {
  effectIt.effect("window start is int(offset) // 2, and the window is the seed's slice", () =>
    provide(
      Effect.gen(function* () {
        expect([0, 1, 6, 7, 7.9, 600].map(windowStart)).toEqual([0, 0, 3, 3, 3, 300])
        const file = join(dir, "ramp.parquet")
        writeFileSync(file, encodeParquetColumnMajor(ramp(320), { nanAsNull: true }))
        const table = yield* readSpectrogram(file)
        const w = sliceWindow(table, 3)
        expect(w.length).toBe(400 * WINDOW_WIDTH)
        expect(w[0]).toBe(3)
        expect(w[2]).toBe(5)
        expect(w[3 * WINDOW_WIDTH + 2]).toBe(0) // (3, 5) was NULL: fillna(0)
        expect(w[3 * WINDOW_WIDTH + 3]).toBe(3006)
        expect(w[399 * WINDOW_WIDTH + 299]).toBe(399 * 1000 + 302)

        const out = join(dir, "ramp-out")
        mkdirSync(out)
        const written = yield* splitSpectrogram({
          file,
          spectrogramId: 42,
          windows: [
            { labelId: 7, offsetSeconds: 7 },
            { labelId: 8, offsetSeconds: 40 },
          ],
          outDir: out,
        })
        expect(written).toEqual([join(out, "7.npy"), join(out, "8.npy")])
        const npy = yield* readNpy(join(out, "8.npy"))
        expect(npy.shape).toEqual([400, 300])
        expect(npy.data[0]).toBe(20)
        expect(npy.data[300]).toBe(1020)
      }),
    ),
  )

  effectIt.effect("a window past the end is an error naming spectrogram, label and offset; nothing is written", () =>
    provide(
      Effect.gen(function* () {
        const file = join(dir, "short.parquet")
        writeFileSync(file, encodeParquetColumnMajor(ramp(310), { nanAsNull: true }))
        const out = join(dir, "short-out")
        mkdirSync(out)
        const e = yield* Effect.flip(
          splitSpectrogram({
            file,
            spectrogramId: 99,
            windows: [
              { labelId: 1, offsetSeconds: 0 },
              { labelId: 2, offsetSeconds: 22 },
            ],
            outDir: out,
          }),
        )
        expect(e._tag).toBe("WindowOutOfRange")
        expect(e.message).toMatch(
          /short\.parquet: spectrogram 99, label 2: offset 22 s starts the window at row 11, so it needs rows 11\.\.310, but the spectrogram has 310 rows/,
        )
        expect(readdirSync(out)).toEqual([])
        const negative = yield* Effect.flip(splitSpectrogram({ file, spectrogramId: 99, windows: [{ labelId: 3, offsetSeconds: -4 }], outDir: out }))
        expect(negative._tag).toBe("WindowOutOfRange")
        // A truncated file: both readers refuse it, naming it.
        const cut = join(dir, "cut-spec.parquet")
        writeFileSync(cut, readFileSync(file).subarray(0, 5000))
        const truncated = yield* Effect.flip(splitSpectrogram({ file: cut, spectrogramId: 98, windows: [{ labelId: 4, offsetSeconds: 0 }], outDir: out }))
        expect(truncated._tag).toBe("ParquetCorrupt")
        expect(truncated.message).toContain("cut-spec.parquet")
        const missing = yield* Effect.flip(splitSpectrogram({ file: join(dir, "none.parquet"), spectrogramId: 97, windows: [], outDir: out }))
        expect(missing._tag).toBe("FileReadFailed")
        expect(missing.message).toContain("none.parquet")
      }),
    ),
  )

  effectIt.effect("refuses a file whose columns are not the 400 spectrogram columns", () =>
    provide(
      Effect.gen(function* () {
        const t = ramp(300)
        const file = join(dir, "renamed.parquet")
        writeFileSync(file, encodeParquetColumnMajor({ ...t, columns: t.columns.map((c, j) => (j === 150 ? "XX_1.0" : c)) }, { nanAsNull: true }))
        const e = yield* Effect.flip(readSpectrogram(file))
        expect(e._tag).toBe("ParquetSchemaMismatch")
        expect(e.message).toMatch(new RegExp(`renamed\\.parquet: column "XX_1\\.0": value column 151 should be "${SPECTROGRAM_COLUMNS[150]}"`))
      }),
    ),
  )

  effectIt.effect("falls back to DuckDB for a file the native reader cannot decode", () =>
    provide(
      Effect.gen(function* () {
        const db = yield* DuckDb
        const t = ramp(300)
        const zstd = join(dir, "zstd.parquet")
        const plain = join(dir, "plain.parquet")
        writeFileSync(plain, encodeParquetColumnMajor(t, { nanAsNull: true }))
        yield* db.query(`COPY (SELECT * FROM read_parquet('${plain}')) TO '${zstd}' (FORMAT parquet, COMPRESSION zstd)`)
        const a = yield* readSpectrogram(zstd)
        const b = yield* readSpectrogram(plain)
        expect(Buffer.from(a.data.buffer).equals(Buffer.from(b.data.buffer))).toBe(true)
      }),
    ),
  )

  effectIt.effect("the test-set conversion equals the inference notebook's .npy byte for byte (real file)", () =>
    provide(
      Effect.gen(function* () {
        // Golden: test/golden/hms_seed_golden.py test-npy on the real 853520.parquet.
        const path = yield* convertTestSpectrogram({ file: REAL_SPECTROGRAM, spectrogramId: 853520, outDir: dir })
        expect(path).toBe(join(dir, "853520.npy"))
        expect(sha(readFileSync(path))).toBe("3fd7bc85a323e0064439ec0b5b7653ef22b87aa2d9778ea613681825517755b8")
      }),
    ),
  )

  effectIt.effect("the train split equals the seed's loop byte for byte (synthetic data, 12 spectrograms)", () =>
    provide(
      Effect.gen(function* () {
        // Golden: test/golden/hms_seed_golden.py split on writeSynthDataset(12 train, 3 test, seed 11):
        // sha256 of its "name sha256" listing.
        const data = join(dir, "synth12")
        yield* writeSynthDataset(data, { trainSpectrograms: 12, testSpectrograms: 3, seed: 11 })
        const table = yield* loadTrainTable(join(data, TRAIN_CSV))
        const folds = Either.getOrThrow(buildFoldTable(table))
        const out = join(dir, "synth12-npy")
        mkdirSync(out)
        const requests = splitRequests(folds, join(data, TRAIN_SPECTROGRAMS_DIR), out)
        expect(requests.length).toBe(12)
        expect(requests[0]!.windows).toEqual([{ labelId: folds.labelId[0], offsetSeconds: folds.spectrogramLabelOffsetSeconds[0] }])
        yield* splitSpectrograms(requests)
        const listing = readdirSync(out)
          .sort()
          .map((f) => `${f} ${sha(readFileSync(join(out, f)))}\n`)
          .join("")
        expect(sha(listing)).toBe("ff5461b843de267738a17c1d4930e82cb539627f5603ec3cf4a446c07f323127")
      }),
    ),
  )
})
