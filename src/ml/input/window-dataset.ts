/**
 * Windows (images of one or more channels) to NHWC batches, as a PyTorch `Dataset` + `DataLoader`
 * pair would produce them:
 *
 * - a window is a float32 `.npy` file — 2-d `(H, W)` for one channel, 3-d `(C, H, W)` for C — or
 *   an image already in memory (its channel planes); each plane is preprocessed by
 *   `preprocessWindow` (the dataset's `ImageTransform`, then INTER_LINEAR resize to imgSize x
 *   imgSize) and the planes are interleaved into HWC;
 * - the training loader shuffles every epoch and drops the last partial batch; the validation and
 *   inference loaders keep the order and the last partial batch;
 * - the shuffle of epoch `e` is numpy's `RandomState(epochSeed(seed, e)).permutation(n)` —
 *   reproducible in Python, independent of how many epochs ran before.
 *
 * `.npy` files are read with the shared reader (`src/data/npy.ts`, float32, returned in C order).
 * Windows saved Fortran-ordered only change the order of numpy's float32 sums in the z-score: set
 * the transform's `reductionOrder: "F"` to reproduce them.
 */
import { Effect } from "effect"
import type { FileReadFailed, NpyInvalid } from "../../data/data-errors.js"
import { readNpy } from "../../data/npy.js"
import { RandomState } from "../../data/random-state.js"
import { DatasetError } from "../ml-errors.js"
import { type Image2D, type ImageTransform, preprocessWindow } from "./preprocess.js"

/** A window: an .npy file, or an image already in memory (`name` only labels errors). */
export type WindowSource =
  | { readonly kind: "npy"; readonly file: string }
  | { readonly kind: "memory"; readonly name: string; readonly planes: ReadonlyArray<Image2D> }

export const npyWindow = (file: string): WindowSource => ({ kind: "npy", file })
/** An in-memory window: one image (one channel), or its channel planes. */
export const memoryWindow = (name: string, image: Image2D | ReadonlyArray<Image2D>): WindowSource => ({
  kind: "memory",
  name,
  planes: "data" in image ? [image] : image,
})

const sourceName = (s: WindowSource): string => (s.kind === "npy" ? s.file : s.name)

// ---- windows ---------------------------------------------------------------------------------

/** A `(C, H, W)` C-ordered array's channel planes (views, no copy). */
const planesOf = (data: Float32Array, channels: number, height: number, width: number): ReadonlyArray<Image2D> =>
  Array.from({ length: channels }, (_, c) => ({
    data: data.subarray(c * height * width, (c + 1) * height * width),
    height,
    width,
    order: "C" as const,
  }))

/** Reads one window's channel planes (`.npy` files through the shared float32 NPY reader; C order). */
export const loadWindow = (source: WindowSource): Effect.Effect<ReadonlyArray<Image2D>, FileReadFailed | NpyInvalid | DatasetError> =>
  source.kind === "memory"
    ? Effect.succeed(source.planes)
    : Effect.flatMap(readNpy(source.file), (array) => {
        const [a, b, c] = array.shape
        if (array.shape.length === 2 && a !== undefined && b !== undefined) return Effect.succeed(planesOf(array.data, 1, a, b))
        if (array.shape.length === 3 && a !== undefined && b !== undefined && c !== undefined) return Effect.succeed(planesOf(array.data, a, b, c))
        return Effect.fail(
          new DatasetError({
            file: source.file,
            row: -1,
            column: "window",
            detail: `expected a 2-d (H, W) or 3-d (C, H, W) array, got shape (${array.shape.join(", ")})`,
          }),
        )
      })

// ---- datasets ----------------------------------------------------------------------------------

export interface WindowDataset {
  readonly windows: ReadonlyArray<WindowSource>
  /** Row-major `[windows.length, classes]` targets (any values for inference). */
  readonly labels: Float32Array
  readonly classes: number
}

