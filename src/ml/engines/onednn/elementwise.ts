/**
 * Native element-wise and pooling kernels for TF.js' cpu backend (backend `cpu+onednn`), whose own
 * are single-threaded JS loops: at 128 px batch 8 on cpu+onednn, `Add`, `Multiply`, `Step`, `Relu`
 * and `MaxPool` took a third of a resnet34d training step before these (bench/train.ts --profile).
 * Each does what the cpu kernel does, in place on its TypedArrays, over the addon's OpenMP team:
 *
 * - `Add`, `Sub`, `Multiply` on float32, with TF.js' broadcasting (a per-channel vector, a scalar,
 *   [B, 1, 1, C] against [B, H, W, C] in the gradient of the global average pool),
 * - `Relu`, `Step` on float32,
 * - `MaxPool`, `AvgPool` on float32 (their 1x1 identity case stays on the cpu kernel),
 * - `Mean` over the spatial axes of [B, H, W, C] (the global average pool; its float64 sums in the
 *   cpu kernel's order).
 *
 * One float32 operation per output element, as the JS kernels (float64 arithmetic rounded once on
 * store gives the same float32): the same bits. Anything else, and tensors under `NATIVE_MIN_VALUES`
 * (a native call costs more than the JS loop there), go to the cpu kernel (`fallback`).
 */
import * as tf from "@tensorflow/tfjs"
import type { OnednnAddon } from "./onednn-addon.js"
import { withScope } from "../wasm/heap.js"
import { type NativeKernel, poolGeometry } from "./onednn-kernels.js"
import { poolGradInfo } from "../wasm/pool.js"

type Info = tf.TensorInfo

/** Below this many output values the JS kernel is as fast as a call into the addon. */
export const NATIVE_MIN_VALUES = 1024

const BINARY_OPS = { Add: 0, Sub: 1, Multiply: 2 } as const
const UNARY_OPS = { Relu: 0, Step: 1 } as const
const POOLS = { MaxPool: true, AvgPool: false } as const

export const CPU_ELEMENTWISE_KERNEL_NAMES: ReadonlyArray<string> = [...Object.keys(BINARY_OPS), ...Object.keys(UNARY_OPS), ...Object.keys(POOLS), "Mean"]

/** The broadcast shape of two operands, or undefined when they do not broadcast. */
function broadcastShape(a: ReadonlyArray<number>, b: ReadonlyArray<number>): Array<number> | undefined {
  try {
    return tf.backend_util.assertAndGetBroadcastShape([...a], [...b])
  } catch (error) {
    if (error instanceof Error) return undefined
    throw error
  }
}

/**
 * Whether one operand has the output's size and the other repeats into it along leading axes
 * (TF.js' cpu kernel then indexes both modulo their sizes): same shape, a scalar, a per-channel vector.
 */
function repeatsAlongLeadingAxes(a: ReadonlyArray<number>, b: ReadonlyArray<number>, out: Array<number>): boolean {
  if (tf.backend_util.getBroadcastDims([...a], out).length + tf.backend_util.getBroadcastDims([...b], out).length > 0) return false
  const n = tf.util.sizeFromShape(out)
  const na = tf.util.sizeFromShape([...a])
  const nb = tf.util.sizeFromShape([...b])
  return (na === n && nb > 0 && n % nb === 0) || (nb === n && na > 0 && n % na === 0)
}

/** [rank, out dims, a strides, b strides] with stride 0 along the axes an operand is broadcast on. */
function broadcastGeometry(a: ReadonlyArray<number>, b: ReadonlyArray<number>, out: ReadonlyArray<number>): Int32Array {
  const rank = out.length
  const strides = (shape: ReadonlyArray<number>): Array<number> => {
    const aligned = [...Array<number>(rank - shape.length).fill(1), ...shape]
    const result = new Array<number>(rank).fill(0)
    let stride = 1
    for (let d = rank - 1; d >= 0; d--) {
      result[d] = aligned[d] === 1 ? 0 : stride
      stride *= aligned[d]!
    }
    return result
  }
  return Int32Array.from([rank, ...out, ...strides(a), ...strides(b)])
}

export function cpuElementwiseKernels(addon: OnednnAddon): ReadonlyMap<string, NativeKernel> {
  const kernels = new Map<string, NativeKernel>()
  for (const [name, op] of Object.entries(BINARY_OPS)) {
    kernels.set(name, (args, fallback) => {
      const a = args.inputs["a"]!
      const b = args.inputs["b"]!
      const shape = a.dtype === "float32" && b.dtype === "float32" ? broadcastShape(a.shape, b.shape) : undefined
      if (shape === undefined || tf.util.sizeFromShape(shape) < NATIVE_MIN_VALUES) return fallback(args) as Info
      const repeats = repeatsAlongLeadingAxes(a.shape, b.shape, shape)
      return withScope(args.backend, (scope) => {
        const out = scope.alloc(shape)
        if (repeats) addon.binary(op, scope.view(a), scope.view(b), scope.view(out))
        else addon.broadcastBinary(op, scope.view(a), scope.view(b), scope.view(out), broadcastGeometry(a.shape, b.shape, shape))
        return scope.keep(out)
      })
    })
  }
  for (const [name, op] of Object.entries(UNARY_OPS)) {
    kernels.set(name, (args, fallback) => {
      const x = args.inputs["x"]!
      if (x.dtype !== "float32" || tf.util.sizeFromShape(x.shape) < NATIVE_MIN_VALUES) return fallback(args) as Info
      const alpha = (args.attrs?.["alpha"] as number | undefined) ?? 0
      return withScope(args.backend, (scope) => {
        const out = scope.alloc([...x.shape])
        addon.unary(op, scope.view(x), alpha, scope.view(out))
        return scope.keep(out)
      })
    })
  }
  for (const [name, isMax] of Object.entries(POOLS)) {
    kernels.set(name, (args, fallback) => {
      const x = args.inputs["x"]!
      const c = poolGradInfo(x, args.attrs ?? {})
      const identity = c.filterHeight === 1 && c.filterWidth === 1 && tf.util.arraysEqual(c.inShape, c.outShape)
      if (x.dtype !== "float32" || identity || tf.util.sizeFromShape(c.outShape) < NATIVE_MIN_VALUES) return fallback(args) as Info
      return withScope(args.backend, (scope) => {
        const out = scope.alloc([...c.outShape])
        addon.pool(isMax, scope.view(x), poolGeometry(c), scope.view(out))
        return scope.keep(out)
      })
    })
  }
  // The global average pool: the mean of [B, H, W, C] over H and W.
  kernels.set("Mean", (args, fallback) => {
    const x = args.inputs["x"]!
    const axes = tf.util.parseAxisParam(args.attrs?.["axis"] as number | Array<number>, x.shape)
    const spatial = x.shape.length === 4 && axes.length === 2 && axes[0] === 1 && axes[1] === 2
    if (x.dtype !== "float32" || !spatial || tf.util.sizeFromShape(x.shape) < NATIVE_MIN_VALUES) return fallback(args) as Info
    const [B, , , C] = x.shape as [number, number, number, number]
    const shape = args.attrs?.["keepDims"] === true ? [B, 1, 1, C] : [B, C]
    return withScope(args.backend, (scope) => {
      const out = scope.alloc(shape)
      addon.spatialMean(scope.view(x), B, C, scope.view(out))
      return scope.keep(out)
    })
  })
  return kernels
}
