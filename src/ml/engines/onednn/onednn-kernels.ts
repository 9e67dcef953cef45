/**
 * Native kernels for the wasm backend over the oneDNN addon (engines/onednn/onednn-addon.ts): convolutions
 * forward (plain, and fused with bias and ReLU), input gradient and filter gradient, the batch-norm
 * reductions and apply steps (forward and backward, multithreaded), the pooling gradients and AdamW's update. They work in place on the wasm heap: outputs are allocated first, then the
 * heap views of every operand are taken (an allocation may grow the heap and detach older views)
 * and handed to the addon, which reads and writes them directly.
 *
 * The batch-norm reductions, `MaxPoolGrad` and the fused AdamW step are the loops of batch-norm.ts,
 * pool.ts and adamw.ts in C++ (same ops in the same order: the same bits); the convolutions are oneDNN's (their sums run in another order than XNNPACK's, so the
 * results differ from the wasm kernels' in the last bits, and with the thread count).
 *
 * Filters are reordered into oneDNN's preferred layouts once per tensor and layout (the addon
 * caches them by an id given to each filter's dataId here; a new filter tensor, e.g. after an
 * optimizer step, gets a new id, and a collected one releases its cache entries).
 */
import * as tf from "@tensorflow/tfjs"
import type { OnednnAddon } from "./onednn-addon.js"
import { BATCH_NORM_BACKWARD, BATCH_NORM_GRAD_SUMS, CHANNEL_AFFINE, CHANNEL_MOMENTS, channels } from "../wasm/batch-norm.js"
import { KernelError } from "../wasm/kernel-errors.js"
import { withScope } from "../wasm/heap.js"
import { poolGradInfo } from "../wasm/pool.js"

type Info = tf.TensorInfo
type Attrs = tf.NamedAttrMap
type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: {}; attrs?: Attrs }

/** A native kernel; `fallback` is the kernel it replaces (for the cases it leaves to it). */
export type NativeKernel = (args: KernelArgs, fallback: tf.KernelFunc) => Info

const FORWARD = 0
const BACKWARD_DATA = 1
const BACKWARD_WEIGHTS = 2

interface PackedConv {
  /** The addon's geometry record (17 int32 fields, see addon.cc). */
  readonly geometry: Int32Array
  readonly inShape: [number, number, number, number]
  readonly outShape: [number, number, number, number]
}

function packConv(kernel: string, xShape: ReadonlyArray<number>, filterShape: ReadonlyArray<number>, attrs: Attrs): PackedConv {
  const dataFormat = (attrs["dataFormat"] as string | undefined) ?? "NHWC"
  if (dataFormat !== "NHWC") {
    throw new KernelError({ kernel, input: "x", detail: `oneDNN kernels support NHWC only, got ${dataFormat}` })
  }
  const c = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs["strides"] as [number, number] | number,
    (attrs["dilations"] as number | [number, number] | undefined) ?? 1,
    attrs["pad"] as "valid" | "same" | number | tf.backend_util.ExplicitPadding,
    attrs["dimRoundingMode"] as "floor" | "round" | "ceil" | undefined,
    false,
    "channelsLast",
  )
  const p = c.padInfo
  const geometry = Int32Array.from([
    c.batchSize,
    c.inHeight,
    c.inWidth,
    c.inChannels,
    c.outHeight,
    c.outWidth,
    c.outChannels,
    c.filterHeight,
    c.filterWidth,
    c.strideHeight,
    c.strideWidth,
    p.top,
    p.left,
    p.bottom,
    p.right,
    c.dilationHeight,
    c.dilationWidth,
  ])
  return {
    geometry,
    inShape: [c.batchSize, c.inHeight, c.inWidth, c.inChannels],
    outShape: [c.batchSize, c.outHeight, c.outWidth, c.outChannels],
  }
}

/** The addon's pooling geometry: [B, H, W, C, Ho, Wo, sh, sw, kh, kw, pt, pl]. */
export const poolGeometry = (c: tf.backend_util.Conv2DInfo): Int32Array =>
  Int32Array.from([
    c.batchSize,
    c.inHeight,
    c.inWidth,
    c.inChannels,
    c.outHeight,
    c.outWidth,
    c.strideHeight,
    c.strideWidth,
    c.filterHeight,
    c.filterWidth,
    c.padInfo.top,
    c.padInfo.left,
  ])

const isEmpty = (shape: ReadonlyArray<number>): boolean => shape.some((d) => d === 0)

