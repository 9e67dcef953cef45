/**
 * The WebGPU checks' cases, shared by the vitest suite (test/ml/engines/webgpu/webgpu-backend.test.ts) and the bundled
 * check that travels to a GPU machine without Node or node_modules (bench/gpu-check.ts): the same
 * convolutions, the same tiny model and steps, the same error measure. Pure TF.js: whichever
 * backend is current computes them.
 */
import * as tf from "@tensorflow/tfjs"
import { AdamW } from "../src/ml/train/adamw.js"
import { klDivLossWithLogits } from "../src/ml/train/loss.js"
import { conv2d } from "../src/ml/model/ops.js"
import { buildResNet, type ResNet } from "../src/ml/model/resnet.js"

/** The report the bundled check writes in its output folder (gpu-check.ts), read by the bundle's test. */
export const GPU_CHECK_REPORT = "gpu-check.json"

/** Deterministic test values in [-1, 1]. */
export const wave = (n: number, phase: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.731 + phase))

/** max |a - b| / max |b|: the error measured against the reference's scale. */
export const scaledError = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  if (a.length !== b.length) throw new RangeError(`scaledError: ${a.length} values against ${b.length}`)
  let scale = 0
  let diff = 0
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!))
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!))
  }
  return diff / (scale || 1)
}

export interface ConvCase {
  readonly name: string
  readonly x: [number, number, number, number]
  readonly w: [number, number, number, number]
  readonly stride: number
  readonly padding: number
}

/** A ResNet-D's convolutions in small: the stem's, 3x3 of both strides, odd sizes, the 1x1 shortcut, a wide one. */
export const CONV_CASES: ReadonlyArray<ConvCase> = [
  { name: "stem 3x3/2, 1 channel in", x: [2, 17, 16, 1], w: [3, 3, 1, 8], stride: 2, padding: 1 },
  { name: "3x3/1", x: [2, 12, 12, 16], w: [3, 3, 16, 16], stride: 1, padding: 1 },
  { name: "3x3/2, odd size, channels not multiples of 4", x: [3, 9, 7, 6], w: [3, 3, 6, 10], stride: 2, padding: 1 },
  { name: "1x1/1 shortcut", x: [2, 6, 6, 16], w: [1, 1, 16, 32], stride: 1, padding: 0 },
  { name: "3x3/1 unpadded", x: [2, 8, 8, 8], w: [3, 3, 8, 4], stride: 1, padding: 0 },
  // Enough 4x4 filter tiles that the filter gradient's reduction is not split (src/ml/engines/webgpu/webgpu-kernels.ts).
  { name: "3x3/1, 256 channels", x: [1, 3, 3, 256], w: [3, 3, 256, 256], stride: 1, padding: 1 },
]

/** What a conv case computes: y, dx, dw, in that order. */
export const CONV_OUTPUTS = ["y", "dx", "dw"] as const

/** y = conv2d(x, w) and the gradients of sum(y * c) for a fixed cotangent c: all downloaded. */
export const convAndGrads = async (c: ConvCase): Promise<ReadonlyArray<Float32Array>> => {
  const out = tf.tidy(() => {
    const x = tf.tensor4d(
      wave(
        c.x.reduce((a, b) => a * b),
        0,
      ),
      c.x,
    )
    const f = tf.tensor4d(
      wave(
        c.w.reduce((a, b) => a * b),
        1,
      ),
      c.w,
    )
    const y = conv2d(x, f, c.stride, c.padding)
    const cot = tf.tensor(wave(y.size, 2), y.shape)
    const grads = tf.grads((xi: tf.Tensor, fi: tf.Tensor) => tf.sum(tf.mul(conv2d(xi as tf.Tensor4D, fi as tf.Tensor4D, c.stride, c.padding), cot)))([x, f])
    return [y, ...grads]
  })
  const values = await Promise.all(out.map(async (t) => (await t.data()) as Float32Array))
  tf.dispose(out)
  return values
}

