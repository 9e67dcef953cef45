/**
 * Per-image preprocessing exact to numpy (float32) + OpenCV. The transforms (`ImageTransform`):
 *
 * - "log-zscore" (log-power images, e.g. time-frequency maps):
 *
 *       img = np.clip(img, exp(logMin), exp(logMax)); img = np.log(img)
 *       img = img - img.mean(axis=(0, 1)); img = img / (img.std(axis=(0, 1)) + eps)
 *       img = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)   (albumentations' Resize)
 *
 * - "resize": only the resize (images already on a sensible scale).
 *
 * numpy semantics reproduced:
 * - float32 throughout, as numpy 1.x computed it on a float32 image (the clip bounds are cast to
 *   float32; numpy 2 would promote to float64 because `np.exp(-4)` is a float64 scalar);
 * - `mean` / `std` over all axes use numpy's pairwise summation (8-way unrolled blocks of 128) in
 *   MEMORY order, which differs between C- and Fortran-ordered images (slices of a transposed
 *   array saved by `np.save` are Fortran-ordered); `std` is the population std of the
 *   already-centred image, computed as numpy does (its own mean, squares, pairwise sum);
 * - `std + eps` is formed in float64 and cast to float32 (numpy 1.x scalar promotion).
 * numpy's float32 `log` is a SIMD approximation (up to 3 ulp off); ours is correctly rounded, so
 * values agree to ~1e-6, not bit for bit.
 *
 * OpenCV's INTER_LINEAR resize (generic path, no antialiasing): source coordinate
 * `(float)((d + 0.5) * scale - 0.5)` with `scale = 1 / (dst / src)` in double; horizontal taps at
 * the left/right border collapse to the border pixel; vertical taps use clamped rows (border
 * replicate); both passes are float32 `a * w0 + b * w1`. An exact 2x downscale on both axes is
 * INTER_AREA in OpenCV (2x2 mean) and is reproduced too. This is bit-exact with `cv2.resize` when
 * Intel IPP is off; opencv-python's default IPP path differs by up to ~1e-6.
 */

/** numpy's PW_BLOCKSIZE and unroll factor of `pairwise_sum`. */
const PAIRWISE_BLOCK = 128
const PAIRWISE_UNROLL = 8

/** OpenCV's universal-intrinsics width (floats) in the 2x area-fast resize. */
const AREA_FAST_LANES = 4
const AREA_FAST_SCALE = 2
const AREA_FAST_WEIGHT = 0.25

const f32 = Math.fround

const pairwise32 = (a: Float32Array, offset: number, n: number): number => {
  if (n < PAIRWISE_UNROLL) {
    let res = 0
    for (let i = 0; i < n; i++) res = f32(res + a[offset + i]!)
    return res
  }
  if (n <= PAIRWISE_BLOCK) {
    let r0 = a[offset]!
    let r1 = a[offset + 1]!
    let r2 = a[offset + 2]!
    let r3 = a[offset + 3]!
    let r4 = a[offset + 4]!
    let r5 = a[offset + 5]!
    let r6 = a[offset + 6]!
    let r7 = a[offset + 7]!
    const end = n - (n % PAIRWISE_UNROLL)
    let i = PAIRWISE_UNROLL
    for (; i < end; i += PAIRWISE_UNROLL) {
      const o = offset + i
      r0 = f32(r0 + a[o]!)
      r1 = f32(r1 + a[o + 1]!)
      r2 = f32(r2 + a[o + 2]!)
      r3 = f32(r3 + a[o + 3]!)
      r4 = f32(r4 + a[o + 4]!)
      r5 = f32(r5 + a[o + 5]!)
      r6 = f32(r6 + a[o + 6]!)
      r7 = f32(r7 + a[o + 7]!)
    }
    let res = f32(f32(f32(r0 + r1) + f32(r2 + r3)) + f32(f32(r4 + r5) + f32(r6 + r7)))
    for (; i < n; i++) res = f32(res + a[offset + i]!)
    return res
  }
  let n2 = Math.floor(n / 2)
  n2 -= n2 % PAIRWISE_UNROLL
  return f32(pairwise32(a, offset, n2) + pairwise32(a, offset + n2, n - n2))
}