/** The native kernels, by TF.js kernel name, over one loaded addon. */
export function onednnKernels(addon: OnednnAddon): ReadonlyMap<string, NativeKernel> {
  let nextId = 0
  const ids = new WeakMap<object, number>()
  const released = new FinalizationRegistry<number>((id) => addon.releaseWeights(id))
  const weightsId = (dataId: object): number => {
    let id = ids.get(dataId)
    if (id === undefined) {
      id = nextId++
      ids.set(dataId, id)
      released.register(dataId, id)
    }
    return id
  }

  /** Allocates [shape], zero when empty, else fills it with `body(out view)`. */
  const produce = (backend: object, shape: Array<number>, body: (view: (info: Info) => Float32Array, out: Info) => void): Info =>
    withScope(backend, (scope) => {
      const out = scope.alloc(shape)
      if (isEmpty(shape)) return scope.keep(out)
      body((info) => scope.view(info), out)
      return scope.keep(out)
    })

  const conv2d: NativeKernel = ({ inputs, backend, attrs = {} }) => {
    const x = inputs["x"]!
    const filter = inputs["filter"]!
    const c = packConv("Conv2D", x.shape, filter.shape, attrs)
    return produce(backend, c.outShape, (view, y) => {
      if (isEmpty(c.inShape)) {
        view(y).fill(0)
        return
      }
      addon.conv(FORWARD, c.geometry, view(x), view(filter), view(y), weightsId(filter.dataId), null, false)
    })
  }

  const fusedConv2d: NativeKernel = (args, fallback) => {
    const { inputs, backend, attrs = {} } = args
    const x = inputs["x"]!
    const filter = inputs["filter"]!
    const bias = inputs["bias"]
    const activation = (attrs["activation"] as string | undefined) ?? "linear"
    const co = filter.shape[3]!
    const nativeBias = bias === undefined || (bias.dtype === "float32" && tf.util.sizeFromShape(bias.shape) === co)
    if ((activation !== "linear" && activation !== "relu") || !nativeBias || inputs["preluActivationWeights"] !== undefined) {
      return fallback(args) as Info
    }
    const c = packConv("FusedConv2D", x.shape, filter.shape, attrs)
    return produce(backend, c.outShape, (view, y) => {
      if (isEmpty(c.inShape)) {
        view(y).fill(0)
        return
      }
      const b = bias === undefined ? null : view(bias)
      addon.conv(FORWARD, c.geometry, view(x), view(filter), view(y), weightsId(filter.dataId), b, activation === "relu")
    })
  }

  const backpropInput: NativeKernel = ({ inputs, backend, attrs = {} }) => {
    const dy = inputs["dy"]!
    const filter = inputs["filter"]!
    const c = packConv("Conv2DBackpropInput", attrs["inputShape"] as Array<number>, filter.shape, { ...attrs, dilations: 1 })
    return produce(backend, [...c.inShape], (view, dx) => {
      if (isEmpty(c.outShape)) {
        view(dx).fill(0)
        return
      }
      addon.conv(BACKWARD_DATA, c.geometry, view(dy), view(filter), view(dx), weightsId(filter.dataId), null, false)
    })
  }

  const backpropFilter: NativeKernel = ({ inputs, backend, attrs = {} }) => {
    const x = inputs["x"]!
    const dy = inputs["dy"]!
    const filterShape = attrs["filterShape"] as Array<number>
    const c = packConv("Conv2DBackpropFilter", x.shape, filterShape, { ...attrs, dilations: 1 })
    return produce(backend, [...filterShape], (view, dw) => {
      if (isEmpty(c.inShape) || isEmpty(c.outShape)) {
        view(dw).fill(0)
        return
      }
      addon.conv(BACKWARD_WEIGHTS, c.geometry, view(x), view(dy), view(dw), -1, null, false)
    })
  }

  const channelMoments: NativeKernel = ({ inputs, backend }) => {
    const x = inputs["x"]!
    const C = channels(CHANNEL_MOMENTS, x)
    return produce(backend, [2, C], (view, out) => addon.channelMoments(view(x), C, view(out)))
  }

  const gradSums: NativeKernel = ({ inputs, backend }) => {
    const g = inputs["g"]!
    const x = inputs["x"]!
    const mean = inputs["mean"]!
    const y = inputs["y"]
    const C = channels(BATCH_NORM_GRAD_SUMS, x)
    return produce(backend, [2, C], (view, out) => addon.batchNormGradSums(view(g), view(x), view(mean), y === undefined ? null : view(y), C, view(out)))
  }

  const maxPoolGrad: NativeKernel = ({ inputs, backend, attrs = {} }) => {
    const dy = inputs["dy"]!
    const x = inputs["input"]!
    const geometry = poolGeometry(poolGradInfo(x, attrs))
    return produce(backend, [...x.shape], (view, dx) => addon.maxPoolGrad(view(dy), view(x), geometry, view(dx)))
  }

  // Windows that tile the input (ResNet-D's 2x2/2 shortcut pool) natively; overlapping ones on wasm.
  const avgPoolGrad: NativeKernel = (args, fallback) => {
    const { inputs, backend, attrs = {} } = args
    const dy = inputs["dy"]!
    const x = inputs["input"]!
    const c = poolGradInfo(x, attrs)
    if (c.strideHeight !== c.filterHeight || c.strideWidth !== c.filterWidth) return fallback(args) as Info
    const geometry = poolGeometry(c)
    return produce(backend, [...x.shape], (view, dx) => addon.avgPoolGrad(view(dy), geometry, view(dx)))
  }

  const kernels: Record<OnednnKernelName, NativeKernel> = {
    Conv2D: conv2d,
    FusedConv2D: fusedConv2d,
    Conv2DBackpropInput: backpropInput,
    Conv2DBackpropFilter: backpropFilter,
    [CHANNEL_MOMENTS]: channelMoments,
    [BATCH_NORM_GRAD_SUMS]: gradSums,
    MaxPoolGrad: maxPoolGrad,
    AvgPoolGrad: avgPoolGrad,
  }
  return new Map(Object.entries(kernels))
}

