/**
 * scikit-learn's stratified splitters, returning the test fold of every row (an `Int32Array`).
 *
 * Both reproduce scikit-learn bit for bit, including numpy's float summation order, so the folds
 * match scikit-learn's for the same inputs and seed:
 *
 * - `stratifiedGroupKFold`: `StratifiedGroupKFold(n_splits, shuffle, random_state).split(X, y, groups)`.
 *   `variant: "legacy"` is scikit-learn < 1.8, whose shuffle permutes the rows of the per-group
 *   class counts without remapping which group each row belongs to (scikit-learn PR #32540);
 *   `variant: "fixed"` is scikit-learn >= 1.8.
 * - `stratifiedKFold`: `StratifiedKFold(n_splits, shuffle, random_state).split(X, y)`.
 *
 * Inputs scikit-learn refuses come back as `SplitInputInvalid` on the left of an `Either`.
 */
import { Either } from "effect"
import { SplitInputInvalid } from "./data-errors.js"
import { RandomState } from "./random-state.js"

/** Labels or group ids: all strings or all finite numbers. */
export type Labels = ReadonlyArray<string> | ReadonlyArray<number> | ArrayLike<number>

export type StratifiedGroupKFoldVariant = "legacy" | "fixed"

export interface StratifiedGroupKFoldOptions {
  readonly y: Labels
  readonly groups: Labels
  readonly nSplits: number
  readonly shuffle: boolean
  /** The `random_state` integer; required when `shuffle` is true. */
  readonly randomState?: number | undefined
  readonly variant: StratifiedGroupKFoldVariant
}

export interface StratifiedKFoldOptions {
  readonly y: Labels
  readonly nSplits: number
  readonly shuffle: boolean
  readonly randomState?: number | undefined
}

/** numpy's `isclose` defaults. */
const IS_CLOSE_RTOL = 1e-5
const IS_CLOSE_ATOL = 1e-8
/** numpy's pairwise summation: plain loop below 8 elements, 8 accumulators up to a block of 128. */
const PAIRWISE_UNROLL = 8
const PAIRWISE_BLOCK = 128

export interface Unique<T> {
  /** The sorted distinct values. */
  readonly values: ReadonlyArray<T>
  /** For each input element, the index of its value in `values`. */
  readonly inverse: Int32Array
  /** How many input elements hold each value. */
  readonly counts: Int32Array
  /** For each value, the index of its first occurrence in the input. */
  readonly firstIndex: Int32Array
}

/** Compares strings by Unicode code point, as numpy sorts its `<U` arrays. */
const compareCodePoints = (a: string, b: string): number => {
  let i = 0
  let j = 0
  while (i < a.length && j < b.length) {
    const ca = a.codePointAt(i)!
    const cb = b.codePointAt(j)!
    if (ca !== cb) return ca - cb
    i += ca > 0xffff ? 2 : 1
    j += cb > 0xffff ? 2 : 1
  }
  return a.length - i - (b.length - j)
}

const toLabelArray = (name: string, splitter: string, labels: Labels): Either.Either<ReadonlyArray<string> | ReadonlyArray<number>, SplitInputInvalid> => {
  const n = labels.length
  if (n === 0) return Either.right([])
  const first = labels[0]
  if (typeof first === "string") {
    const out: Array<string> = new Array(n)
    for (let i = 0; i < n; i++) {
      const v = labels[i]
      if (typeof v !== "string") {
        return Either.left(
          new SplitInputInvalid({ splitter, reason: `${name}[${i}] is ${String(v)}, but ${name}[0] is a string: labels must be all strings or all numbers` }),
        )
      }
      out[i] = v
    }
    return Either.right(out)
  }
  const out: Array<number> = new Array(n)
  for (let i = 0; i < n; i++) {
    const v = labels[i]
    if (typeof v !== "number" || !Number.isFinite(v)) {
      return Either.left(new SplitInputInvalid({ splitter, reason: `${name}[${i}] is ${String(v)}: numeric labels must be finite numbers` }))
    }
    out[i] = v
  }
  return Either.right(out)
}

