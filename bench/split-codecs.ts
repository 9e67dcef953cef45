/**
 * `node --import tsx bench/split-codecs.ts`: the spectrogram split with each parquet reader, on the same
 * files in the same process. Prints one JSON object (and writes it to `--json OUT`).
 *
 *   --files N     synthetic train spectrograms (default 11138, the Kaggle train set's count)
 *   --dir D       dataset directory, generated there when it has no train.csv and kept (default: a temp dir)
 *   --rounds R    timed passes per reader, interleaved: reader order rotates each round (default 3)
 *   --real-reps K decodes of the real Kaggle spectrogram (pyarrow: snappy, dictionary) per reader and round (default 2000)
 *   --readers L   comma-separated readers to compare (default cairn,hyparquet,parquet-wasm; cairn always runs)
 *   --json OUT    also write the JSON object to OUT
 *
 * A pass is the split stage's work on one thread for every spectrogram: read the file, decode it to a
 * column-major float32 table (NULL and NaN as 0), cut the first label window, write it as `.npy`.
 * Decoding alone is timed inside the same pass. Before timing, every reader's table of every file is
 * compared bit for bit with the native codec's. The synthetic files are what the native writer emits
 * (plain, uncompressed, NULL cells); the real file is what pyarrow wrote for Kaggle, so it is
 * decoded `--real-reps` times per round as well.
 */
import { Effect, Either } from "effect"
import { tableFromIPC } from "apache-arrow"
import { compressors } from "hyparquet-compressors"
import { parquetMetadata, parquetRead } from "hyparquet"
import * as fs from "node:fs"
import { readFile } from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { readParquet } from "parquet-wasm"
import { DuckDbLive } from "../src/data/duckdb/index.js"
import { writeNpy } from "../src/data/npy.js"
import { type ColumnMajorTable, decodeParquetColumnMajor } from "../src/data/parquet/index.js"
import { SPECTROGRAM_ROWS, SPECTROGRAM_TIME_COLUMN, TRAIN_CSV, TRAIN_SPECTROGRAMS_DIR, WINDOW_WIDTH } from "../stages/hms/constants.js"
import { MISSING_CELL_VALUE, sliceWindow, splitRequests, windowStart } from "../stages/hms/spectrogram.js"
import { writeSynthDataset } from "../stages/hms/synth/index.js"
import { buildFoldTable, loadTrainTable } from "../stages/hms/train-table.js"
import { REAL_SPECTROGRAM } from "../test/data/real-fixture-golden.js"

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt
}
const FILES = Number(arg("files", "11138"))
const ROUNDS = Number(arg("rounds", "3"))
const REAL_REPS = Number(arg("real-reps", "2000"))
const JSON_OUT = arg("json", "")
const OPTIONS = { indexColumn: SPECTROGRAM_TIME_COLUMN, missingValue: MISSING_CELL_VALUE }

type Decode = (bytes: Uint8Array, file: string) => ColumnMajorTable | Promise<ColumnMajorTable>

const cairn: Decode = (bytes, file) => Either.getOrThrow(decodeParquetColumnMajor(bytes, file, OPTIONS))

/** A value cell as the seed's fillna(0) leaves it. */
const cell = (v: number | null | undefined): number => (v === null || v === undefined || Number.isNaN(v) ? OPTIONS.missingValue : v)

const hyparquet: Decode = async (bytes) => {
  const metadata = parquetMetadata(bytes)
  const names = metadata.schema.slice(1).map((e) => e.name)
  const rows = Number(metadata.num_rows)
  const data = new Float32Array((names.length - 1) * rows)
  const index = new Float64Array(rows)
  const position = new Map(names.map((n, j) => [n, j]))
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
  await parquetRead({
    file,
    metadata,
    compressors,
    onChunk: ({ columnName, columnData, rowStart }) => {
      const j = position.get(columnName)!
      const n = columnData.length
      if (j === 0) for (let i = 0; i < n; i++) index[rowStart + i] = Number(columnData[i])
      else {
        const base = (j - 1) * rows + rowStart
        for (let i = 0; i < n; i++) data[base + i] = cell(columnData[i] as number | null)
      }
    },
  })
  return { columns: names.slice(1), rows, data, index }
}