/**
 * The batch-norm apply kernels that only the addon provides (`CHANNEL_AFFINE`, `BATCH_NORM_BACKWARD`,
 * see batch-norm.ts): registered for the wasm backend while the native kernels are in use; ops.ts
 * composes TF.js ops for the same values elsewhere.
 */
export function batchNormApplyKernels(addon: OnednnAddon): ReadonlyArray<{ readonly name: string; readonly func: tf.KernelFunc }> {
  const affine = ({ inputs, backend, attrs = {} }: KernelArgs): Info => {
    const x = inputs["x"]!
    const C = channels(CHANNEL_AFFINE, x)
    return withScope(backend, (scope) => {
      const out = scope.alloc([...x.shape])
      if (isEmpty(x.shape)) return scope.keep(out)
      const relu = attrs["relu"] === true
      addon.channelAffine(scope.view(x), scope.view(inputs["scale"]!), scope.view(inputs["shift"]!), C, relu, scope.view(out))
      return scope.keep(out)
    })
  }
  const backward = ({ inputs, backend }: KernelArgs): Info => {
    const x = inputs["x"]!
    const y = inputs["y"]
    const C = channels(BATCH_NORM_BACKWARD, x)
    return withScope(backend, (scope) => {
      const dx = scope.alloc([...x.shape])
      if (isEmpty(x.shape)) return scope.keep(dx)
      const v = (name: string): Float32Array => scope.view(inputs[name]!)
      addon.batchNormBackward(v("g"), v("x"), y === undefined ? null : scope.view(y), v("a"), v("b"), v("c"), C, scope.view(dx))
      return scope.keep(dx)
    })
  }
  return [
    { name: CHANNEL_AFFINE, func: affine as tf.KernelFunc },
    { name: BATCH_NORM_BACKWARD, func: backward as tf.KernelFunc },
  ]
}

/** `FUSED_ADAMW` (adamw.ts) on the addon: registered for the wasm backend while the native kernels are in use. */
export function fusedAdamwKernel(addon: OnednnAddon): tf.KernelFunc {
  return (({ inputs, backend, attrs = {} }: KernelArgs): Array<Info> => {
    const param = inputs["param"]!
    const grad = inputs["grad"]!
    const expAvg = inputs["expAvg"]!
    const expAvgSq = inputs["expAvgSq"]!
    const scalars = attrs["scalars"] as unknown as Float32Array
    return withScope(backend, (scope) => {
      const outs = [param, expAvg, expAvgSq].map((t) => scope.alloc([...t.shape]))
      const [p1, m1, v1] = outs.map((o) => scope.view(o))
      addon.adamw(scope.view(param), scope.view(grad), scope.view(expAvg), scope.view(expAvgSq), p1!, m1!, v1!, scalars)
      return outs.map((o) => scope.keep(o))
    })
  }) as tf.KernelFunc
}

/** The kernels `onednnKernels` provides (registered as switchable on the wasm backend). */
export const ONEDNN_KERNEL_NAMES = [
  "Conv2D",
  "FusedConv2D",
  "Conv2DBackpropInput",
  "Conv2DBackpropFilter",
  CHANNEL_MOMENTS,
  BATCH_NORM_GRAD_SUMS,
  "MaxPoolGrad",
  "AvgPoolGrad",
] as const

type OnednnKernelName = (typeof ONEDNN_KERNEL_NAMES)[number]
