/**
 * 2-D convolution kernels for the wasm backend, forward and both gradients, built on the backend's
 * XNNPACK kernels (`Conv2D` = XNNPACK convolution, `BatchMatMul` = XNNPACK fully-connected GEMM).
 *
 * - Filter gradient: dW[i,j,ci,co] = sum_{b,oh,ow} x[b, oh*s+i-pt, ow*s+j-pl, ci] dy[b,oh,ow,co].
 *   "xnnpack": a convolution of x with batch and channel axes swapped ([Ci, H, W, B]) by dy as the
 *   filter ([Ho, Wo, B, Co]) with dilation = stride; the [Ci, kh, kw, Co] output is transposed to
 *   HWIO; rows/columns of x the forward never read are cropped, missing ones padded.
 *   "gemm" (default): colT [K, M] @ dy [M, Co] = dW [K, Co] in one GEMM (K = kh*kw*Ci, M = B*Ho*Wo),
 *   colT being x's planes seen through each tap. XNNPACK's convolution runs the swapped problem with
 *   only B channels per filter position, which halves its speed.
 * - Input gradient: for each stride phase (rh, rw), a stride-1 convolution of dy by the taps
 *   W[rh::s, rw::s] flipped and with in/out channels swapped; the phases are interleaved into dx, so
 *   no work is spent on the zeros of a dilated dy.
 * - Forward, and each phase convolution of the input gradient, run on one of two engines:
 *   "xnnpack": XNNPACK's convolution. Every new filter tensor costs TF.js a scalar transpose and
 *   XNNPACK a repack (~12 ns per weight): expensive for the wide, spatially small layers.
 *   "gemm": im2col [M, K] @ W [K, Co] on XNNPACK's fully-connected operator, which packs W straight
 *   from TF.js' layout; costs the im2col copies instead.
 * `planConv` picks per call from the sizes (a fixed rule: results never depend on timings), and
 * `setConvStrategy` forces a path (tests, benchmarks).
 */
import * as tf from "@tensorflow/tfjs"
import { KernelError } from "./kernel-errors.js"
import { HostScope, withShape } from "./heap.js"

type Info = tf.TensorInfo
type Attrs = tf.NamedAttrMap
type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: {}; attrs?: Attrs }
type Pad = "valid" | "same" | number | ReadonlyArray<ReadonlyArray<number>>

export type ConvPath = "xnnpack" | "gemm"
export type ConvOp = "forward" | "backpropInput" | "backpropFilter"
export type ConvStrategy = Readonly<Record<ConvOp, "auto" | ConvPath>>

const AUTO: ConvStrategy = { forward: "auto", backpropInput: "auto", backpropFilter: "auto" }
let strategy: ConvStrategy = AUTO

/** Forces a path per op (tests, benchmarks); `{}` restores the cost rule. Returns the previous one. */
export function setConvStrategy(next: Partial<ConvStrategy>): ConvStrategy {
  const previous = strategy
  strategy = { ...AUTO, ...next }
  return previous
}

/**
 * Cost rule, nanoseconds per element on the 2-core dev box (bench/kernels.ts): a new filter costs an
 * XNNPACK convolution TF.js' scalar transpose plus XNNPACK's repack, the GEMM path only the repack of
 * its "weights" operand; the GEMM path's im2col costs its copies. The arithmetic is the same.
 */
export const CONV_COST_NS = { CONV_FILTER_SETUP: 11.6, GEMM_REPACK: 1.5, IM2COL: 0.7 } as const

/** Filter-gradient GEMMs reduce image by image from this many output pixels per image (32x32). */
export const DW_IMAGE_CHUNK_MIN_ROWS = 1024

export interface ConvGeometry {
  readonly batch: number
  readonly inHeight: number
  readonly inWidth: number
  readonly inChannels: number
  readonly outHeight: number
  readonly outWidth: number
  readonly outChannels: number
  readonly filterHeight: number
  readonly filterWidth: number
  readonly strideHeight: number
  readonly strideWidth: number
  readonly padTop: number
  readonly padLeft: number
  readonly padBottom: number
  readonly padRight: number
}

const isPointwise = (g: ConvGeometry): boolean =>
  g.filterHeight === 1 &&
  g.filterWidth === 1 &&
  g.strideHeight === 1 &&
  g.strideWidth === 1 &&
  g.padTop === 0 &&
  g.padLeft === 0 &&
  g.outHeight === g.inHeight &&
  g.outWidth === g.inWidth