/** `np.unique(x, return_index=True, return_inverse=True, return_counts=True)`. */
export const unique = <T extends string | number>(values: ReadonlyArray<T>): Unique<T> => {
  const n = values.length
  const order = Array.from({ length: n }, (_, i) => i)
  const cmp =
    n > 0 && typeof values[0] === "string"
      ? (a: number, b: number) => compareCodePoints(values[a] as string, values[b] as string) || a - b
      : (a: number, b: number) => (values[a] as number) - (values[b] as number) || a - b
  order.sort(cmp)
  const inverse = new Int32Array(n)
  const distinct: Array<T> = []
  const counts: Array<number> = []
  const firstIndex: Array<number> = []
  for (let k = 0; k < n; k++) {
    const i = order[k]!
    const v = values[i]!
    if (distinct.length === 0 || distinct[distinct.length - 1] !== v) {
      distinct.push(v)
      counts.push(0)
      // The sort is stable on index, so the first element of a run is the first occurrence.
      firstIndex.push(i)
    }
    inverse[i] = distinct.length - 1
    counts[counts.length - 1]!++
  }
  return { values: distinct, inverse, counts: Int32Array.from(counts), firstIndex: Int32Array.from(firstIndex) }
}

/** numpy's `pairwise_sum` of `n` doubles starting at `a[offset]` with `stride`. */
const pairwiseSum = (a: Float64Array, offset: number, n: number, stride: number): number => {
  if (n < PAIRWISE_UNROLL) {
    let res = -0
    for (let i = 0; i < n; i++) res += a[offset + i * stride]!
    return res
  }
  if (n <= PAIRWISE_BLOCK) {
    let r0 = a[offset]!
    let r1 = a[offset + stride]!
    let r2 = a[offset + 2 * stride]!
    let r3 = a[offset + 3 * stride]!
    let r4 = a[offset + 4 * stride]!
    let r5 = a[offset + 5 * stride]!
    let r6 = a[offset + 6 * stride]!
    let r7 = a[offset + 7 * stride]!
    let i = PAIRWISE_UNROLL
    const end = n - (n % PAIRWISE_UNROLL)
    for (; i < end; i += PAIRWISE_UNROLL) {
      const p = offset + i * stride
      r0 += a[p]!
      r1 += a[p + stride]!
      r2 += a[p + 2 * stride]!
      r3 += a[p + 3 * stride]!
      r4 += a[p + 4 * stride]!
      r5 += a[p + 5 * stride]!
      r6 += a[p + 6 * stride]!
      r7 += a[p + 7 * stride]!
    }
    let res = r0 + r1 + (r2 + r3) + (r4 + r5 + (r6 + r7))
    for (; i < n; i++) res += a[offset + i * stride]!
    return res
  }
  let n2 = Math.floor(n / 2)
  n2 -= n2 % PAIRWISE_UNROLL
  return pairwiseSum(a, offset, n2, stride) + pairwiseSum(a, offset + n2 * stride, n - n2, stride)
}

/** `np.sum` of a contiguous run: the reduction starts from the identity 0.0, then adds the pairwise sum. */
const contiguousSum = (a: Float64Array, offset: number, n: number): number => 0 + pairwiseSum(a, offset, n, 1)

/** `np.std` (population) of a contiguous run, with numpy's operation order. */
const contiguousStd = (a: Float64Array, offset: number, n: number, scratch: Float64Array): number => {
  const mean = contiguousSum(a, offset, n) / n
  for (let i = 0; i < n; i++) {
    const d = a[offset + i]! - mean
    scratch[i] = d * d
  }
  return Math.sqrt(contiguousSum(scratch, 0, n) / n)
}

/** `np.isclose(a, b)` with the default tolerances. */
const isClose = (a: number, b: number): boolean => (Math.abs(a - b) <= IS_CLOSE_ATOL + IS_CLOSE_RTOL * Math.abs(b) && Number.isFinite(b)) || a === b

const checkSplits = (splitter: string, nSplits: number, nSamples: number): Either.Either<void, SplitInputInvalid> => {
  if (!Number.isInteger(nSplits) || nSplits < 2) {
    return Either.left(
      new SplitInputInvalid({
        splitter,
        reason: `k-fold cross-validation requires at least one train/test split by setting n_splits=2 or more, got n_splits=${nSplits}`,
      }),
    )
  }
  if (nSplits > nSamples) {
    return Either.left(
      new SplitInputInvalid({ splitter, reason: `Cannot have number of splits n_splits=${nSplits} greater than the number of samples: n_samples=${nSamples}` }),
    )
  }
  return Either.right(undefined)
}

