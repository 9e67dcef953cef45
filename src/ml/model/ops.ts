/**
 * Neural-network ops with PyTorch semantics on channels-last (NHWC) TF.js tensors.
 *
 * - `conv2d`: symmetric explicit zero padding (PyTorch `padding=p`), not TF's 'same' (which pads
 *   bottom/right only when the total is odd, e.g. a 3x3 stride-2 convolution of an even size).
 * - `batchNorm`: training mode normalises with the batch mean and biased batch variance and updates
 *   the running stats with the unbiased variance (`running = (1 - momentum) * running + momentum *
 *   batch`), eval mode uses the running stats; eps and momentum default to PyTorch's. Its gradient is
 *   hand-written (`tf.customGrad`) and optionally fused with a following ReLU.
 * - `maxPool2d`: padding counts as -inf (PyTorch's `MaxPool2d(padding=p)`).
 * - `avgPool2x2Ceil`: `AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)`.
 * - `globalAvgPool`, `linear` (weight stored [in, out]).
 *
 * The batch-norm reductions run as host kernels (`engines/wasm/batch-norm.ts`) where registered for the
 * current backend (`registerHostKernels`, done by `resolveBackend`), and as composite TF.js ops
 * elsewhere (same results, slower). Its apply steps (x * scale + shift, ReLU, and the gradient's
 * a * g + b * x + c) are single kernels where the backend has them (the native kernels), else the
 * same float32 ops one by one (the same bits).
 */
import * as tf from "@tensorflow/tfjs"
import { Data } from "effect"
import {
  BATCH_NORM_BACKWARD,
  BATCH_NORM_GRAD_SUMS,
  BATCH_NORM_KERNELS,
  CHANNEL_AFFINE,
  CHANNEL_AFFINE_GRAD,
  CHANNEL_MOMENTS,
} from "../engines/wasm/batch-norm.js"

/** PyTorch's BatchNorm2d defaults. */
export const BATCH_NORM_MOMENTUM = 0.1
export const BATCH_NORM_EPS = 1e-5

/** Backends the batch-norm host kernels are registered for (they read memory through the backend). */
const HOST_KERNEL_BACKENDS = ["wasm", "cpu", "tensorflow"] as const

/** Registers the batch-norm host kernels for the wasm, cpu and tensorflow backends. Idempotent. */
export function registerHostKernels(): void {
  if (tf.getGradient(CHANNEL_AFFINE) === undefined) tf.registerGradient(CHANNEL_AFFINE_GRAD)
  for (const backendName of HOST_KERNEL_BACKENDS) {
    for (const { name, func } of BATCH_NORM_KERNELS) {
      if (tf.getKernel(name, backendName) === undefined) {
        tf.registerKernel({ kernelName: name, backendName, kernelFunc: func })
      }
    }
  }
}

const hasKernel = (name: string): boolean => tf.getKernel(name, tf.getBackend()) !== undefined

const runKernel = <T extends tf.Tensor>(name: string, inputs: Record<string, tf.Tensor>, attrs: tf.NamedAttrMap = {}): T =>
  tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs) as T

export class BatchNormTooFewValues extends Data.TaggedError("BatchNormTooFewValues")<{
  readonly shape: ReadonlyArray<number>
}> {
  override get message(): string {
    return `batchNorm in training mode needs more than 1 value per channel, got input shape [${this.shape.join(", ")}]`
  }
}

export class OpShapeError extends Data.TaggedError("OpShapeError")<{
  readonly op: string
  readonly expected: string
  readonly shape: ReadonlyArray<number>
}> {
  override get message(): string {
    return `${this.op}: expected ${this.expected}, got shape [${this.shape.join(", ")}]`
  }
}

// ---------------------------------------------------------------------------------------------
// Convolution, pooling, linear

/** PyTorch `F.conv2d(x, w, stride=stride, padding=padding)` with x NHWC and w HWIO. */
export function conv2d(x: tf.Tensor4D, w: tf.Tensor4D, stride: number, padding: number): tf.Tensor4D {
  const pad: "valid" | [[number, number], [number, number], [number, number], [number, number]] =
    padding === 0
      ? "valid"
      : [
          [0, 0],
          [padding, padding],
          [padding, padding],
          [0, 0],
        ]
  return tf.conv2d(x, w, stride, pad)
}

/** PyTorch `MaxPool2d(kernel, stride, padding)`: windows never see the padding (it is -inf). */
export function maxPool2d(x: tf.Tensor4D, kernel: number, stride: number, padding: number): tf.Tensor4D {
  if (2 * padding > kernel) {
    throw new OpShapeError({ op: "maxPool2d", expected: `padding <= kernel / 2 (kernel ${kernel})`, shape: x.shape })
  }
  return tf.maxPool(x, kernel, stride, padding === 0 ? "valid" : padding)
}

/**
 * PyTorch `AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)` (timm's ResNet-D shortcut
 * pool): an odd trailing row/column is averaged alone. TF's 'same' pooling pads exactly that row and
 * column and leaves padding out of the count, which is the same forward for a 2x2/2 window. TF.js'
 * AvgPoolGrad divides by the full window size even for partial windows, so the gradient is
 * hand-written: TF.js' gradient rescaled by 4 / (pixels in the window) where windows are partial.
 */
