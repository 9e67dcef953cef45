/**
 * Per-channel reductions of batch normalisation over channels-last tensors, as host kernels (plain
 * loops over the backend's memory, float64 accumulation). TF.js reduces over leading axes by first
 * transposing the whole activation, which costs more than the reduction; and float64 sums keep the
 * statistics as accurate as PyTorch's.
 *
 * - `CairnChannelMoments` {x: [..., C]} -> [2, C]: batch mean and biased variance per channel.
 * - `CairnBatchNormGradSums` {g, x, mean: [C], y?} -> [2, C]: sum(gz) and sum(gz * (x - mean)) per
 *   channel, where gz = g, or g * step(y) when the batch norm's output y went through a fused ReLU.
 *
 * Two more kernel names are provided by the native kernels only (engines/onednn/onednn-kernels.ts): `ops.ts` uses
 * them where registered and composite TF.js ops elsewhere.
 * - `CairnChannelAffine` {x, scale: [C], shift: [C]}, {relu} -> x * scale + shift (then ReLU).
 * - `CairnBatchNormBackward` {g, x, y?, a, b, c: [C]} -> (gz * a + x * b) + c (gz as above).
 */
import * as tf from "@tensorflow/tfjs"
import { KernelError } from "./kernel-errors.js"
import { withScope } from "./heap.js"

export const CHANNEL_MOMENTS = "CairnChannelMoments"
export const BATCH_NORM_GRAD_SUMS = "CairnBatchNormGradSums"
export const CHANNEL_AFFINE = "CairnChannelAffine"
export const BATCH_NORM_BACKWARD = "CairnBatchNormBackward"

/** TF.js' `step`: NaN stays NaN, 1 where positive, else 0 (the ReLU gradient's mask). */
export const reluStep = (y: number): number => (Number.isNaN(y) ? y : y > 0 ? 1 : 0)

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: {}; attrs?: tf.NamedAttrMap }

/** The channel count (last axis) of a channels-last kernel input, or a KernelError naming the kernel. */
export const channels = (kernel: string, info: tf.TensorInfo): number => {
  const c = info.shape[info.shape.length - 1]
  if (c === undefined || c === 0) {
    throw new KernelError({ kernel, input: "x", detail: `channels-last tensor expected, got shape [${info.shape.join(", ")}]` })
  }
  return c
}

function channelMoments({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const x = inputs["x"]!
  const C = channels(CHANNEL_MOMENTS, x)
  return withScope(backend, (scope) => {
    const out = scope.alloc([2, C])
    const xv = scope.view(x)
    const ov = scope.view(out)
    const n = xv.length / C
    const sum = new Float64Array(C)
    const sq = new Float64Array(C)
    for (let o = 0; o < xv.length; o += C) {
      for (let c = 0; c < C; c++) {
        const v = xv[o + c]!
        sum[c] = sum[c]! + v
        sq[c] = sq[c]! + v * v
      }
    }
    for (let c = 0; c < C; c++) {
      const mean = sum[c]! / n
      ov[c] = mean
      ov[C + c] = Math.max(sq[c]! / n - mean * mean, 0)
    }
    return scope.keep(out)
  })
}

function gradSums({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const g = inputs["g"]!
  const x = inputs["x"]!
  const mean = inputs["mean"]!
  const y = inputs["y"]
  const C = channels(BATCH_NORM_GRAD_SUMS, x)
  return withScope(backend, (scope) => {
    const out = scope.alloc([2, C])
    const gv = scope.view(g)
    const xv = scope.view(x)
    const yv = y === undefined ? undefined : scope.view(y)
    const m = scope.view(mean).slice(0, C)
    const ov = scope.view(out)
    const sg = new Float64Array(C)
    const sgx = new Float64Array(C)
    for (let o = 0; o < xv.length; o += C) {
      for (let c = 0; c < C; c++) {
        const gi = yv === undefined ? gv[o + c]! : gv[o + c]! * reluStep(yv[o + c]!)
        sg[c] = sg[c]! + gi
        sgx[c] = sgx[c]! + gi * (xv[o + c]! - m[c]!)
      }
    }
    for (let c = 0; c < C; c++) {
      ov[c] = sg[c]!
      ov[C + c] = sgx[c]!
    }
    return scope.keep(out)
  })
}

export const BATCH_NORM_KERNELS: ReadonlyArray<{ readonly name: string; readonly func: tf.KernelFunc }> = [
  { name: CHANNEL_MOMENTS, func: channelMoments as tf.KernelFunc },
  { name: BATCH_NORM_GRAD_SUMS, func: gradSums as tf.KernelFunc },
]

/**
 * The gradient of `CHANNEL_AFFINE` (eval-mode batch norm taped, e.g. fine-tuning with frozen
 * statistics): dx = gz * scale, dscale = sum(gz * x), dshift = sum(gz), gz through the ReLU.
 */
export const CHANNEL_AFFINE_GRAD: tf.GradConfig = {
  kernelName: CHANNEL_AFFINE,
  inputsToSave: ["x", "scale"],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, scale, y] = saved as [tf.Tensor, tf.Tensor1D, tf.Tensor]
    const g = dy as tf.Tensor
    const gz = attrs["relu"] === true ? tf.mul(g, tf.step(y)) : g
    const axes = x.shape.slice(0, -1).map((_, i) => i)
    return {
      x: () => tf.mul(gz, scale),
      scale: () => tf.sum(tf.mul(gz, x), axes),
      shift: () => tf.sum(gz, axes),
    }
  },
}
