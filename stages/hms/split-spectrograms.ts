import * as path from "node:path"
import { Effect, Schema } from "effect"
import { defineStage, makeWorkerPool } from "cairn"
import { DuckDb, DuckDbLazy } from "cairn/data"
import { assignFolds } from "./assign-folds.js"
import { NPY_EXTENSION, PARQUET_EXTENSION, TRAIN_SPECTROGRAMS_DIR } from "./constants.js"
import { dataset } from "./dataset.js"
import { DEFAULT_SPLIT_CONCURRENCY, type LabelWindow, type SplitRequest, splitSpectrogram } from "./spectrogram.js"
import { FOLDS_TABLE_FILE, readFoldArrow } from "./tables.js"

const SPLIT_WORKER = new URL("./split-worker.ts", import.meta.url)

/**
 * The seed's preprocessing loop: each spectrogram parquet is read once, NaN -> 0, `time` dropped,
 * transposed to (400, T), and each label's 300-step window `[:, off//2 : off//2 + 300]` saved as
 * `<label_id>.npy`. Cached per spectrogram: a new or changed parquet reprocesses only itself.
 */
export const splitSpectrograms = defineStage({
  name: "split-spectrograms",
  description: "one (400, 300) .npy window per label",
  params: Schema.Struct({}),
  inputs: { folds: assignFolds, data: dataset },
  // DuckDB reads the rare parquet file the native reader cannot: opened only then.
  layer: DuckDbLazy,
  run: (ctx) =>
    Effect.gen(function* () {
      const t = yield* readFoldArrow(path.join(ctx.inputs.folds.dir, FOLDS_TABLE_FILE))
      // The seed iterates train.groupby("spectrogram_id"): ids in sorted order.
      const bySpectrogram = new Map<number, Array<LabelWindow>>()
      for (let i = 0; i < t.rows; i++) {
        const id = t.spectrogramId[i]!
        const windows = bySpectrogram.get(id) ?? []
        windows.push({ labelId: t.labelId[i]!, offsetSeconds: t.spectrogramLabelOffsetSeconds[i]! })
        bySpectrogram.set(id, windows)
      }
      const ids = [...bySpectrogram.keys()].sort((a, b) => a - b)
      // Two lanes (one per core) decode and write: this thread, and a worker thread from when it is up.
      const db = yield* DuckDb
      const pool = yield* makeWorkerPool<SplitRequest, number>(SPLIT_WORKER, DEFAULT_SPLIT_CONCURRENCY, {
        inline: (request) => Effect.map(Effect.provideService(splitSpectrogram(request), DuckDb, db), (written) => written.length),
      })
      let done = 0
      let computed = 0
      yield* Effect.forEach(
        ids,
        (id) =>
          Effect.gen(function* () {
            const windows = bySpectrogram.get(id)!
            const file = path.join(ctx.inputs.data.dir, TRAIN_SPECTROGRAMS_DIR, `${id}${PARQUET_EXTENSION}`)
            const fileHash = yield* ctx.hashFile(file)
            const item = yield* ctx.memo({ name: String(id), key: { file: fileHash, windows: windows.map((w) => [w.labelId, w.offsetSeconds]) } }, (dir) =>
              pool.run({ file, spectrogramId: id, windows, outDir: dir }),
            )
            if (!item.cached) computed++
            for (const w of windows) {
              const name = `${w.labelId}${NPY_EXTENSION}`
              yield* ctx.linkFile(path.join(item.dir, name), name)
            }
            done++
            yield* ctx.progress({ fraction: done / ids.length, text: `${done}/${ids.length} spectrograms (${computed} processed)` })
          }),
        { concurrency: pool.capacity, discard: true },
      )
      // How many were processed says how the result was made, not what it is: a log line, not a
      // metric (metrics are hashed with the output and would defeat early cutoff).
      yield* ctx.log(`${computed} of ${ids.length} spectrograms processed, ${ids.length - computed} reused`)
      return { spectrograms: ids.length, windows: t.rows }
    }),
})
