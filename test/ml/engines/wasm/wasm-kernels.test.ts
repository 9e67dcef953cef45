/**
 * cairn's wasm training kernels against TF.js' cpu backend on random cases: Conv2D,
 * Conv2DBackpropInput and Conv2DBackpropFilter on both paths ("xnnpack" and "gemm", forced with
 * setConvStrategy) and the automatic choice, MaxPoolGrad, and the batch-norm host kernels. Error
 * measure: relative L2 error ||wasm - cpu|| / ||cpu|| accumulated in float64, at most 1e-5.
 */
import * as tf from "@tensorflow/tfjs"
import "@tensorflow/tfjs-backend-wasm"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { BATCH_NORM_GRAD_SUMS, CHANNEL_MOMENTS } from "../../../../src/ml/engines/wasm/batch-norm.js"
import { type ConvGeometry, DW_IMAGE_CHUNK_MIN_ROWS, transpose2d } from "../../../../src/ml/engines/wasm/conv.js"
import { planConv, registerWasmTrainingKernels, setConvStrategy } from "../../../../src/ml/engines/wasm/wasm-kernels.js"
import { CONV_CASES, normal, type Op, runConv } from "../conv-cases.js"
import { expectRelClose } from "../../model/ops-testing.js"

const TOL = 1e-5

/** The cpu backend's answer for every case and op, computed once. */
const reference = new Map<string, Float32Array>()
const key = (i: number, op: Op): string => `${i}/${op}`

beforeAll(async () => {
  registerWasmTrainingKernels()
  await tf.setBackend("cpu")
  CONV_CASES.forEach((c, i) => {
    for (const op of ["forward", "backpropInput", "backpropFilter"] as const) reference.set(key(i, op), runConv(c, op, 100 + i))
  })
  await tf.setBackend("wasm")
  await tf.ready()
})

afterAll(() => {
  setConvStrategy({})
})

describe("wasm convolution kernels match the cpu backend", () => {
  for (const path of ["xnnpack", "gemm", "auto"] as const) {
    it(`${path} path: forward, input gradient and filter gradient on ${CONV_CASES.length} cases`, () => {
      setConvStrategy(path === "auto" ? {} : { forward: path, backpropInput: path, backpropFilter: path })
      try {
        CONV_CASES.forEach((c, i) => {
          for (const op of ["forward", "backpropInput", "backpropFilter"] as const) {
            expectRelClose(runConv(c, op, 100 + i), reference.get(key(i, op))!, TOL, `${path} ${op} case ${i} ${JSON.stringify(c)}`)
          }
        })
      } finally {
        setConvStrategy({})
      }
    })
  }

  it("the replaced kernels are the ones registered for wasm, and registration is idempotent", () => {
    const before = tf.getKernel("Conv2DBackpropFilter", "wasm")!.kernelFunc
    registerWasmTrainingKernels()
    expect(tf.getKernel("Conv2DBackpropFilter", "wasm")!.kernelFunc).toBe(before)
    expect(tf.getKernel("Conv2DBackpropInput", "wasm")).toBeDefined()
    expect(tf.getKernel("MaxPoolGrad", "wasm")).toBeDefined()
    expect(tf.getKernel(CHANNEL_MOMENTS, "wasm")).toBeDefined()
  })

  it("leaves no scratch tensor behind (engine and wasm backend)", () => {
    const backend = tf.backend()
    const tensors = tf.memory().numTensors
    const buffers = backend.numDataIds()
    try {
      for (const path of ["xnnpack", "gemm"] as const) {
        setConvStrategy({ forward: path, backpropInput: path, backpropFilter: path })
        CONV_CASES.forEach((c, i) => {
          for (const op of ["forward", "backpropInput", "backpropFilter"] as const) runConv(c, op, 100 + i)
        })
      }
    } finally {
      setConvStrategy({})
    }
    expect(tf.memory().numTensors).toBe(tensors)
    expect(backend.numDataIds()).toBe(buffers)
  })

  it("the cost rule sends wide, spatially small layers to the GEMM path and large feature maps to XNNPACK", () => {
    const g = (size: number, cin: number, cout: number, k: number, stride: number): ConvGeometry => {
      const out = Math.ceil(size / stride)
      const p = Math.floor(k / 2)
      return {
        batch: 8,
        inHeight: size,
        inWidth: size,
        inChannels: cin,
        outHeight: out,
        outWidth: out,
        outChannels: cout,
        filterHeight: k,
        filterWidth: k,
        strideHeight: stride,
        strideWidth: stride,
        padTop: p,
        padLeft: p,
        padBottom: p,
        padRight: p,
      }
    }
    expect(planConv("forward", g(4, 512, 512, 3, 1))).toBe("gemm")
    expect(planConv("backpropInput", g(4, 512, 512, 3, 1))).toBe("gemm")
    expect(planConv("forward", g(64, 32, 64, 3, 1))).toBe("xnnpack")
    expect(planConv("backpropInput", g(64, 32, 64, 3, 1))).toBe("xnnpack")
    expect(planConv("forward", g(16, 64, 128, 1, 1))).toBe("gemm")
    expect(planConv("backpropFilter", g(64, 32, 64, 3, 1))).toBe("gemm")
    const previous = setConvStrategy({ backpropFilter: "xnnpack" })
    expect(planConv("backpropFilter", g(64, 32, 64, 3, 1))).toBe("xnnpack")
    setConvStrategy(previous)
  })

  it("the test cases include image-by-image filter gradients", () => {
    expect(CONV_CASES.some((c) => c.x[0] > 1 && Math.ceil(c.x[1] / c.stride) * Math.ceil(c.x[2] / c.stride) >= DW_IMAGE_CHUNK_MIN_ROWS)).toBe(true)
  })

  it("transpose2d transposes non-square, non-tile-multiple matrices", () => {
    const rows = 37
    const cols = 70
    const src = normal(5, rows * cols)
    const dst = new Float32Array(rows * cols)
    transpose2d(src, dst, rows, cols)
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) expect(dst[c * rows + r]).toBe(src[r * cols + c])
  })
})

