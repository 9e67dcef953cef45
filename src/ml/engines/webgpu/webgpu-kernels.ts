/**
 * Training kernels for TF.js' `webgpu` backend (4.22), registered by `registerWebgpuKernels()`.
 *
 * Every kernel a ResNet-D training step runs exists in the backend (ops.ts takes its composite
 * batch-norm path there: the Cairn* kernels are registered for the wasm, cpu and tensorflow backends
 * only). One is replaced for speed:
 *
 * - `Conv2DBackpropFilter`: TF.js' kernel runs one invocation per filter element, each summing over
 *   all N·OH·OW output positions in turn. The stem's 3x3x1x32 filter is 288 invocations looping over
 *   32768 positions each: a GPU is left idle, and on llvmpipe it was 220x slower than the wasm
 *   backend (8.5 s for one 3x3 64->64 layer at 32x32, batch 8; 1.2 s here, and a resnet34d step at
 *   128x128 batch 8 went from 290 s to 90 s). Here it is a GEMM,
 *   dW[(kh, kw, ci), co] = sum over (n, oh, ow) of x[n, ih, iw, ci] * dy[n, oh, ow, co], with im2col
 *   implicit: each invocation accumulates a 4x4 tile (4 input channels of one tap x 4 output
 *   channels) in registers, over one slice of the N·OH rows ("split-K"), so that even small filters
 *   keep enough invocations busy; the slices' partial sums are then added by the backend's Sum.
 *   Channels-last only (cairn's layout); channels-first goes to TF.js' kernel.
 */
import * as tf from "@tensorflow/tfjs"
import { Data } from "effect"

export const WEBGPU_BACKEND = "webgpu"

/** A kernel of the backend that those here build on is not registered (the package not imported?). */
export class WebgpuKernelMissing extends Data.TaggedError("WebgpuKernelMissing")<{ readonly kernelName: string }> {
  override get message(): string {
    return `webgpu kernel ${this.kernelName} is not registered: import "@tensorflow/tfjs-backend-webgpu" before registerWebgpuKernels()`
  }
}

/** The parts of TF.js' WebGPU program interface used here (webgpu_program.ts in tfjs-backend-webgpu). */
interface WebgpuProgram {
  outputShape: Array<number>
  shaderKey: string
  dispatchLayout: { x: Array<number> }
  dispatch: [number, number, number]
  workgroupSize: [number, number, number]
  variableNames: Array<string>
  variableComponents?: Array<number>
  uniforms?: string
  getUserCode(): string
}

interface WebgpuBackendLike {
  runWebGPUProgram(
    program: WebgpuProgram,
    inputs: Array<tf.TensorInfo>,
    outputDtype: tf.DataType,
    uniforms?: Array<{ type: "int32"; data: Array<number> }>,
  ): tf.TensorInfo
  disposeData(dataId: tf.DataId): boolean
}

const WORKGROUP = 64
/** Output channels x input channels of one invocation's tile. */
const TILE = 4
/**
 * Invocations to aim for before splitting the reduction: enough to fill a discrete GPU's cores
 * several times over, while the partial sums (splits x filter size) stay small.
 */
const TARGET_INVOCATIONS = 1 << 15

/** The uniforms of the program, in declaration order. */
const DER_FILTER_UNIFORMS = [
  "batch",
  "inH",
  "inW",
  "inC",
  "outH",
  "outW",
  "outC",
  "filterW",
  "strideH",
  "strideW",
  "padTop",
  "padLeft",
  "ciTiles",
  "coTiles",
  "rowTiles",
  "splits",
  "rowsPerSplit",
  "invocations",
] as const
type DerFilterUniform = (typeof DER_FILTER_UNIFORMS)[number]

/** Loads 4 consecutive values of `name` at flat `base`: a vec4 element when aligned, else 4 clamped scalars. */
const load4 = (name: string, base: string, aligned: boolean, limit: string): string =>
  aligned ? `${name}[(${base}) / 4]` : `vec4<f32>(${[0, 1, 2, 3].map((j) => `${name}[min(${base} + ${j}, ${limit})]`).join(", ")})`

/**
 * The GEMM of the module comment. Output [kh, kw, ci, co, split] (the split innermost, so the
 * backend's Sum reduces its last axis without a transpose), or the filter itself when unsplit.
 * `aligned`: input and output channels are multiples of 4, so rows load as vec4 elements.
 */