export interface DatasetOptions {
  readonly imgSize: number
  /** Channels of every window (default 1); a window with another count is a DatasetError. */
  readonly channels?: number
  /** Expected (height, width) of every channel plane; a window of another shape is a DatasetError. */
  readonly windowShape?: readonly [number, number]
  readonly transform: ImageTransform
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
  readonly channels: number
  /** Values of one preprocessed image: imgSize * imgSize * channels. */
  readonly imageValues: number

  constructor(
    readonly dataset: WindowDataset,
    readonly options: DatasetOptions,
  ) {
    this.channels = options.channels ?? 1
    this.imageValues = options.imgSize * options.imgSize * this.channels
  }

  get length(): number {
    return this.dataset.windows.length
  }

  /** The preprocessed HWC `imgSize * imgSize * channels` image of row `row`. */
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
    return Effect.flatMap(located, (planes) => {
      const fail = (detail: string) => Effect.fail(new DatasetError({ file: sourceName(source), row, column: "window", detail }))
      if (planes.length !== this.channels) return fail(`${planes.length} channel(s), expected ${this.channels}`)
      const expected = this.options.windowShape
      for (const image of planes) {
        if (expected !== undefined && (image.height !== expected[0] || image.width !== expected[1])) {
          return fail(`shape (${image.height}, ${image.width}), expected (${expected[0]}, ${expected[1]})`)
        }
      }
      const out = this.interleave(planes.map((image) => preprocessWindow(image, this.options.imgSize, this.options.transform)))
      const budget = this.options.cacheBytes ?? DEFAULT_CACHE_BYTES
      if (this.cachedBytes + out.byteLength <= budget) {
        this.cache.set(row, out)
        this.cachedBytes += out.byteLength
      }
      return Effect.succeed(out)
    })
  }

  /** Preprocessed planes to one HWC image (one plane is already its own HWC image). */
  private interleave(planes: ReadonlyArray<Float32Array>): Float32Array {
    const [first] = planes
    if (planes.length === 1 && first !== undefined) return first
    const channels = planes.length
    const out = new Float32Array(this.imageValues)
    planes.forEach((plane, c) => {
      for (let i = 0; i < plane.length; i++) out[i * channels + c] = plane[i]!
    })
    return out
  }

  /** An NHWC batch (`x`: rows x imgSize x imgSize x channels) and its row-major targets. */
  batch(
    rows: ArrayLike<number>,
  ): Effect.Effect<{ readonly x: Float32Array; readonly y: Float32Array; readonly size: number }, FileReadFailed | NpyInvalid | DatasetError> {
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
export const validateDataset = (dataset: WindowDataset, classNames?: ReadonlyArray<string>, requireTargets = true): Effect.Effect<void, DatasetError> =>
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
export const epochOrder = (n: number, seed: number, epoch: number): Int32Array => new RandomState(epochSeed(seed, epoch)).permutation(n)

/**
 * How each epoch's training batches are ordered: `numpy` (the default) is `epochOrder` above;
 * `none` keeps the dataset's order; `given` takes one permutation of the training rows per epoch
 * (e.g. the order another implementation used, to compare the two step for step).
 */
export type BatchOrder =
  | { readonly kind: "numpy" }
  | { readonly kind: "none" }
  | { readonly kind: "given"; readonly epochs: ReadonlyArray<ReadonlyArray<number>> }

/** Epoch `epoch`'s order of `n` training rows under `order`; a string when a given order cannot serve. */
export const trainingOrder = (order: BatchOrder, n: number, seed: number, epoch: number): Int32Array | string => {
  switch (order.kind) {
    case "numpy":
      return epochOrder(n, seed, epoch)
    case "none":
      return sequentialOrder(n)
    case "given": {
      const perm = order.epochs[epoch - 1]
      if (perm === undefined) return `the given order has ${order.epochs.length} epochs, epoch ${epoch} is missing`
      const seen = new Uint8Array(n)
      for (const i of perm) {
        if (!Number.isInteger(i) || i < 0 || i >= n || seen[i]) return `epoch ${epoch} of the given order is not a permutation of 0..${n - 1}`
        seen[i] = 1
      }
      if (perm.length !== n) return `epoch ${epoch} of the given order has ${perm.length} rows, the training set ${n}`
      return Int32Array.from(perm)
    }
  }
}

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
