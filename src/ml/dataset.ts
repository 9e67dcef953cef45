/**
 * Windows to NHWC batches, as the seed's `HMSHBACSpecDataset` + `DataLoader` produce them:
 *
 * - a window is a 2-d float32 `.npy` file (or an in-memory image), preprocessed per image by
 *   `preprocessWindow` (log-clip, z-score, INTER_LINEAR resize to imgSize x imgSize, one channel);
 * - the training loader shuffles every epoch and drops the last partial batch; the validation and
 *   inference loaders keep the order and the last partial batch;
 * - the shuffle of epoch `e` is numpy's `RandomState(epochSeed(seed, e)).permutation(n)` —
 *   reproducible in Python, independent of how many epochs ran before.
 *
 * `.npy` files are read with the shared reader (`src/data/npy.ts`, float32, returned in C order).
 * The seed's windows were Fortran-ordered (slices of a transposed array), which only changes the
 * order of numpy's float32 sums in the z-score: set `transform.reductionOrder: "F"` to reproduce it.
 */
import { Effect } from "effect"
import type { FileReadFailed, NpyInvalid } from "../data/errors.js"
import { readNpy } from "../data/npy.js"
import { RandomState } from "../data/random-state.js"
import { DatasetError } from "./errors.js"
import { type Image2D, LOG_ZSCORE_DEFAULTS, type LogZScoreOptions, preprocessWindow } from "./preprocess.js"

/** A window: an .npy file, or an image already in memory (`name` only labels errors). */
export type WindowSource =
  | { readonly kind: "npy"; readonly file: string }
  | { readonly kind: "memory"; readonly name: string; readonly image: Image2D }

export const npyWindow = (file: string): WindowSource => ({ kind: "npy", file })
export const memoryWindow = (name: string, image: Image2D): WindowSource => ({ kind: "memory", name, image })

const sourceName = (s: WindowSource): string => (s.kind === "npy" ? s.file : s.name)

// ---- windows ---------------------------------------------------------------------------------

/** Reads one window image (`.npy` files through the shared float32 NPY reader; C order). */
export const loadWindow = (source: WindowSource): Effect.Effect<Image2D, FileReadFailed | NpyInvalid | DatasetError> =>
  source.kind === "memory"
    ? Effect.succeed(source.image)
    : Effect.flatMap(readNpy(source.file), (array) =>
        array.shape.length === 2
          ? Effect.succeed({ data: array.data, height: array.shape[0]!, width: array.shape[1]!, order: "C" } as const)
          : Effect.fail(
              new DatasetError({
                file: source.file,
                row: -1,
                column: "window",
                detail: `expected a 2-d array, got shape (${array.shape.join(", ")})`,
              }),
            ),
      )

// ---- datasets ----------------------------------------------------------------------------------

export interface WindowDataset {
  readonly windows: ReadonlyArray<WindowSource>
  /** Row-major `[windows.length, classes]` targets (any values for inference). */
  readonly labels: Float32Array
  readonly classes: number
}

export interface DatasetOptions {
  readonly imgSize: number
  /** Expected window shape; a window of another shape is a DatasetError. */
  readonly windowShape?: readonly [number, number]
  readonly transform?: LogZScoreOptions
  /** Preprocessed images kept in memory up to this many bytes (first come, never evicted). */
  readonly cacheBytes?: number
  /** Files read concurrently while assembling a batch. */
  readonly readConcurrency?: number
}

const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024
const DEFAULT_READ_CONCURRENCY = 8

/** A dataset with its preprocessing options and a bounded cache of preprocessed images. */
export class BatchLoader {
  private readonly cache = new Map<number, Float32Array>()
  private cachedBytes = 0
  readonly imageValues: number

  constructor(
    readonly dataset: WindowDataset,
    readonly options: DatasetOptions,
  ) {
    this.imageValues = options.imgSize * options.imgSize
  }

  get length(): number {
    return this.dataset.windows.length
  }

