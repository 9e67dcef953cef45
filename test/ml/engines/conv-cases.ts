/**
 * Convolution cases shared by the kernel tests (wasm kernels, oneDNN kernels): 1x1, 3x3, 7x7;
 * stride 1 and 2; same / valid / explicit (symmetric and not) / numeric padding; odd sizes, batch 1
 * and > 1, channel counts that are not multiples of 4; feature maps large enough for the
 * image-by-image filter gradient. `runConv` runs one op of one case on the current backend.
 */
import * as tf from "@tensorflow/tfjs"
import { RandomState } from "../../../src/data/random-state.js"

export type Pad = "same" | "valid" | number | [[number, number], [number, number], [number, number], [number, number]]

export interface ConvCase {
  readonly x: [number, number, number, number]
  readonly k: number
  readonly cout: number
  readonly stride: number
  readonly pad: Pad
}

const explicit = (t: number, b: number, l: number, r: number): Pad => [
  [0, 0],
  [t, b],
  [l, r],
  [0, 0],
]

export const CONV_CASES: ReadonlyArray<ConvCase> = [
  { x: [2, 9, 7, 5], k: 3, cout: 6, stride: 1, pad: "same" },
  { x: [2, 9, 7, 5], k: 3, cout: 6, stride: 2, pad: "same" },
  { x: [3, 9, 8, 3], k: 3, cout: 7, stride: 2, pad: "valid" },
  { x: [3, 8, 8, 3], k: 1, cout: 7, stride: 1, pad: "valid" },
  { x: [3, 7, 9, 3], k: 1, cout: 5, stride: 2, pad: "valid" },
  { x: [2, 11, 10, 3], k: 7, cout: 5, stride: 2, pad: explicit(3, 3, 3, 3) },
  { x: [2, 10, 10, 6], k: 3, cout: 4, stride: 2, pad: explicit(1, 1, 1, 1) },
  { x: [2, 9, 11, 6], k: 3, cout: 4, stride: 2, pad: explicit(1, 1, 1, 1) },
  { x: [1, 5, 6, 2], k: 3, cout: 3, stride: 1, pad: explicit(0, 2, 1, 0) },
  { x: [1, 6, 6, 3], k: 3, cout: 2, stride: 2, pad: explicit(0, 3, 2, 0) },
  { x: [2, 9, 9, 4], k: 3, cout: 5, stride: 1, pad: 1 },
  { x: [2, 4, 4, 37], k: 3, cout: 19, stride: 1, pad: 1 },
  { x: [4, 5, 5, 13], k: 7, cout: 9, stride: 1, pad: 3 },
  // >= DW_IMAGE_CHUNK_MIN_ROWS output pixels per image: the filter gradient reduces image by image.
  { x: [2, 33, 32, 3], k: 3, cout: 5, stride: 1, pad: "same" },
  { x: [3, 64, 66, 2], k: 3, cout: 3, stride: 2, pad: explicit(1, 1, 1, 1) },
  { x: [2, 32, 33, 4], k: 1, cout: 6, stride: 1, pad: "valid" },
]

/** Values of a standard normal draw (the same on every backend). */
export const normal = (seed: number, n: number): Float32Array => {
  const rs = new RandomState(seed)
  return Float32Array.from({ length: n }, () => rs.standardNormal())
}

export type Op = "forward" | "backpropInput" | "backpropFilter"

/** Runs one op of one case on the current backend and returns its values. */
export function runConv(c: ConvCase, op: Op, seed: number): Float32Array {
  return tf.tidy(() => {
    const [n, h, w, cin] = c.x
    const x = tf.tensor4d(normal(seed, n * h * w * cin), c.x)
    const filter = tf.tensor4d(normal(seed + 1, c.k * c.k * cin * c.cout), [c.k, c.k, cin, c.cout])
    const yShape = tf.conv2d(x, filter, c.stride, c.pad).shape
    const dy = tf.tensor4d(
      normal(
        seed + 2,
        yShape.reduce((a, b) => a * b, 1),
      ),
      yShape,
    )
    let out: tf.Tensor
    if (op === "forward") out = tf.conv2d(x, filter, c.stride, c.pad)
    else if (op === "backpropInput") out = tf.conv2dTranspose(dy, filter, c.x, c.stride, c.pad)
    else {
      const attrs = { strides: [c.stride, c.stride], pad: c.pad, dataFormat: "NHWC", filterShape: filter.shape }
      out = tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor
    }
    return out.dataSync() as Float32Array
  })
}