const derFilterProgram = (outputShape: Array<number>, invocations: number, aligned: boolean, split: boolean): WebgpuProgram => ({
  outputShape,
  shaderKey: `cairnConv2DDerFilter_${aligned}_${split}`,
  dispatchLayout: { x: [0] },
  dispatch: [Math.ceil(invocations / WORKGROUP), 1, 1],
  workgroupSize: [WORKGROUP, 1, 1],
  variableNames: ["x", "dy"],
  ...(aligned ? { variableComponents: [TILE, TILE] } : {}),
  uniforms: DER_FILTER_UNIFORMS.map((u) => `${u} : i32,`).join(" "),
  getUserCode: () => `
    fn main(index : i32) {
      let u = uniforms;
      if (index >= u.invocations) { return; }
      let ct = index % u.coTiles;
      let rest = index / u.coTiles;
      let rt = rest % u.rowTiles;
      let s = rest / u.rowTiles;
      let ci0 = (rt % u.ciTiles) * ${TILE};
      let tap = rt / u.ciTiles;
      let kh = tap / u.filterW;
      let kw = tap % u.filterW;
      let co0 = ct * ${TILE};
      let xLast = u.batch * u.inH * u.inW * u.inC - 1;
      let dyLast = u.batch * u.outH * u.outW * u.outC - 1;
      // Output columns whose input column iw = ow * strideW - padLeft + kw lies inside the image.
      let lo = u.padLeft - kw;
      var owStart = 0;
      if (lo > 0) { owStart = (lo + u.strideW - 1) / u.strideW; }
      let hi = u.inW - 1 + u.padLeft - kw;
      var owEnd = 0;
      if (hi >= 0) { owEnd = min(u.outW, hi / u.strideW + 1); }
      var acc0 = vec4<f32>(0.0);
      var acc1 = vec4<f32>(0.0);
      var acc2 = vec4<f32>(0.0);
      var acc3 = vec4<f32>(0.0);
      let rowEnd = min((s + 1) * u.rowsPerSplit, u.batch * u.outH);
      for (var row = s * u.rowsPerSplit; row < rowEnd; row++) {
        let n = row / u.outH;
        let oh = row % u.outH;
        let ih = oh * u.strideH - u.padTop + kh;
        if (ih < 0 || ih >= u.inH) { continue; }
        let xRow = (n * u.inH + ih) * u.inW;
        let dyRow = row * u.outW;
        for (var ow = owStart; ow < owEnd; ow++) {
          let iw = ow * u.strideW - u.padLeft + kw;
          let xv = ${load4("x", "(xRow + iw) * u.inC + ci0", aligned, "xLast")};
          let dv = ${load4("dy", "(dyRow + ow) * u.outC + co0", aligned, "dyLast")};
          acc0 = fma(vec4<f32>(xv.x), dv, acc0);
          acc1 = fma(vec4<f32>(xv.y), dv, acc1);
          acc2 = fma(vec4<f32>(xv.z), dv, acc2);
          acc3 = fma(vec4<f32>(xv.w), dv, acc3);
        }
      }
      var accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
      for (var i = 0; i < ${TILE}; i++) {
        let ci = ci0 + i;
        if (ci >= u.inC) { break; }
        let rowBase = (tap * u.inC + ci) * u.outC;
        for (var j = 0; j < ${TILE}; j++) {
          let co = co0 + j;
          if (co >= u.outC) { break; }
          result[${split ? "(rowBase + co) * u.splits + s" : "rowBase + co"}] = accs[i][j];
        }
      }
    }
  `,
})

/** How the reduction over the N·OH rows is split: as few slices as fill `TARGET_INVOCATIONS`. */
export const planSplits = (tiles: number, rows: number): { readonly splits: number; readonly rowsPerSplit: number } => {
  const wanted = Math.min(rows, Math.max(1, Math.ceil(TARGET_INVOCATIONS / tiles)))
  const rowsPerSplit = Math.ceil(rows / wanted)
  return { splits: Math.ceil(rows / rowsPerSplit), rowsPerSplit }
}

const conv2dBackpropFilter =
  (fallback: tf.KernelFunc, sum: tf.KernelFunc): tf.KernelFunc =>
  (args) => {
    const { inputs, attrs } = args
    const backend = args.backend as unknown as WebgpuBackendLike
    const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo }
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as {
      strides: [number, number] | number
      pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding
      dataFormat: "NHWC" | "NCHW"
      dimRoundingMode?: "floor" | "round" | "ceil"
      filterShape: [number, number, number, number]
    }
    if (dataFormat === "NCHW" || x.dtype !== "float32") return fallback(args)
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filterShape,
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      "channelsLast",
    )
    const ciTiles = Math.ceil(info.inChannels / TILE)
    const coTiles = Math.ceil(info.outChannels / TILE)
    const rowTiles = info.filterHeight * info.filterWidth * ciTiles
    const rows = info.batchSize * info.outHeight
    const { splits, rowsPerSplit } = planSplits(rowTiles * coTiles, rows)
    const invocations = rowTiles * coTiles * splits
    const values: Record<DerFilterUniform, number> = {
      batch: info.batchSize,
      inH: info.inHeight,
      inW: info.inWidth,
      inC: info.inChannels,
      outH: info.outHeight,
      outW: info.outWidth,
      outC: info.outChannels,
      filterW: info.filterWidth,
      strideH: info.strideHeight,
      strideW: info.strideWidth,
      padTop: info.padInfo.top,
      padLeft: info.padInfo.left,
      ciTiles,
      coTiles,
      rowTiles,
      splits,
      rowsPerSplit,
      invocations,
    }
    const uniforms = DER_FILTER_UNIFORMS.map((u) => ({ type: "int32" as const, data: [values[u]] }))
    const aligned = info.inChannels % TILE === 0 && info.outChannels % TILE === 0
    const split = splits > 1
    const outShape = split ? [...filterShape, splits] : [...filterShape]
    const partial = backend.runWebGPUProgram(derFilterProgram(outShape, invocations, aligned, split), [x, dy], "float32", uniforms)
    if (!split) return partial
    const out = sum({ inputs: { x: partial }, backend: args.backend, attrs: { axis: [filterShape.length], keepDims: false } }) as tf.TensorInfo
    backend.disposeData(partial.dataId)
    return out
  }

let registered = false

/**
 * Replaces the webgpu backend's kernels named in the module comment. Needs the package imported
 * (its kernels are the fallbacks); idempotent.
 */
export function registerWebgpuKernels(): void {
  if (registered) return
  const original = tf.getKernel("Conv2DBackpropFilter", WEBGPU_BACKEND)
  if (original === undefined) throw new WebgpuKernelMissing({ kernelName: "Conv2DBackpropFilter" })
  const sum = tf.getKernel("Sum", WEBGPU_BACKEND)
  if (sum === undefined) throw new WebgpuKernelMissing({ kernelName: "Sum" })
  tf.unregisterKernel("Conv2DBackpropFilter", WEBGPU_BACKEND)
  tf.registerKernel({ ...original, kernelFunc: conv2dBackpropFilter(original.kernelFunc, sum.kernelFunc) })
  registered = true
}