const pairwise64 = (a: ArrayLike<number>, offset: number, n: number): number => {
  if (n < PAIRWISE_UNROLL) {
    let res = 0
    for (let i = 0; i < n; i++) res += a[offset + i]!
    return res
  }
  if (n <= PAIRWISE_BLOCK) {
    const r = [0, 1, 2, 3, 4, 5, 6, 7].map((j) => a[offset + j]!)
    const end = n - (n % PAIRWISE_UNROLL)
    let i = PAIRWISE_UNROLL
    for (; i < end; i += PAIRWISE_UNROLL) {
      for (let j = 0; j < PAIRWISE_UNROLL; j++) r[j] = r[j]! + a[offset + i + j]!
    }
    let res = r[0]! + r[1]! + (r[2]! + r[3]!) + (r[4]! + r[5]! + (r[6]! + r[7]!))
    for (; i < n; i++) res += a[offset + i]!
    return res
  }
  let n2 = Math.floor(n / 2)
  n2 -= n2 % PAIRWISE_UNROLL
  return pairwise64(a, offset, n2) + pairwise64(a, offset + n2, n - n2)
}

/**
 * numpy's `add.reduce` over a contiguous run of `n` values (pairwise summation): in float32 when
 * `float32` is true (every partial sum rounded, as numpy does on a float32 array), else float64.
 */
export const numpySum = (a: Float32Array | Float64Array, offset = 0, n = a.length - offset, float32 = true): number =>
  float32 && a instanceof Float32Array ? pairwise32(a, offset, n) : pairwise64(a, offset, n)

/** A 2-d float32 image and its memory order ("C": row-major, "F": column-major, as numpy's flags). */
export interface Image2D {
  readonly data: Float32Array
  readonly height: number
  readonly width: number
  readonly order: "C" | "F"
}

export interface LogZScoreOptions {
  /** Natural log of the lower clip bound. */
  readonly logMin: number
  /** Natural log of the upper clip bound. */
  readonly logMax: number
  /** Added to the std before dividing. */
  readonly eps: number
  /**
   * Memory order in which numpy would have summed (the z-score's mean and std): the image's own
   * order when undefined. "F" reproduces a Fortran-ordered original from a C-ordered copy.
   */
  readonly reductionOrder?: "C" | "F"
}

/** What is done to each image (each channel plane) before the resize to the model's input size. */
export type ImageTransform = ({ readonly kind: "log-zscore" } & LogZScoreOptions) | { readonly kind: "resize" }

/** numpy's `a.mean()` of a float32 array (pairwise float32 sum in memory order, then / n). */
export const numpyMean32 = (a: Float32Array): number => f32(pairwise32(a, 0, a.length) / a.length)

/** numpy's `a.std()` (population) of a float32 array: its own mean, squared deviations, pairwise sum. */
export const numpyStd32 = (a: Float32Array): number => {
  const n = a.length
  const mean = numpyMean32(a)
  const sq = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    const d = f32(a[i]! - mean)
    sq[i] = d * d
  }
  return f32(Math.sqrt(f32(pairwise32(sq, 0, n) / n)))
}

/** `log(clip(x, e^logMin, e^logMax))` in float32, in the image's own memory order. */
export const logClip = (image: Image2D, options: LogZScoreOptions): Float32Array => {
  const n = image.height * image.width
  if (image.data.length !== n) {
    throw new RangeError(`image data has ${image.data.length} values for ${image.height}x${image.width}`)
  }
  const lo = f32(Math.exp(options.logMin))
  const hi = f32(Math.exp(options.logMax))
  const src = image.data
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    const v = src[i]!
    // np.clip propagates NaN; so does this (NaN fails both comparisons).
    // biome-ignore lint/complexity/useMathMinMax: numpy's clip, written as it compares
    out[i] = Math.log(v < lo ? lo : v > hi ? hi : v)
  }
  return out
}

/** `log(clip(x))` then per-image z-score, in the image's own memory order; returns the new data. */
export const logZScore = (image: Image2D, options: LogZScoreOptions): Float32Array => {
  const out = logClip(image, options)
  const n = out.length
  const mean = numpyMean32(out)
  for (let i = 0; i < n; i++) out[i] = out[i]! - mean
  const denom = f32(numpyStd32(out) + options.eps)
  for (let i = 0; i < n; i++) out[i] = out[i]! / denom
  return out
}

interface Taps {
  readonly offset: Int32Array
  readonly w0: Float32Array
  readonly w1: Float32Array
}

/** OpenCV's INTER_LINEAR tap table along one axis (`clampBorder`: the horizontal rule). */
const linearTaps = (src: number, dst: number, clampBorder: boolean): Taps & { readonly xmax: number } => {
  const scale = 1 / (dst / src)
  const offset = new Int32Array(dst)
  const w0 = new Float32Array(dst)
  const w1 = new Float32Array(dst)
  let xmax = dst
  for (let d = 0; d < dst; d++) {
    let f = f32((d + 0.5) * scale - 0.5)
    let s = Math.floor(f)
    f = f32(f - s)
    if (clampBorder) {
      if (s < 0) {
        f = 0
        s = 0
      }
      if (s + 1 >= src) {
        xmax = Math.min(xmax, d)
        if (s >= src - 1) {
          f = 0
          s = src - 1
        }
      }
    }
    offset[d] = s
    w0[d] = f32(1 - f)
    w1[d] = f
  }
  return { offset, w0, w1, xmax }
}