export function avgPool2x2Ceil(x: tf.Tensor4D): tf.Tensor4D {
  const [, h, w] = x.shape
  if (h % 2 === 0 && w % 2 === 0) return tf.avgPool(x, 2, 2, "valid")
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xIn, save] = args as [tf.Tensor4D, tf.GradSaveFunc]
    save([xIn])
    return {
      value: tf.avgPool(xIn, 2, 2, "same"),
      gradFunc: (dy: tf.Tensor, saved: Array<tf.Tensor>) => {
        const input = saved[0]!
        const full = tf.engine().runKernel("AvgPoolGrad", { dy, input }, { filterSize: 2, strides: 2, pad: "same" }) as tf.Tensor4D
        return [tf.mul(full, partialWindowScale(h, w))]
      },
    }
  })
  return op(x) as tf.Tensor4D
}

/** [1, h, w, 1]: 4 / (pixels in the 2x2/2 ceil-mode window of each pixel). */
function partialWindowScale(h: number, w: number): tf.Tensor4D {
  const scale = new Float32Array(h * w)
  const rows = (i: number): number => (h % 2 === 1 && i === h - 1 ? 1 : 2)
  const cols = (j: number): number => (w % 2 === 1 && j === w - 1 ? 1 : 2)
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) scale[i * w + j] = 4 / (rows(i) * cols(j))
  return tf.tensor4d(scale, [1, h, w, 1])
}

/**
 * relu(a + b) for two tensors of one shape (a residual block's output), keeping only its output for
 * the gradient. TF.js' Add saves both inputs for its gradient (it needs their shapes), and in a
 * ResNet block one of them, the last batch norm's output, is kept by nothing else: one activation
 * per block through the backward pass (resnet34d 512 px batch 32: ~1 GiB). The gradient is TF.js'
 * own for relu then add, dy * step(y) to both inputs (step(y) = step(a + b), lean-gradients.ts), the
 * same values bit for bit.
 */
export function addRelu<T extends tf.Tensor>(a: T, b: T): T {
  if (!tf.util.arraysEqual(a.shape, b.shape)) {
    throw new OpShapeError({ op: "addRelu", expected: `both inputs of shape [${a.shape.join(", ")}]`, shape: b.shape })
  }
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [aIn, bIn, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc]
    const y = tf.relu(tf.add(aIn, bIn))
    save([y])
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: Array<tf.Tensor>) => {
        const g = tf.mul(dy, tf.cast(tf.step(saved[0]!), "float32"))
        return [g, g]
      },
    }
  })
  return op(a, b) as T
}

/** Mean over the spatial axes: [B, H, W, C] -> [B, C]. */
export function globalAvgPool(x: tf.Tensor4D): tf.Tensor2D {
  return tf.mean(x, [1, 2]) as tf.Tensor2D
}

/** PyTorch `F.linear` with the weight stored transposed: x [B, in] @ w [in, out] + b [out]. */
export function linear(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  return tf.add(tf.matMul(x, w), b)
}

// ---------------------------------------------------------------------------------------------
// Batch normalisation

export interface BatchNormState {
  /** gamma [C] */
  readonly weight: tf.Tensor1D
  /** beta [C] */
  readonly bias: tf.Tensor1D
  readonly runningMean: tf.Variable<tf.Rank.R1>
  readonly runningVar: tf.Variable<tf.Rank.R1>
  /** scalar int32, incremented by every training-mode call (PyTorch's int64 counter) */
  readonly numBatchesTracked: tf.Variable<tf.Rank.R0>
}

export interface BatchNormOptions {
  readonly momentum?: number
  readonly eps?: number
  /** Apply ReLU to the output (fused: one op, one gradient). */
  readonly relu?: boolean
}

/** Per-channel mean and biased variance of a channels-last tensor. */
function channelMoments(x: tf.Tensor): { mean: tf.Tensor1D; variance: tf.Tensor1D } {
  if (hasKernel(CHANNEL_MOMENTS)) {
    const stats = runKernel<tf.Tensor2D>(CHANNEL_MOMENTS, { x })
    const [mean, variance] = tf.unstack(stats) as [tf.Tensor1D, tf.Tensor1D]
    return { mean, variance }
  }
  const axes = x.shape.slice(0, -1).map((_, i) => i)
  const { mean, variance } = tf.moments(x, axes)
  return { mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D }
}

/** The gradient through a fused ReLU whose output was `y`: it passes where y is positive. */
const throughRelu = (g: tf.Tensor, y: tf.Tensor | undefined): tf.Tensor => (y === undefined ? g : tf.mul(g, tf.step(y)))