const parquetWasm: Decode = (bytes) => {
  const table = tableFromIPC(readParquet(bytes).intoIPCStream())
  const names = table.schema.fields.map((f) => f.name)
  const rows = table.numRows
  const data = new Float32Array((names.length - 1) * rows)
  const index = new Float64Array(rows)
  for (let j = 0; j < names.length; j++) {
    let o = j === 0 ? 0 : (j - 1) * rows
    for (const chunk of table.getChildAt(j)!.data) {
      const n = chunk.length
      const valid = chunk.nullCount > 0 ? chunk.nullBitmap : undefined
      const isNull = (i: number) => valid !== undefined && ((valid[(chunk.offset + i) >> 3]! >> ((chunk.offset + i) & 7)) & 1) === 0
      if (j === 0) {
        const values = chunk.values as ArrayLike<number | bigint>
        for (let i = 0; i < n; i++) index[o + i] = isNull(i) ? NaN : Number(values[chunk.offset + i])
      } else {
        // Float32 (or Float64, converted by set) values, then NULL and NaN cells as the missing value.
        data.set((chunk.values as Float32Array).subarray(chunk.offset, chunk.offset + n), o)
        if (valid !== undefined) for (let i = 0; i < n; i++) if (isNull(i)) data[o + i] = OPTIONS.missingValue
        for (let i = o; i < o + n; i++) if (Number.isNaN(data[i])) data[i] = OPTIONS.missingValue
      }
      o += n
    }
  }
  return { columns: names.slice(1), rows, data, index }
}

const ALL_READERS: ReadonlyArray<readonly [string, Decode]> = [
  ["cairn", cairn],
  ["hyparquet", hyparquet],
  ["parquet-wasm", parquetWasm],
]
const WANTED = new Set(["cairn", ...arg("readers", "cairn,hyparquet,parquet-wasm").split(",")])
const READERS = ALL_READERS.filter(([name]) => WANTED.has(name))

