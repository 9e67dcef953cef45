/**
 * Helpers shared by the ops / kernels / resnet tests: deterministic inputs drawn exactly as the
 * Python golden generators draw them, layout conversion, and the error measure.
 */
import * as tf from "@tensorflow/tfjs"
import { expect } from "vitest"
import { RandomState } from "../../../src/data/random-state.js"

/**
 * float32(standard_normal(n) * scale + offset) from numpy's legacy RandomState(seed), in the order
 * numpy draws them (the generators' `draw`).
 */
export function draw(seed: number, n: number, scale = 1, offset = 0): Float32Array {
  const rs = new RandomState(seed)
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) out[i] = rs.standardNormal() * scale + offset
  return out
}

const size = (shape: ReadonlyArray<number>): number => shape.reduce((a, b) => a * b, 1)

/** NCHW-ordered values -> NHWC tensor. */
export function nchwTensor(values: Float32Array, [n, c, h, w]: ReadonlyArray<number>): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(values, [n!, c!, h!, w!]), [0, 2, 3, 1]))
}

/** An NCHW-shaped draw as an NHWC tensor. */
export const drawNhwc = (seed: number, nchw: ReadonlyArray<number>, scale = 1, offset = 0): tf.Tensor4D =>
  nchwTensor(draw(seed, size(nchw), scale, offset), nchw)

/** An OIHW-shaped draw as an HWIO filter. */
export const drawHwio = (seed: number, oihw: ReadonlyArray<number>, scale = 1): tf.Tensor4D =>
  tf.tidy(() => tf.transpose(tf.tensor4d(draw(seed, size(oihw), scale), oihw as [number, number, number, number]), [2, 3, 1, 0]))

/**
 * The error measure of all numeric tests: relative L2 error ||a - b|| / ||b|| (b the reference),
 * accumulated in float64.
 */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let num = 0
  let den = 0
  for (let i = 0; i < expected.length; i++) {
    const d = actual[i]! - expected[i]!
    num += d * d
    den += expected[i]! * expected[i]!
  }
  return Math.sqrt(num / Math.max(den, Number.MIN_VALUE))
}

/** Same length and relative L2 error at most `tol`. */
export function expectRelClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = ""): void {
  expect(actual.length, `${what}: length`).toBe(expected.length)
  const err = relativeError(actual, expected)
  expect(err, `${what}: relative L2 error`).toBeLessThanOrEqual(tol)
}
