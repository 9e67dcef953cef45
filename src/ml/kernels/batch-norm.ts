/**
 * Per-channel reductions of batch normalisation over channels-last tensors, as host kernels (plain
 * loops over the backend's memory, float64 accumulation). TF.js reduces over leading axes by first
 * transposing the whole activation, which costs more than the reduction; and float64 sums keep the
 * statistics as accurate as PyTorch's.
 *
 * - `CairnChannelMoments` {x: [..., C]} -> [2, C]: batch mean and biased variance per channel.
 * - `CairnBatchNormGradSums` {g, x, mean: [C]} -> [2, C]: sum(g) and sum(g * (x - mean)) per channel.
 */
import type * as tf from "@tensorflow/tfjs"
import { KernelError } from "./errors.js"
import { withScope } from "./heap.js"

export const CHANNEL_MOMENTS = "CairnChannelMoments"
export const BATCH_NORM_GRAD_SUMS = "CairnBatchNormGradSums"

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: {}; attrs?: tf.NamedAttrMap }

const channels = (kernel: string, info: tf.TensorInfo): number => {
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
  const C = channels(BATCH_NORM_GRAD_SUMS, x)
  return withScope(backend, (scope) => {
    const out = scope.alloc([2, C])
    const gv = scope.view(g)
    const xv = scope.view(x)
    const m = scope.view(mean).slice(0, C)
    const ov = scope.view(out)
    const sg = new Float64Array(C)
    const sgx = new Float64Array(C)
    for (let o = 0; o < xv.length; o += C) {
      for (let c = 0; c < C; c++) {
        const gi = gv[o + c]!
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