/**
 * A tiny resnet18d at 48x48, batch 2, trained with AdamW as the engine does (train.ts). 48 rather
 * than 32: at 32 the last stage is 1x1, so its batch norms see 2 values per channel and amplify
 * rounding ~1000-fold. lr 1e-4: Adam's first steps move every weight by about lr whatever its
 * gradient's size, so rounding flips the direction of weights whose gradient is ~0; at 1e-3 two
 * backends' losses part by 1e-2 within 3 steps, at 1e-4 they stay within ~3e-6.
 */
export const TINY = { size: 48, batch: 2, classes: 6, steps: 4, seed: 1086, hyper: { lr: 1e-4, weightDecay: 1e-2 } } as const

const tinyInput = (): Float32Array => wave(TINY.batch * TINY.size * TINY.size, 0.5).map((v) => 2 * v)
const tinyTarget = (): Float32Array => Float32Array.from({ length: TINY.batch * TINY.classes }, (_, i) => ((i % 3) + 0.5) / 9)
export const buildTiny = (): ResNet => buildResNet({ variant: "resnet18d", inChans: 1, numClasses: TINY.classes, width: 0.25 }, TINY.seed)

export interface TinyRun {
  readonly losses: ReadonlyArray<number>
  /** The first step's gradients, in `model.trainable` order. */
  readonly grads: ReadonlyArray<Float32Array>
  /** Every state_dict tensor after the steps (running stats and counters included). */
  readonly state: ReadonlyArray<Float32Array | Int32Array>
  /** Eval-mode logits of the batch after the steps. */
  readonly logits: Float32Array
}

/** `TINY.steps` training steps on the current backend, every value read asynchronously. */
export const trainTiny = async (): Promise<TinyRun> => {
  const model = buildTiny()
  const optimizer = new AdamW(model.trainable, TINY.hyper)
  const [x, y] = [tinyInput(), tinyTarget()]
  const losses: Array<number> = []
  let grads: ReadonlyArray<Float32Array> = []
  try {
    for (let step = 0; step < TINY.steps; step++) {
      const input = tf.tensor4d(x, [TINY.batch, TINY.size, TINY.size, 1])
      const target = tf.tensor2d(y, [TINY.batch, TINY.classes])
      const { value, grads: g } = tf.variableGrads(() => klDivLossWithLogits(model.forward(input, true), target), model.trainable as Array<tf.Variable>)
      const ordered = model.trainable.map((v) => g[v.name]!)
      if (step === 0) grads = await Promise.all(ordered.map(async (t) => (await t.data()) as Float32Array))
      optimizer.step(ordered)
      losses.push((await value.data())[0]!)
      tf.dispose([input, target, value, ...ordered])
    }
    const state = await Promise.all(model.tensors.map(async (t) => (await t.variable.data()) as Float32Array | Int32Array))
    return { losses, grads, state, logits: await tinyLogits(model) }
  } finally {
    optimizer.dispose()
    model.dispose()
  }
}

/** Eval-mode logits of the tiny batch. */
export const tinyLogits = async (model: ResNet): Promise<Float32Array> => {
  const logits = tf.tidy(() => model.forward(tf.tensor4d(tinyInput(), [TINY.batch, TINY.size, TINY.size, 1]), false))
  const values = (await logits.data()) as Float32Array
  logits.dispose()
  return values
}

/** Eval-mode logits of a tiny model holding `state`. */
export const tinyEvalWith = async (state: ReadonlyArray<Float32Array | Int32Array>): Promise<Float32Array> => {
  const model = buildTiny()
  try {
    model.tensors.forEach((t, i) => tf.tidy(() => t.variable.assign(tf.tensor(state[i]!, t.variable.shape, t.variable.dtype))))
    return await tinyLogits(model)
  } finally {
    model.dispose()
  }
}