/** Which path `op` takes for geometry `g` under the current strategy. */
export function planConv(op: ConvOp, g: ConvGeometry): ConvPath {
  const forced = strategy[op]
  if (forced !== "auto") return forced
  if (op === "backpropFilter" || isPointwise(g)) return "gemm"
  const weights = g.filterHeight * g.filterWidth * g.inChannels * g.outChannels
  // im2col of x for the forward, of dy for the (summed) stride phases of the input gradient.
  const copies =
    op === "forward"
      ? g.batch * g.outHeight * g.outWidth * g.filterHeight * g.filterWidth * g.inChannels
      : (g.batch * g.inHeight * g.inWidth * g.filterHeight * g.filterWidth * g.outChannels) / (g.strideHeight * g.strideWidth)
  const xnnpack = CONV_COST_NS.CONV_FILTER_SETUP * weights
  const gemmCost = CONV_COST_NS.GEMM_REPACK * weights + CONV_COST_NS.IM2COL * copies
  return gemmCost < xnnpack ? "gemm" : "xnnpack"
}

/** The wasm kernels we build on; captured before any override. */
interface BaseKernels {
  readonly conv2d: tf.KernelFunc
  readonly batchMatMul: tf.KernelFunc
  readonly transpose: tf.KernelFunc
  readonly slice: tf.KernelFunc
}

let base: BaseKernels | undefined

const baseKernels = (): BaseKernels => {
  if (base === undefined) {
    throw new KernelError({ kernel: "Conv2D", input: "", detail: "wasm convolution kernels used before registerWasmTrainingKernels()" })
  }
  return base
}

/** Captures the wasm backend's own kernels (call once, before registering the overrides). */
export function captureBaseKernels(get: (name: string) => tf.KernelFunc): void {
  base ??= { conv2d: get("Conv2D"), batchMatMul: get("BatchMatMul"), transpose: get("Transpose"), slice: get("Slice") }
}

const run = (scope: HostScope, kernel: tf.KernelFunc, inputs: Record<string, Info>, attrs: Record<string, unknown>): Info => {
  const out = kernel({ inputs, backend: scope.backend, attrs: attrs as Attrs })
  if (Array.isArray(out)) throw new KernelError({ kernel: "base kernel", input: "", detail: "expected a single output" })
  return scope.adopt(out)
}

const explicitPad = (top: number, bottom: number, left: number, right: number): Pad => [
  [0, 0],
  [top, bottom],
  [left, right],
  [0, 0],
]

/** [m, k] @ [k, n] by XNNPACK's fully-connected operator (b is packed as its weights). */
const gemm = (scope: HostScope, a: Info, b: Info, m: number, k: number, n: number): Info => {
  const out = run(scope, baseKernels().batchMatMul, { a: withShape(a, [1, m, k]), b: withShape(b, [1, k, n]) }, { transposeA: false, transposeB: false })
  return withShape(out, [m, n])
}

const geometry = (xShape: ReadonlyArray<number>, filterShape: ReadonlyArray<number>, attrs: Attrs): ConvGeometry => {
  const dataFormat = (attrs["dataFormat"] as string | undefined) ?? "NHWC"
  if (dataFormat !== "NHWC") {
    throw new KernelError({ kernel: "Conv2D", input: "x", detail: `wasm convolution kernels support NHWC only, got ${dataFormat}` })
  }
  const dilations = attrs["dilations"] as number | [number, number] | undefined
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs["strides"] as [number, number] | number,
    dilations ?? 1,
    attrs["pad"] as "valid" | "same" | number | tf.backend_util.ExplicitPadding,
    attrs["dimRoundingMode"] as "floor" | "round" | "ceil" | undefined,
    false,
    "channelsLast",
  )
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
    padBottom: info.padInfo.bottom,
    padRight: info.padInfo.right,
  }
}

// ---------------------------------------------------------------------------------------------
// Host copies

/**
 * Cache-blocked transpose of a row-major [rows, cols] matrix into [cols, rows]. Within a 32x32 tile
 * the writes run sequentially (strided reads): power-of-two row lengths otherwise alias in the cache.
 */
