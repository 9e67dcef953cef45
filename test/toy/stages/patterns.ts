/**
 * The toy task's data: 16x16 three-channel images of one of three stripe orientations (horizontal,
 * vertical, diagonal; random phase), each channel the pattern at its own gain plus Gaussian noise.
 * Deterministic in the seed (numpy's RandomState).
 */
import { RandomState } from "cairn/data"

export const TOY_CLASSES = ["horizontal", "vertical", "diagonal"] as const
export const TOY_SIZE = 16
export const TOY_CHANNELS = 3
/** Stripes are STRIPE_PERIOD pixels apart, half of them bright. */
const STRIPE_PERIOD = 4
/** Each channel's gain of the pattern. */
const CHANNEL_GAINS: ReadonlyArray<number> = [1, 0.5, -0.75]
const NOISE_STD = 0.8

export interface ToyImage {
  /** `(C, H, W)` C-ordered. */
  readonly data: Float32Array
  readonly label: number
}

const stripe = (label: number, y: number, x: number, phase: number): number => {
  const t = label === 0 ? y : label === 1 ? x : x + y
  return (t + phase) % STRIPE_PERIOD < STRIPE_PERIOD / 2 ? 1 : -1
}

/** `n` images, classes in turn. */
export const toyImages = (n: number, seed: number): ReadonlyArray<ToyImage> => {
  const rs = new RandomState(seed)
  return Array.from({ length: n }, (_, i) => {
    const label = i % TOY_CLASSES.length
    const phase = Math.floor(rs.randomSample() * STRIPE_PERIOD)
    const data = new Float32Array(TOY_CHANNELS * TOY_SIZE * TOY_SIZE)
    CHANNEL_GAINS.forEach((gain, c) => {
      for (let y = 0; y < TOY_SIZE; y++) {
        for (let x = 0; x < TOY_SIZE; x++) data[(c * TOY_SIZE + y) * TOY_SIZE + x] = gain * stripe(label, y, x, phase) + NOISE_STD * rs.standardNormal()
      }
    })
    return { data, label }
  })
}

/** One-hot rows for `labels`. */
export const oneHot = (labels: ReadonlyArray<number>): Float32Array => {
  const out = new Float32Array(labels.length * TOY_CLASSES.length)
  labels.forEach((label, i) => (out[i * TOY_CLASSES.length + label] = 1))
  return out
}

/** The fraction of rows whose argmax is the label. */
export const accuracy = (probabilities: ArrayLike<number>, labels: ReadonlyArray<number>): number => {
  const k = TOY_CLASSES.length
  let right = 0
  labels.forEach((label, i) => {
    let best = 0
    for (let c = 1; c < k; c++) if (probabilities[i * k + c]! > probabilities[i * k + best]!) best = c
    if (best === label) right++
  })
  return labels.length === 0 ? 0 : right / labels.length
}