describe("MaxPoolGrad host kernel", () => {
  const cases: ReadonlyArray<{ x: [number, number, number, number]; k: number; s: number; pad: "same" | "valid" | number; ties: boolean }> = [
    { x: [2, 8, 8, 5], k: 3, s: 2, pad: 1, ties: false },
    { x: [2, 7, 9, 3], k: 3, s: 2, pad: 1, ties: false },
    { x: [1, 6, 6, 4], k: 2, s: 2, pad: "valid", ties: false },
    { x: [2, 7, 7, 3], k: 3, s: 1, pad: "same", ties: false },
    { x: [2, 8, 8, 6], k: 3, s: 2, pad: 1, ties: true },
  ]
  const run = (c: (typeof cases)[number], seed: number): Float32Array =>
    tf.tidy(() => {
      let values = normal(
        seed,
        c.x.reduce((a, b) => a * b, 1),
      )
      // Ties: few distinct values, so most windows hold several equal maxima.
      if (c.ties) values = values.map((v) => Math.round(v))
      const x = tf.tensor4d(values, c.x)
      const yShape = tf.maxPool(x, c.k, c.s, c.pad).shape
      const dy = tf.tensor4d(
        normal(
          seed + 1,
          yShape.reduce((a, b) => a * b, 1),
        ),
        yShape,
      )
      return tf
        .grad((xi: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(xi as tf.Tensor4D, c.k, c.s, c.pad), dy)))(x)
        .dataSync() as Float32Array
    })

  it("routes dy to the first maximum of each window, as the cpu backend (ties included)", async () => {
    await tf.setBackend("cpu")
    const expected = cases.map((c, i) => run(c, 300 + i))
    await tf.setBackend("wasm")
    cases.forEach((c, i) => {
      const actual = run(c, 300 + i)
      expectRelClose(actual, expected[i]!, TOL, `maxPoolGrad ${JSON.stringify(c)}`)
      // With ties, the same element of each window receives dy: the non-zero positions coincide
      // (values may differ in the last bit where windows overlap and sums run in another order).
      if (c.ties) expect(Array.from(actual, (v) => v !== 0)).toEqual(Array.from(expected[i]!, (v) => v !== 0))
    })
  })
})

describe("batch-norm host kernels", () => {
  const C = 7
  const shape: [number, number, number, number] = [3, 5, 4, C]
  const n = shape.reduce((a, b) => a * b, 1)

  it("moments and gradient sums match composite ops", () => {
    tf.tidy(() => {
      // A large common offset: float64 accumulation keeps the variance exact where float32 E[x^2] - mean^2 would not.
      const x = tf.add(tf.tensor4d(normal(1, n), shape), 100)
      const g = tf.tensor4d(normal(2, n), shape)
      const mean = tf.tensor1d(normal(4, C))
      const run = (name: string, inputs: Record<string, tf.Tensor>) => tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, {}) as tf.Tensor

      const moments = run(CHANNEL_MOMENTS, { x }).arraySync() as Array<Array<number>>
      const ref = tf.moments(tf.sub(x, 100), [0, 1, 2])
      expectRelClose(
        moments[0]!.map((v) => v - 100),
        ref.mean.dataSync(),
        1e-4,
        "mean",
      )
      expectRelClose(moments[1]!, ref.variance.dataSync(), TOL, "variance")

      const sums = run(BATCH_NORM_GRAD_SUMS, { g, x, mean }).arraySync() as Array<Array<number>>
      expectRelClose(sums[0]!, tf.sum(g, [0, 1, 2]).dataSync(), TOL, "sum(g)")
      expectRelClose(sums[1]!, tf.sum(tf.mul(g, tf.sub(x, mean)), [0, 1, 2]).dataSync(), TOL, "sum(g(x-m))")
    })
  })

  it("run on the cpu backend too", async () => {
    await tf.setBackend("cpu")
    try {
      const x = tf.tensor4d(normal(1, n), shape)
      const stats = tf.engine().runKernel(CHANNEL_MOMENTS, { x } as unknown as tf.NamedTensorMap, {}) as tf.Tensor
      expectRelClose(stats.dataSync().slice(0, C), tf.moments(x, [0, 1, 2]).mean.dataSync(), 1e-5, "cpu mean")
      tf.dispose([x, stats])
    } finally {
      await tf.setBackend("wasm")
    }
  })
})
