/**
 * Spectrogram windows as the seed cuts them:
 *
 *   spec_arr = spec.fillna(0).values[:, 1:].T.astype("float32")     # (400, T)
 *   split = spec_arr[:, off // 2 : off // 2 + 300]                  # off = int(offset seconds)
 *   np.save(f"{label_id}.npy", split)
 *
 * A spectrogram file is read once (`readParquetTable`: the native parquet decoder, or DuckDB when
 * the file uses a feature the native decoder lacks or looks corrupt to it) and every label window
 * of it is written as a C-order (400, 300) float32 `.npy`. Unlike the seed, a window running past
 * the end of the file is an error, not a silently narrower array. The test-set variant writes the
 * whole (400, T) array as `<spectrogram_id>.npy`, as the inference notebook does.
 */
import { Effect } from "effect"
import { join } from "node:path"
import { type ColumnMajorTable, type DuckDb, type FileWriteFailed, type ParquetReadError, ParquetSchemaMismatch, readParquetTable, writeNpy } from "cairn/data"
import {
  NPY_EXTENSION,
  PARQUET_EXTENSION,
  SECONDS_PER_STEP,
  SPECTROGRAM_COLUMNS,
  SPECTROGRAM_ROWS,
  SPECTROGRAM_TIME_COLUMN,
  WINDOW_WIDTH,
} from "./constants.js"
import { WindowOutOfRange } from "./label-errors.js"

/** What a missing spectrogram cell becomes (the seed's `fillna(0)`). */
export const MISSING_CELL_VALUE = 0

const READ_OPTIONS = { indexColumn: SPECTROGRAM_TIME_COLUMN, missingValue: MISSING_CELL_VALUE }

export type SpectrogramReadError = ParquetReadError

/**
 * A spectrogram file as a C-order (400, T) float32 matrix (`table.data`), NULL and NaN set to 0.
 * The 400 value columns must be the competition's, in order.
 */
export const readSpectrogram = (file: string): Effect.Effect<ColumnMajorTable, SpectrogramReadError, DuckDb> =>
  readParquetTable(file, READ_OPTIONS).pipe(
    Effect.flatMap((table) => {
      if (table.columns.length !== SPECTROGRAM_ROWS) {
        return Effect.fail(
          new ParquetSchemaMismatch({
            file,
            column: table.columns[table.columns.length - 1] ?? SPECTROGRAM_TIME_COLUMN,
            reason: `the file has ${table.columns.length} value columns, expected ${SPECTROGRAM_ROWS}`,
          }),
        )
      }
      for (let j = 0; j < SPECTROGRAM_ROWS; j++) {
        if (table.columns[j] !== SPECTROGRAM_COLUMNS[j]) {
          return Effect.fail(
            new ParquetSchemaMismatch({ file, column: table.columns[j]!, reason: `value column ${j + 1} should be "${SPECTROGRAM_COLUMNS[j]}"` }),
          )
        }
      }
      return Effect.succeed(table)
    }),
  )

/** The seed's window start: `int(offset_seconds) // 2` (int() truncates, // floors). */
export const windowStart = (offsetSeconds: number): number => Math.floor(Math.trunc(offsetSeconds) / SECONDS_PER_STEP)

/** Rows [start, start + width) of every frequency row: a C-order (400, width) float32 array. */
export const sliceWindow = (table: ColumnMajorTable, start: number, width: number = WINDOW_WIDTH): Float32Array => {
  const n = table.columns.length
  const out = new Float32Array(n * width)
  for (let f = 0; f < n; f++) {
    const from = f * table.rows + start
    out.set(table.data.subarray(from, from + width), f * width)
  }
  return out
}

export interface LabelWindow {
  readonly labelId: number
  readonly offsetSeconds: number
}

export interface SplitRequest {
  /** The spectrogram's parquet file. */
  readonly file: string
  readonly spectrogramId: number
  readonly windows: ReadonlyArray<LabelWindow>
  /** Where `<label_id>.npy` files go. */
  readonly outDir: string
}

export type SplitError = SpectrogramReadError | WindowOutOfRange | FileWriteFailed