  /** The preprocessed `imgSize * imgSize` image of row `row`. */
  image(row: number): Effect.Effect<Float32Array, FileReadFailed | NpyInvalid | DatasetError> {
    const hit = this.cache.get(row)
    if (hit !== undefined) return Effect.succeed(hit)
    const source = this.dataset.windows[row]
    if (source === undefined) {
      return Effect.fail(new DatasetError({ file: "<none>", row, column: "window", detail: `no row ${row} in ${this.length}` }))
    }
    const located = Effect.mapError(loadWindow(source), (e) =>
      e._tag === "DatasetError" ? new DatasetError({ file: e.file, row, column: e.column, detail: e.detail }) : e,
    )
    return Effect.flatMap(located, (image) => {
      const expected = this.options.windowShape
      if (expected !== undefined && (image.height !== expected[0] || image.width !== expected[1])) {
        return Effect.fail(
          new DatasetError({
            file: sourceName(source),
            row,
            column: "window",
            detail: `shape (${image.height}, ${image.width}), expected (${expected[0]}, ${expected[1]})`,
          }),
        )
      }
      const out = preprocessWindow(image, this.options.imgSize, this.options.transform ?? LOG_ZSCORE_DEFAULTS)
      const budget = this.options.cacheBytes ?? DEFAULT_CACHE_BYTES
      if (this.cachedBytes + out.byteLength <= budget) {
        this.cache.set(row, out)
        this.cachedBytes += out.byteLength
      }
      return Effect.succeed(out)
    })
  }

  /** An NHWC batch (`x`: rows x imgSize x imgSize x 1) and its row-major targets. */
  batch(rows: ArrayLike<number>): Effect.Effect<{ readonly x: Float32Array; readonly y: Float32Array; readonly size: number }, FileReadFailed | NpyInvalid | DatasetError> {
    const n = rows.length
    const list = Array.from({ length: n }, (_, i) => rows[i]!)
    return Effect.map(
      Effect.forEach(list, (row) => this.image(row), {
        concurrency: this.options.readConcurrency ?? DEFAULT_READ_CONCURRENCY,
      }),
      (images) => {
        const x = new Float32Array(n * this.imageValues)
        const classes = this.dataset.classes
        const y = new Float32Array(n * classes)
        images.forEach((img, i) => x.set(img, i * this.imageValues))
        list.forEach((row, i) => y.set(this.dataset.labels.subarray(row * classes, (row + 1) * classes), i * classes))
        return { x, y, size: n }
      },
    )
  }

  /** Bytes of preprocessed images held in the cache. */
  get cacheBytesInUse(): number {
    return this.cachedBytes
  }
}

/** Checks a dataset's shape and (for training) that every target row is a finite, non-negative vector. */
export const validateDataset = (
  dataset: WindowDataset,
  classNames?: ReadonlyArray<string>,
  requireTargets = true,
): Effect.Effect<void, DatasetError> =>
  Effect.suspend(() => {
    const { windows, labels, classes } = dataset
    if (labels.length !== windows.length * classes) {
      return Effect.fail(
        new DatasetError({
          file: "<labels>",
          row: -1,
          column: "labels",
          detail: `${labels.length} label values for ${windows.length} windows x ${classes} classes`,
        }),
      )
    }
    if (!requireTargets) return Effect.void
    for (let r = 0; r < windows.length; r++) {
      for (let c = 0; c < classes; c++) {
        const v = labels[r * classes + c]!
        if (!(Number.isFinite(v) && v >= 0)) {
          return Effect.fail(
            new DatasetError({
              file: sourceName(windows[r]!),
              row: r,
              column: classNames?.[c] ?? `class ${c}`,
              detail: `target ${v} is not a finite non-negative number`,
            }),
          )
        }
      }
    }
    return Effect.void
  })

/** The numpy seed of epoch `epoch`'s shuffle: `(seed * 1_000_003 + epoch) mod 2**32`. */
export const epochSeed = (seed: number, epoch: number): number => {
  const SEED_STRIDE = 1_000_003
  return Number((BigInt(seed) * BigInt(SEED_STRIDE) + BigInt(epoch)) % 2n ** 32n)
}

/** Epoch `epoch`'s training order: `np.random.RandomState(epochSeed(seed, epoch)).permutation(n)`. */
export const epochOrder = (n: number, seed: number, epoch: number): Int32Array =>
  new RandomState(epochSeed(seed, epoch)).permutation(n)

/** Consecutive batches of `order` (the last partial one dropped when `dropLast`). */
export const batches = (order: ArrayLike<number>, batchSize: number, dropLast: boolean): Array<Int32Array> => {
  const out: Array<Int32Array> = []
  const n = order.length
  const full = Math.floor(n / batchSize)
  const count = dropLast ? full : Math.ceil(n / batchSize)
  for (let b = 0; b < count; b++) {
    const start = b * batchSize
    const end = Math.min(n, start + batchSize)
    out.push(Int32Array.from({ length: end - start }, (_, i) => order[start + i]!))
  }
  return out
}

/** `arange(n)`: the validation / inference order. */
export const sequentialOrder = (n: number): Int32Array => Int32Array.from({ length: n }, (_, i) => i)