/** sum(gz) and sum(gz * (x - mean)) per channel, gz = `throughRelu(g, y)`. */
function gradSums(g: tf.Tensor, x: tf.Tensor, mean: tf.Tensor1D, y: tf.Tensor | undefined): [tf.Tensor1D, tf.Tensor1D] {
  if (hasKernel(BATCH_NORM_GRAD_SUMS)) {
    const inputs: Record<string, tf.Tensor> = y === undefined ? { g, x, mean } : { g, x, mean, y }
    return tf.unstack(runKernel<tf.Tensor2D>(BATCH_NORM_GRAD_SUMS, inputs)) as [tf.Tensor1D, tf.Tensor1D]
  }
  const gz = throughRelu(g, y)
  const axes = x.shape.slice(0, -1).map((_, i) => i)
  return [tf.sum(gz, axes) as tf.Tensor1D, tf.sum(tf.mul(gz, tf.sub(x, mean)), axes) as tf.Tensor1D]
}

/** x * scale + shift per channel, then ReLU when asked. */
function channelAffine(x: tf.Tensor, scale: tf.Tensor1D, shift: tf.Tensor1D, relu: boolean): tf.Tensor {
  if (hasKernel(CHANNEL_AFFINE)) return runKernel(CHANNEL_AFFINE, { x, scale, shift }, { relu })
  const z = tf.add(tf.mul(x, scale), shift)
  return relu ? tf.relu(z) : z
}

/** The input gradient of training-mode batch norm: gz * a + x * b + c per channel. */
function batchNormInputGrad(g: tf.Tensor, x: tf.Tensor, y: tf.Tensor | undefined, a: tf.Tensor1D, b: tf.Tensor1D, c: tf.Tensor1D): tf.Tensor {
  if (hasKernel(BATCH_NORM_BACKWARD)) {
    return runKernel(BATCH_NORM_BACKWARD, y === undefined ? { g, x, a, b, c } : { g, x, y, a, b, c })
  }
  return tf.add(tf.add(tf.mul(throughRelu(g, y), a), tf.mul(x, b)), c)
}

/**
 * PyTorch `BatchNorm2d` on the channel (last) axis. Training mode updates `state`'s running stats
 * and counter as a side effect (outside the gradient tape), like PyTorch's forward does.
 */
export function batchNorm<T extends tf.Tensor>(x: T, state: BatchNormState, training: boolean, options: BatchNormOptions = {}): T {
  const eps = options.eps ?? BATCH_NORM_EPS
  const momentum = options.momentum ?? BATCH_NORM_MOMENTUM
  const relu = options.relu ?? false
  if (!training) {
    return tf.tidy(() => {
      const scale = tf.mul(state.weight, tf.rsqrt(tf.add(state.runningVar, eps))) as tf.Tensor1D
      const shift = tf.sub(state.bias, tf.mul(state.runningMean, scale)) as tf.Tensor1D
      return channelAffine(x, scale, shift, relu) as T
    })
  }
  const count = x.size / (x.shape[x.shape.length - 1] ?? 1)
  if (count <= 1) throw new BatchNormTooFewValues({ shape: x.shape })

  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xIn, gamma, beta, save] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc]
    const { mean, variance } = channelMoments(xIn)
    const invStd = tf.rsqrt(tf.add(variance, eps))
    const scale: tf.Tensor1D = tf.mul(gamma, invStd)
    const shift: tf.Tensor1D = tf.sub(beta, tf.mul(mean, scale))
    const y = channelAffine(xIn, scale, shift, relu)
    tf.tidy(() => {
      const unbiased = tf.mul(variance, count / (count - 1))
      state.runningMean.assign(tf.add(tf.mul(state.runningMean, 1 - momentum), tf.mul(mean, momentum)))
      state.runningVar.assign(tf.add(tf.mul(state.runningVar, 1 - momentum), tf.mul(unbiased, momentum)))
      state.numBatchesTracked.assign(tf.add(state.numBatchesTracked, tf.scalar(1, "int32")))
    })
    save(relu ? [xIn, gamma, mean, invStd, y] : [xIn, gamma, mean, invStd])
    return {
      value: y,
      gradFunc: (g: tf.Tensor, saved: Array<tf.Tensor>) => {
        const [xs, gammaS, meanS, invStdS, yS] = saved as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor | undefined]
        // Through the fused ReLU: the output is positive exactly where the gradient passes.
        const [sumG, sumGX] = gradSums(g, xs, meanS, yS)
        // dgamma = sum(g * xhat), dbeta = sum(g);
        // dx = scale * (g - sumG/n - xhat * dgamma/n) = a * g + b * x + (c - b * mean), per channel.
        const dGamma: tf.Tensor1D = tf.mul(sumGX, invStdS)
        const a: tf.Tensor1D = tf.mul(gammaS, invStdS)
        const b = tf.neg(tf.mul(tf.mul(a, invStdS), tf.div(dGamma, count))) as tf.Tensor1D
        const c: tf.Tensor1D = tf.sub(tf.neg(tf.mul(a, tf.div(sumG, count))), tf.mul(b, meanS))
        const dx = batchNormInputGrad(g, xs, yS, a, b, c)
        return [dx, dGamma, sumG]
      },
    }
  })
  return op(x, state.weight, state.bias) as T
}