export function transpose2d(src: Float32Array, dst: Float32Array, rows: number, cols: number): void {
  const T = 32
  for (let r0 = 0; r0 < rows; r0 += T) {
    const r1 = Math.min(r0 + T, rows)
    for (let c0 = 0; c0 < cols; c0 += T) {
      const c1 = Math.min(c0 + T, cols)
      for (let c = c0; c < c1; c++) {
        const d = c * rows
        for (let r = r0; r < r1; r++) dst[d + r] = src[r * cols + c]!
      }
    }
  }
}

/** Output columns [lo, hi) whose input column ow*s + j - pad lies inside [0, size). */
const validRange = (j: number, s: number, pad: number, size: number, outSize: number): [number, number] => {
  const lo = Math.max(0, Math.ceil((pad - j) / s))
  const hi = Math.min(outSize, Math.floor((size - 1 - j + pad) / s) + 1)
  return [lo, Math.max(lo, hi)]
}

/** col [M, K]: row (b, oh, ow) holds the kh x kw x Ci patch of NHWC x it sees (zeros off the edge). */
export function im2col(x: Float32Array, col: Float32Array, g: ConvGeometry): void {
  const { batch: B, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = g
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padTop: pt, padLeft: pl } = g
  const K = kh * kw * C
  let d = 0
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < Ho; oh++) {
      for (let ow = 0; ow < Wo; ow++) {
        const iw0 = ow * sw - pl
        const jLo = Math.max(0, -iw0)
        const jHi = Math.min(kw, W - iw0)
        for (let i = 0; i < kh; i++) {
          const ih = oh * sh + i - pt
          const rowD = d + i * kw * C
          if (ih < 0 || ih >= H || jHi <= jLo) {
            col.fill(0, rowD, rowD + kw * C)
            continue
          }
          if (jLo > 0) col.fill(0, rowD, rowD + jLo * C)
          const src = ((b * H + ih) * W + iw0 + jLo) * C
          col.set(x.subarray(src, src + (jHi - jLo) * C), rowD + jLo * C)
          if (jHi < kw) col.fill(0, rowD + jHi * C, rowD + kw * C)
        }
        d += K
      }
    }
  }
}

/**
 * colT [K, M] from xT [C, B, H, W] for images [b0, b0 + nb): row (i, j, c) is channel c of those
 * images seen through tap (i, j); M = nb * Ho * Wo.
 */