const makeRng = (splitter: string, shuffle: boolean, randomState: number | undefined): Either.Either<RandomState | undefined, SplitInputInvalid> => {
  if (!shuffle) {
    if (randomState !== undefined) {
      return Either.left(new SplitInputInvalid({ splitter, reason: "Setting a random_state has no effect since shuffle is False" }))
    }
    return Either.right(undefined)
  }
  if (randomState === undefined || !Number.isInteger(randomState) || randomState < 0 || randomState > 0xffffffff) {
    return Either.left(new SplitInputInvalid({ splitter, reason: `shuffle needs an integer random_state in [0, 2^32 - 1], got ${String(randomState)}` }))
  }
  return Either.right(new RandomState(randomState))
}

const checkTarget = (splitter: string, y: ReadonlyArray<string> | ReadonlyArray<number>): Either.Either<void, SplitInputInvalid> => {
  // type_of_target: non-integral floats are "continuous", which the stratified splitters refuse.
  for (let i = 0; i < y.length; i++) {
    const v = y[i]
    if (typeof v === "number" && !Number.isInteger(v)) {
      return Either.left(
        new SplitInputInvalid({ splitter, reason: `Supported target types are: ('binary', 'multiclass'). Got 'continuous' instead (y[${i}] = ${v})` }),
      )
    }
  }
  return Either.right(undefined)
}

/**
 * The test fold of each row under scikit-learn's `StratifiedGroupKFold`: groups are kept whole and
 * each fold's class distribution is kept close to the whole's.
 */
export const stratifiedGroupKFold = (options: StratifiedGroupKFoldOptions): Either.Either<Int32Array, SplitInputInvalid> =>
  Either.gen(function* () {
    const splitter = "StratifiedGroupKFold"
    const { nSplits, variant } = options
    const y = yield* toLabelArray("y", splitter, options.y)
    const groups = yield* toLabelArray("groups", splitter, options.groups)
    if (groups.length !== y.length) {
      return yield* Either.left(new SplitInputInvalid({ splitter, reason: `y has ${y.length} rows but groups has ${groups.length}` }))
    }
    yield* checkSplits(splitter, nSplits, y.length)
    const rng = yield* makeRng(splitter, options.shuffle, options.randomState)
    yield* checkTarget(splitter, y)

    const classes = unique(y as ReadonlyArray<string | number>)
    const yCnt = classes.counts
    if (yCnt.every((c) => nSplits > c)) {
      return yield* Either.left(new SplitInputInvalid({ splitter, reason: `n_splits=${nSplits} cannot be greater than the number of members in each class.` }))
    }
    const nClasses = yCnt.length
    const groupIds = unique(groups as ReadonlyArray<string | number>)
    const nGroups = groupIds.counts.length
    if (variant === "fixed" && nSplits > nGroups) {
      return yield* Either.left(
        new SplitInputInvalid({ splitter, reason: `Cannot have number of splits n_splits=${nSplits} greater than the number of groups: ${nGroups}.` }),
      )
    }

    const countsByGroup = new Float64Array(nGroups * nClasses)
    for (let i = 0; i < y.length; i++) countsByGroup[groupIds.inverse[i]! * nClasses + classes.inverse[i]!]! += 1

    // Row r of the (possibly shuffled) count matrix holds group sourceOfRow[r]'s counts.
    const sourceOfRow = new Int32Array(nGroups)
    for (let g = 0; g < nGroups; g++) sourceOfRow[g] = g
    if (rng !== undefined) rng.shuffle(sourceOfRow)
    const counts = new Float64Array(nGroups * nClasses)
    for (let r = 0; r < nGroups; r++) {
      counts.set(countsByGroup.subarray(sourceOfRow[r]! * nClasses, (sourceOfRow[r]! + 1) * nClasses), r * nClasses)
    }

    // Stable argsort of -std(row).
    const scratch = new Float64Array(Math.max(nClasses, nSplits))
    const negStd = new Float64Array(nGroups)
    for (let r = 0; r < nGroups; r++) negStd[r] = -contiguousStd(counts, r * nClasses, nClasses, scratch)
    const sortedRows = Array.from({ length: nGroups }, (_, r) => r).sort((a, b) => negStd[a]! - negStd[b]! || a - b)

    const perFold = new Float64Array(nSplits * nClasses)
    const ratio = new Float64Array(nSplits * nClasses)
    const stdPerClass = new Float64Array(nClasses)
    const foldOfRow = new Int32Array(nGroups)
    for (const r of sortedRows) {
      const base = r * nClasses
      let bestFold = -1
      let minEval = Infinity
      let minSamples = Infinity
      for (let i = 0; i < nSplits; i++) {
        for (let c = 0; c < nClasses; c++) perFold[i * nClasses + c]! += counts[base + c]!
        for (let k = 0; k < perFold.length; k++) ratio[k] = perFold[k]! / yCnt[k % nClasses]!
        for (let c = 0; c < nClasses; c++) {
          // np.std over axis 0: the fold axis is summed sequentially for each class.
          let sum = 0
          for (let f = 0; f < nSplits; f++) sum += ratio[f * nClasses + c]!
          const mean = sum / nSplits
          let sq = 0
          for (let f = 0; f < nSplits; f++) {
            const d = ratio[f * nClasses + c]! - mean
            sq += d * d
          }
          stdPerClass[c] = Math.sqrt(sq / nSplits)
        }
        for (let c = 0; c < nClasses; c++) perFold[i * nClasses + c]! -= counts[base + c]!
        const foldEval = contiguousSum(stdPerClass, 0, nClasses) / nClasses
        const samplesInFold = contiguousSum(perFold, i * nClasses, nClasses)
        if (foldEval < minEval || (isClose(foldEval, minEval) && samplesInFold < minSamples)) {
          minEval = foldEval
          minSamples = samplesInFold
          bestFold = i
        }
      }
      for (let c = 0; c < nClasses; c++) perFold[bestFold * nClasses + c]! += counts[base + c]!
      foldOfRow[r] = bestFold
    }

    // legacy: a row's group index g is used as a count-matrix row as is (the scikit-learn < 1.8 bug);
    // fixed: group g's counts moved to the row r with sourceOfRow[r] = g.
    const rowOfGroup = new Int32Array(nGroups)
    for (let r = 0; r < nGroups; r++) rowOfGroup[variant === "legacy" ? r : sourceOfRow[r]!] = r
    const folds = new Int32Array(y.length)
    for (let i = 0; i < y.length; i++) folds[i] = foldOfRow[rowOfGroup[groupIds.inverse[i]!]!]!
    return folds
  })