/** Checks every window of a request against a spectrogram's row count, before anything is written. */
export const checkWindows = (request: SplitRequest, rows: number): Effect.Effect<ReadonlyArray<number>, WindowOutOfRange> => {
  const starts: Array<number> = []
  for (const w of request.windows) {
    const start = windowStart(w.offsetSeconds)
    if (!Number.isFinite(w.offsetSeconds) || start < 0 || start + WINDOW_WIDTH > rows) {
      return Effect.fail(
        new WindowOutOfRange({
          file: request.file,
          spectrogramId: request.spectrogramId,
          labelId: w.labelId,
          offsetSeconds: w.offsetSeconds,
          start,
          width: WINDOW_WIDTH,
          rows,
        }),
      )
    }
    starts.push(start)
  }
  return Effect.succeed(starts)
}

/**
 * Reads one spectrogram once and writes each of its label windows as `<outDir>/<label_id>.npy`
 * (400, 300). Returns the files written, in request order.
 */
export const splitSpectrogram = (request: SplitRequest): Effect.Effect<ReadonlyArray<string>, SplitError, DuckDb> =>
  Effect.gen(function* () {
    const table = yield* readSpectrogram(request.file)
    const starts = yield* checkWindows(request, table.rows)
    const written: Array<string> = []
    for (let k = 0; k < starts.length; k++) {
      const out = join(request.outDir, `${request.windows[k]!.labelId}${NPY_EXTENSION}`)
      yield* writeNpy(out, sliceWindow(table, starts[k]!), [SPECTROGRAM_ROWS, WINDOW_WIDTH])
      written.push(out)
    }
    return written
  })

/** The rows that say which windows to cut: a fold table, or a train table for every label. */
export interface WindowRows {
  readonly rows: number
  readonly spectrogramId: ArrayLike<number>
  readonly labelId: ArrayLike<number>
  readonly spectrogramLabelOffsetSeconds: ArrayLike<number>
}

/**
 * One `SplitRequest` per spectrogram (in order of first appearance) with all its rows' windows, the
 * parquet files taken from `spectrogramDir/<spectrogram_id>.parquet`.
 */
export const splitRequests = (table: WindowRows, spectrogramDir: string, outDir: string): ReadonlyArray<SplitRequest> => {
  const bySpectrogram = new Map<number, Array<LabelWindow>>()
  for (let i = 0; i < table.rows; i++) {
    const id = table.spectrogramId[i]!
    let windows = bySpectrogram.get(id)
    if (windows === undefined) {
      windows = []
      bySpectrogram.set(id, windows)
    }
    windows.push({ labelId: table.labelId[i]!, offsetSeconds: table.spectrogramLabelOffsetSeconds[i]! })
  }
  return Array.from(bySpectrogram, ([spectrogramId, windows]) => ({
    file: join(spectrogramDir, `${spectrogramId}${PARQUET_EXTENSION}`),
    spectrogramId,
    windows,
    outDir,
  }))
}

/** Files processed at once by `splitSpectrograms`: one per core of the 2-core target machine. */
export const DEFAULT_SPLIT_CONCURRENCY = 2

/** `splitSpectrogram` over many files, `concurrency` at a time; results in request order. */
export const splitSpectrograms = (
  requests: ReadonlyArray<SplitRequest>,
  concurrency: number = DEFAULT_SPLIT_CONCURRENCY,
): Effect.Effect<ReadonlyArray<ReadonlyArray<string>>, SplitError, DuckDb> => Effect.forEach(requests, splitSpectrogram, { concurrency })

export interface TestSpectrogramRequest {
  readonly file: string
  readonly spectrogramId: number
  /** Where `<spectrogram_id>.npy` goes. */
  readonly outDir: string
}

/** The inference notebook's variant: the whole file as a (400, T) array in `<outDir>/<spectrogram_id>.npy`. */
export const convertTestSpectrogram = (request: TestSpectrogramRequest): Effect.Effect<string, SpectrogramReadError | FileWriteFailed, DuckDb> =>
  Effect.gen(function* () {
    const table = yield* readSpectrogram(request.file)
    const out = join(request.outDir, `${request.spectrogramId}${NPY_EXTENSION}`)
    yield* writeNpy(out, table.data, [SPECTROGRAM_ROWS, table.rows])
    return out
  })