export function im2colT(xT: Float32Array, colT: Float32Array, g: ConvGeometry, b0 = 0, nb = g.batch): void {
  const { batch: B, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = g
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padTop: pt, padLeft: pl } = g
  const M = nb * Ho * Wo
  const planes = C * nb
  const sameSize = sh === 1 && sw === 1 && Ho === H && Wo === W
  for (let i = 0; i < kh; i++) {
    const [ohLo, ohHi] = validRange(i, sh, pt, H, Ho)
    for (let j = 0; j < kw; j++) {
      const [owLo, owHi] = validRange(j, sw, pl, W, Wo)
      const blockBase = (i * kw + j) * C * M
      if (sameSize) {
        // Per channel, one shifted copy of its nb planes, then zero what came from outside a plane.
        const off = (i - pt) * W + (j - pl)
        const n = nb * H * W
        const q0 = Math.max(0, -off)
        const q1 = Math.min(n, n - off)
        if (q1 > q0) {
          for (let c = 0; c < C; c++) {
            const src = (c * B + b0) * H * W
            colT.set(xT.subarray(src + q0 + off, src + q1 + off), blockBase + c * n + q0)
          }
        }
        for (let p = 0; p < planes; p++) {
          const pb = blockBase + p * H * W
          if (ohLo > 0) colT.fill(0, pb, pb + ohLo * W)
          if (ohHi < H) colT.fill(0, pb + ohHi * W, pb + H * W)
          if (owLo > 0 || owHi < W) {
            for (let oh = ohLo; oh < ohHi; oh++) {
              const rb = pb + oh * W
              for (let ow = 0; ow < owLo; ow++) colT[rb + ow] = 0
              for (let ow = owHi; ow < W; ow++) colT[rb + ow] = 0
            }
          }
        }
        continue
      }
      for (let p = 0; p < planes; p++) {
        const pb = blockBase + p * Ho * Wo
        const srcPlane = (Math.floor(p / nb) * B + b0 + (p % nb)) * H * W
        if (ohLo > 0) colT.fill(0, pb, pb + ohLo * Wo)
        if (ohHi < Ho) colT.fill(0, pb + ohHi * Wo, pb + Ho * Wo)
        for (let oh = ohLo; oh < ohHi; oh++) {
          const rb = pb + oh * Wo
          const sb = srcPlane + (oh * sh + i - pt) * W + j - pl
          for (let ow = 0; ow < owLo; ow++) colT[rb + ow] = 0
          for (let ow = owLo; ow < owHi; ow++) colT[rb + ow] = xT[sb + ow * sw]!
          for (let ow = owHi; ow < Wo; ow++) colT[rb + ow] = 0
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Convolution engines

/** x [B, H, W, Ci] * filter [kh, kw, Ci, Co] with g's strides and explicit pads -> [B, Ho, Wo, Co]. */
function convolve(scope: HostScope, x: Info, filter: Info, g: ConvGeometry, path: ConvPath): Info {
  const outShape = [g.batch, g.outHeight, g.outWidth, g.outChannels]
  if (path === "xnnpack") {
    const attrs = {
      strides: [g.strideHeight, g.strideWidth],
      pad: explicitPad(g.padTop, g.padBottom, g.padLeft, g.padRight),
      dataFormat: "NHWC",
      dilations: [1, 1],
      dimRoundingMode: undefined,
    }
    return run(scope, baseKernels().conv2d, { x, filter }, attrs)
  }
  const M = g.batch * g.outHeight * g.outWidth
  const K = g.filterHeight * g.filterWidth * g.inChannels
  let col = x
  if (!isPointwise(g)) {
    col = scope.alloc([M, K])
    im2col(scope.view(x), scope.view(col), g)
  }
  return withShape(gemm(scope, col, filter, M, K, g.outChannels), outShape)
}

// ---------------------------------------------------------------------------------------------
// Forward

function conv2dForward({ inputs, backend, attrs = {} }: KernelArgs): Info {
  const x = inputs["x"]!
  const filter = inputs["filter"]!
  const dilations = attrs["dilations"] as number | [number, number] | undefined
  const dilated = dilations !== undefined && (Array.isArray(dilations) ? dilations.some((d) => d !== 1) : dilations !== 1)
  const g = geometry(x.shape, filter.shape, attrs)
  if (dilated || planConv("forward", g) === "xnnpack") {
    return baseKernels().conv2d({ inputs: { x, filter }, backend, attrs }) as Info
  }
  const scope = new HostScope(backend)
  try {
    return scope.keep(convolve(scope, x, filter, g, "gemm"))
  } finally {
    scope.dispose()
  }
}

// ---------------------------------------------------------------------------------------------
// Filter gradient

function backpropFilterXnnpack(scope: HostScope, x: Info, dy: Info, g: ConvGeometry): Info {
  const { batch: B, inHeight: H, inWidth: W, inChannels: Ci, outChannels: Co } = g
  const { outHeight: Ho, outWidth: Wo, strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = g
  const pt = g.padTop
  const pl = g.padLeft
  // Rows [0, usedH) of x are read by the forward convolution; the rest never meets dy.
  const usedH = (Ho - 1) * sh + kh - pt
  const usedW = (Wo - 1) * sw + kw - pl
  const Hc = Math.min(H, usedH)
  const Wc = Math.min(W, usedW)
  let xc = x
  if (Hc < H || Wc < W) xc = run(scope, baseKernels().slice, { x }, { begin: [0, 0, 0, 0], size: [B, Hc, Wc, Ci] })
  const xt = run(scope, baseKernels().transpose, { x: xc }, { perm: [3, 1, 2, 0] }) // [Ci, Hc, Wc, B]
  const dyt = run(scope, baseKernels().transpose, { x: dy }, { perm: [1, 2, 0, 3] }) // [Ho, Wo, B, Co]
  const attrs = { strides: [1, 1], pad: explicitPad(pt, usedH - Hc, pl, usedW - Wc), dataFormat: "NHWC", dilations: [sh, sw], dimRoundingMode: undefined }
  const out = run(scope, baseKernels().conv2d, { x: xt, filter: dyt }, attrs) // [Ci, kh, kw, Co]
  if (kh === 1 && kw === 1) return withShape(out, [1, 1, Ci, Co])
  return run(scope, baseKernels().transpose, { x: out }, { perm: [1, 2, 0, 3] })
}

/**
 * dW = colT @ dy as XNNPACK GEMMs. With large feature maps the reduction runs image by image (one
 * GEMM each, summed here): a whole-batch reduction of B*Ho*Wo rows streams XNNPACK's packed panels
 * through memory, one image's fits in cache. dy is copied into a scratch operand per GEMM: XNNPACK
 * caches the packing of its "weights" operand per tensor, and a cached packing of dy would live on
 * as long as dy, i.e. to the end of the backward pass.
 */
function backpropFilterGemm(scope: HostScope, x: Info, dy: Info, g: ConvGeometry): Info {
  const { batch: B, inHeight: H, inWidth: W, inChannels: Ci, outChannels: Co, filterHeight: kh, filterWidth: kw } = g
  const perImage = g.outHeight * g.outWidth
  const chunks = B > 1 && perImage >= DW_IMAGE_CHUNK_MIN_ROWS ? B : 1
  const nb = B / chunks
  const mChunk = nb * perImage
  const K = kh * kw * Ci
  const xT = scope.alloc([Ci, B * H * W])
  transpose2d(scope.view(x), scope.view(xT), B * H * W, Ci)
  const direct = chunks === 1 && isPointwise(g)
  const colT = direct ? xT : scope.alloc([K, mChunk])
  let dW: Info | undefined
  for (let c = 0; c < chunks; c++) {
    const dyc = scope.alloc([mChunk, Co])
    if (!direct) im2colT(scope.view(xT), scope.view(colT), g, c * nb, nb)
    scope.view(dyc).set(scope.view(dy).subarray(c * mChunk * Co, (c + 1) * mChunk * Co))
    const part = gemm(scope, colT, dyc, K, mChunk, Co)
    scope.release(dyc)
    if (dW === undefined) dW = part
    else {
      const acc = scope.view(dW)
      const pv = scope.view(part)
      for (let i = 0; i < acc.length; i++) acc[i] = acc[i]! + pv[i]!
      scope.release(part)
    }
  }
  return withShape(dW!, [kh, kw, Ci, Co])
}

function conv2dBackpropFilter({ inputs, backend, attrs = {} }: KernelArgs): Info {
  const x = inputs["x"]!
  const dy = inputs["dy"]!
  const g = geometry(x.shape, attrs["filterShape"] as Array<number>, { ...attrs, dilations: 1 })
  const scope = new HostScope(backend)
  try {
    const out = planConv("backpropFilter", g) === "gemm" ? backpropFilterGemm(scope, x, dy, g) : backpropFilterXnnpack(scope, x, dy, g)
    return scope.keep(out)
  } finally {
    scope.dispose()
  }
}

// ---------------------------------------------------------------------------------------------
// Input gradient

/** One stride phase of the input gradient along one axis. */
interface Phase {
  /** Filter taps of this phase: r, r + s, ..., `taps` of them. */
  readonly taps: number
  /** Phase indices q (input index s*q + r - pad) run over [qMin, qMax]. */
  readonly qMin: number
  readonly qMax: number
  /** dy rows [r0, r1] feed the phase; padLo/padHi zero rows complete the window. */
  readonly r0: number
  readonly r1: number
  readonly padLo: number
  readonly padHi: number
}

const phase = (r: number, s: number, k: number, pad: number, inSize: number, outSize: number): Phase | undefined => {
  const taps = r < k ? Math.ceil((k - r) / s) : 0
  const qMin = Math.ceil((pad - r) / s)
  const qMax = Math.floor((inSize - 1 + pad - r) / s)
  if (taps === 0 || qMax < qMin) return undefined
  const lo = qMin - taps + 1
  const r0 = Math.max(lo, 0)
  const r1 = Math.min(qMax, outSize - 1)
  if (r0 > r1) return undefined
  return { taps, qMin, qMax, r0, r1, padLo: r0 - lo, padHi: qMax - r1 }
}

/**
 * dx as one stride-1 convolution of dy per stride phase (rh, rw): phase outputs are the dx pixels
 * with (ih + pt) % sh == rh and (iw + pl) % sw == rw, their filter the taps W[rh::sh, rw::sw]
 * flipped, with in/out channels swapped. The phases are then interleaved into dx.
 */
function backpropInput(scope: HostScope, dy: Info, filter: Info, g: ConvGeometry, path: ConvPath): Info {
  const { batch: B, inHeight: H, inWidth: W, inChannels: Ci, outChannels: Co } = g
  const { outHeight: Ho, outWidth: Wo, strideHeight: sh, strideWidth: sw, filterWidth: kw } = g
  const pt = g.padTop
  const pl = g.padLeft
  const phasesH: Array<[number, Phase]> = []
  const phasesW: Array<[number, Phase]> = []
  for (let r = 0; r < sh; r++) {
    const p = phase(r, sh, g.filterHeight, pt, H, Ho)
    if (p !== undefined) phasesH.push([r, p])
  }
  for (let r = 0; r < sw; r++) {
    const p = phase(r, sw, kw, pl, W, Wo)
    if (p !== undefined) phasesW.push([r, p])
  }
  const results: Array<{ rh: number; rw: number; ph: Phase; pw: Phase; out: Info }> = []
  for (const [rh, ph] of phasesH) {
    for (const [rw, pw] of phasesW) {
      const taps = scope.alloc([ph.taps, pw.taps, Co, Ci])
      const wv = scope.view(filter)
      const tv = scope.view(taps)
      for (let m = 0; m < ph.taps; m++) {
        const i = rh + sh * (ph.taps - 1 - m)
        for (let n = 0; n < pw.taps; n++) {
          const j = rw + sw * (pw.taps - 1 - n)
          const src = (i * kw + j) * Ci * Co
          transpose2d(wv.subarray(src, src + Ci * Co), tv.subarray((m * pw.taps + n) * Co * Ci), Ci, Co)
        }
      }
      let dyc = dy
      const rows = ph.r1 - ph.r0 + 1
      const cols = pw.r1 - pw.r0 + 1
      if (rows < Ho || cols < Wo) {
        dyc = run(scope, baseKernels().slice, { x: dy }, { begin: [0, ph.r0, pw.r0, 0], size: [B, rows, cols, Co] })
      }
      const gp: ConvGeometry = {
        batch: B,
        inHeight: rows,
        inWidth: cols,
        inChannels: Co,
        outHeight: ph.qMax - ph.qMin + 1,
        outWidth: pw.qMax - pw.qMin + 1,
        outChannels: Ci,
        filterHeight: ph.taps,
        filterWidth: pw.taps,
        strideHeight: 1,
        strideWidth: 1,
        padTop: ph.padLo,
        padBottom: ph.padHi,
        padLeft: pw.padLo,
        padRight: pw.padHi,
      }
      results.push({ rh, rw, ph, pw, out: convolve(scope, dyc, taps, gp, path) })
    }
  }
  // Stride 1: the single phase is dx itself (q = ih + pad).
  const only = results[0]
  if (sh === 1 && sw === 1 && only !== undefined) return only.out

  const dx = scope.alloc([B, H, W, Ci])
  const dxv = scope.view(dx)
  if (results.length < sh * sw) dxv.fill(0)
  for (const { rh, rw, ph, pw, out } of results) {
    const pv = scope.view(out)
    const nh = ph.qMax - ph.qMin + 1
    const nw = pw.qMax - pw.qMin + 1
    let src = 0
    for (let b = 0; b < B; b++) {
      for (let a = 0; a < nh; a++) {
        const ih = sh * (ph.qMin + a) + rh - pt
        let dst = ((b * H + ih) * W + sw * pw.qMin + rw - pl) * Ci
        for (let c = 0; c < nw; c++) {
          dxv.set(pv.subarray(src, src + Ci), dst)
          src += Ci
          dst += sw * Ci
        }
      }
    }
  }
  return dx
}

function conv2dBackpropInput({ inputs, backend, attrs = {} }: KernelArgs): Info {
  const dy = inputs["dy"]!
  const filter = inputs["filter"]!
  const g = geometry(attrs["inputShape"] as Array<number>, filter.shape, { ...attrs, dilations: 1 })
  const scope = new HostScope(backend)
  try {
    return scope.keep(backpropInput(scope, dy, filter, g, planConv("backpropInput", g)))
  } finally {
    scope.dispose()
  }
}

export const CONV_KERNELS: ReadonlyArray<{ readonly name: string; readonly func: tf.KernelFunc }> = [
  { name: "Conv2D", func: conv2dForward as tf.KernelFunc },
  { name: "Conv2DBackpropFilter", func: conv2dBackpropFilter as tf.KernelFunc },
  { name: "Conv2DBackpropInput", func: conv2dBackpropInput as tf.KernelFunc },
]