/** The test fold of each row under scikit-learn's `StratifiedKFold`. */
export const stratifiedKFold = (options: StratifiedKFoldOptions): Either.Either<Int32Array, SplitInputInvalid> =>
  Either.gen(function* () {
    const splitter = "StratifiedKFold"
    const { nSplits } = options
    const y = yield* toLabelArray("y", splitter, options.y)
    yield* checkSplits(splitter, nSplits, y.length)
    const rng = yield* makeRng(splitter, options.shuffle, options.randomState)
    yield* checkTarget(splitter, y)

    // Classes are numbered by order of first appearance.
    const u = unique(y as ReadonlyArray<string | number>)
    const nClasses = u.counts.length
    const byFirst = Array.from({ length: nClasses }, (_, k) => k).sort((a, b) => u.firstIndex[a]! - u.firstIndex[b]!)
    const encodingOf = new Int32Array(nClasses)
    byFirst.forEach((sortedIndex, code) => {
      encodingOf[sortedIndex] = code
    })
    const yEncoded = new Int32Array(y.length)
    const yCounts = new Int32Array(nClasses)
    for (let i = 0; i < y.length; i++) {
      const code = encodingOf[u.inverse[i]!]!
      yEncoded[i] = code
      yCounts[code]!++
    }
    if (yCounts.every((c) => nSplits > c)) {
      return yield* Either.left(new SplitInputInvalid({ splitter, reason: `n_splits=${nSplits} cannot be greater than the number of members in each class.` }))
    }

    // allocation[f][k]: how many of class k fold f gets, dealt round robin over the sorted codes.
    const allocation = new Int32Array(nSplits * nClasses)
    let position = 0
    for (let k = 0; k < nClasses; k++) {
      for (let m = 0; m < yCounts[k]!; m++, position++) allocation[(position % nSplits) * nClasses + k]!++
    }

    const folds = new Int32Array(y.length)
    const cursor = new Int32Array(nClasses)
    const foldsForClass: Array<Int32Array> = []
    for (let k = 0; k < nClasses; k++) {
      const block = new Int32Array(yCounts[k]!)
      let p = 0
      for (let f = 0; f < nSplits; f++) for (let m = 0; m < allocation[f * nClasses + k]!; m++) block[p++] = f
      if (rng !== undefined) rng.shuffle(block)
      foldsForClass.push(block)
    }
    for (let i = 0; i < y.length; i++) {
      const k = yEncoded[i]!
      folds[i] = foldsForClass[k]![cursor[k]!++]!
    }
    return folds
  })