const sameTable = (a: ColumnMajorTable, b: ColumnMajorTable): string | undefined => {
  if (a.rows !== b.rows) return `rows ${b.rows} != ${a.rows}`
  if (a.columns.join() !== b.columns.join()) return "column names differ"
  if (!Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength)))
    return "values differ"
  for (let i = 0; i < a.rows; i++) if (!Object.is(a.index[i], b.index[i])) return `index row ${i} differs`
  return undefined
}

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const main = Effect.gen(function* () {
  const temp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-bench-split-codecs-"))
  const dir = arg("dir", path.join(temp, "data"))
  if (!fs.existsSync(path.join(dir, TRAIN_CSV))) yield* writeSynthDataset(dir, { trainSpectrograms: FILES, testSpectrograms: 0, seed: 1086 })
  const table = yield* loadTrainTable(path.join(dir, TRAIN_CSV))
  const folds = yield* Either.match(buildFoldTable(table), { onLeft: Effect.fail, onRight: Effect.succeed })
  const out = path.join(temp, "out")
  fs.mkdirSync(out)
  const requests = splitRequests(folds, path.join(dir, TRAIN_SPECTROGRAMS_DIR), out)
  const bytesIn = requests.reduce((a, r) => a + fs.statSync(r.file).size, 0)

  // Every reader must give the native codec's table, bit for bit, for every file (this pass also warms the page cache).
  const mismatches: Record<string, string> = {}
  for (const r of requests) {
    const bytes = new Uint8Array(yield* Effect.promise(() => readFile(r.file)))
    const want = cairn(bytes, r.file) as ColumnMajorTable
    for (const [name, decode] of READERS.slice(1)) {
      const why = sameTable(want, yield* Effect.promise(async () => decode(bytes, r.file)))
      if (why !== undefined && mismatches[name] === undefined) mismatches[name] = `${r.file}: ${why}`
    }
  }
  const realBytes = new Uint8Array(fs.readFileSync(REAL_SPECTROGRAM))
  const realWant = cairn(realBytes, REAL_SPECTROGRAM) as ColumnMajorTable
  for (const [name, decode] of READERS.slice(1)) {
    const why = sameTable(realWant, yield* Effect.promise(async () => decode(realBytes, REAL_SPECTROGRAM)))
    if (why !== undefined) mismatches[`${name} (real file)`] = why
  }
  console.error(JSON.stringify({ checked_files: requests.length, mismatches }))

  const pass = (decode: Decode) =>
    Effect.gen(function* () {
      let decodeMs = 0
      const t0 = performance.now()
      for (const r of requests) {
        const bytes = new Uint8Array(yield* Effect.promise(() => readFile(r.file)))
        const d0 = performance.now()
        const t = yield* Effect.promise(async () => decode(bytes, r.file))
        decodeMs += performance.now() - d0
        if (t.columns.length !== SPECTROGRAM_ROWS) return yield* Effect.die(`${r.file}: ${t.columns.length} columns`)
        const w = r.windows[0]!
        yield* writeNpy(path.join(r.outDir, `${w.labelId}.npy`), sliceWindow(t, windowStart(w.offsetSeconds)), [SPECTROGRAM_ROWS, WINDOW_WIDTH])
      }
      return { stageMs: performance.now() - t0, decodeMs }
    })
  const realPass = (decode: Decode) =>
    Effect.promise(async () => {
      const t0 = performance.now()
      for (let k = 0; k < REAL_REPS; k++) await decode(realBytes, REAL_SPECTROGRAM)
      return performance.now() - t0
    })

  const samples: Record<string, { stage: Array<number>; decode: Array<number>; real: Array<number> }> = {}
  for (const [name] of READERS) samples[name] = { stage: [], decode: [], real: [] }
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < READERS.length; k++) {
      const [name, decode] = READERS[(round + k) % READERS.length]!
      const { stageMs, decodeMs } = yield* pass(decode)
      const realMs = yield* realPass(decode)
      samples[name]!.stage.push(stageMs)
      samples[name]!.decode.push(decodeMs)
      samples[name]!.real.push(realMs)
      console.error(
        JSON.stringify({
          round,
          reader: name,
          stage_s: (stageMs / 1000).toFixed(2),
          decode_s: (decodeMs / 1000).toFixed(2),
          real_ms_per_file: (realMs / REAL_REPS).toFixed(3),
        }),
      )
    }
  }
  const n = requests.length
  const readers: Record<string, unknown> = {}
  for (const [name] of READERS) {
    const s = samples[name]!
    readers[name] = {
      stage_seconds_median: Number((median(s.stage) / 1000).toFixed(2)),
      stage_ms_per_spectrogram: Number((median(s.stage) / n).toFixed(3)),
      decode_seconds_median: Number((median(s.decode) / 1000).toFixed(2)),
      decode_ms_per_spectrogram: Number((median(s.decode) / n).toFixed(3)),
      real_file_decode_ms: Number((median(s.real) / REAL_REPS).toFixed(3)),
      stage_seconds_all: s.stage.map((x) => Number((x / 1000).toFixed(2))),
      decode_seconds_all: s.decode.map((x) => Number((x / 1000).toFixed(2))),
      real_file_decode_ms_all: s.real.map((x) => Number((x / REAL_REPS).toFixed(3))),
    }
  }
  fs.rmSync(temp, { recursive: true, force: true })
  return {
    files: n,
    input_mb: Math.round(bytesIn / 1e5) / 10,
    rounds: ROUNDS,
    real_reps: REAL_REPS,
    identical_to_cairn: Object.keys(mismatches).length === 0,
    mismatches,
    readers,
    node: process.version,
    cpus: os.cpus().length,
  }
})

const result = await Effect.runPromise(main.pipe(Effect.provide(DuckDbLive)))
const text = JSON.stringify(result)
console.log(text)
if (JSON_OUT) fs.writeFileSync(JSON_OUT, `${text}\n`)