const areaFast2x = (src: Image2D, outH: number, outW: number): Float32Array => {
  const { data, height, width, order } = src
  const at = order === "C" ? (y: number, x: number) => data[y * width + x]! : (y: number, x: number) => data[x * height + y]!
  const out = new Float32Array(outH * outW)
  const vectorEnd = outW - (outW % AREA_FAST_LANES)
  for (let y = 0; y < outH; y++) {
    const sy = y * AREA_FAST_SCALE
    for (let x = 0; x < outW; x++) {
      const sx = x * AREA_FAST_SCALE
      const a = at(sy, sx)
      const b = at(sy, sx + 1)
      const c = at(sy + 1, sx)
      const d = at(sy + 1, sx + 1)
      const sum = x < vectorEnd ? f32(f32(a + b) + f32(c + d)) : f32(f32(f32(a + b) + c) + d)
      out[y * outW + x] = f32(sum * AREA_FAST_WEIGHT)
    }
  }
  return out
}

/** `cv2.resize(img, (outW, outH), interpolation=cv2.INTER_LINEAR)` on a one-channel float32 image. */
export const resizeLinear = (src: Image2D, outH: number, outW: number): Float32Array => {
  const { data, height, width, order } = src
  if (data.length !== height * width) {
    throw new RangeError(`image data has ${data.length} values for ${height}x${width}`)
  }
  if (outH === height && outW === width) {
    if (order === "C") return Float32Array.from(data)
    const out = new Float32Array(height * width)
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[y * width + x] = data[x * height + y]!
    return out
  }
  if (height === outH * AREA_FAST_SCALE && width === outW * AREA_FAST_SCALE) return areaFast2x(src, outH, outW)
  const xs = linearTaps(width, outW, true)
  const ys = linearTaps(height, outH, false)
  // Horizontal pass, one source row at a time, computed lazily (each row is needed by a few outputs).
  const rows = new Map<number, Float32Array>()
  const rowStride = order === "C" ? 1 : height
  const hrow = (y: number): Float32Array => {
    const cached = rows.get(y)
    if (cached !== undefined) return cached
    const base = order === "C" ? y * width : y
    const out = new Float32Array(outW)
    for (let d = 0; d < outW; d++) {
      const s = xs.offset[d]!
      const v0 = data[base + s * rowStride]!
      if (d < xs.xmax) {
        const v1 = data[base + (s + 1) * rowStride]!
        out[d] = f32(f32(v0 * xs.w0[d]!) + f32(v1 * xs.w1[d]!))
      } else {
        out[d] = v0
      }
    }
    rows.set(y, out)
    return out
  }
  const out = new Float32Array(outH * outW)
  const last = height - 1
  for (let d = 0; d < outH; d++) {
    const s = ys.offset[d]!
    const r0 = hrow(Math.min(Math.max(s, 0), last))
    const r1 = hrow(Math.min(Math.max(s + 1, 0), last))
    const b0 = ys.w0[d]!
    const b1 = ys.w1[d]!
    const o = d * outW
    for (let x = 0; x < outW; x++) out[o + x] = f32(f32(r0[x]! * b0) + f32(r1[x]! * b1))
    // rows above the current tap are not needed again (taps move down monotonically)
    for (const key of rows.keys()) if (key < s) rows.delete(key)
  }
  return out
}

/** The same image laid out in `order` (a copy when the order changes). */
export const toOrder = (image: Image2D, order: "C" | "F"): Image2D => {
  if (image.order === order) return image
  const { data, height, width } = image
  const out = new Float32Array(data.length)
  if (order === "F") {
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[x * height + y] = data[y * width + x]!
  } else {
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[y * width + x] = data[x * height + y]!
  }
  return { data: out, height, width, order }
}

/**
 * One image's whole transform: for "log-zscore", log-clip and z-score (in `reductionOrder`), then
 * the resize to `imgSize` x `imgSize`; for "resize", the resize only. Returns the C-ordered
 * `imgSize * imgSize` plane.
 */
export const preprocessWindow = (image: Image2D, imgSize: number, transform: ImageTransform): Float32Array => {
  if (transform.kind === "resize") return resizeLinear(image, imgSize, imgSize)
  const laid = toOrder(image, transform.reductionOrder ?? image.order)
  const normalized = logZScore(laid, transform)
  return resizeLinear({ data: normalized, height: laid.height, width: laid.width, order: laid.order }, imgSize, imgSize)
}
