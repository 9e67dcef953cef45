/**
 * ops.ts against PyTorch: outputs and gradients of loss = sum(y * r), golden values from
 * test/golden/gen_ml_ops.py (inputs are redrawn here from the same RandomState seeds). Error measure:
 * relative L2 error ||a - b|| / ||b|| (see ops-testing.ts), at most 1e-5. Runs on the wasm backend
 * (with cairn's kernels) and on the cpu backend (host kernels), plus the composite fallback.
 */
import * as tf from "@tensorflow/tfjs"
import "@tensorflow/tfjs-backend-wasm"
import { beforeAll, describe, expect, it } from "vitest"
import { BATCH_NORM_KERNELS } from "../../../src/ml/engines/wasm/batch-norm.js"
import {
  addRelu,
  avgPool2x2Ceil,
  BATCH_NORM_EPS,
  BATCH_NORM_MOMENTUM,
  batchNorm,
  BatchNormTooFewValues,
  conv2d,
  globalAvgPool,
  linear,
  maxPool2d,
  OpShapeError,
  registerHostKernels,
} from "../../../src/ml/model/ops.js"
import { registerWasmTrainingKernels } from "../../../src/ml/engines/wasm/wasm-kernels.js"
import { OPS_GOLDEN } from "./ops-golden.js"
import { draw, drawHwio, drawNhwc, expectRelClose } from "./ops-testing.js"

const TOL = 1e-5

const sizeOf = (shape: ReadonlyArray<number>): number => shape.reduce((a, b) => a * b, 1)

/** The cotangent r of a golden case, drawn in NCHW for an NHWC output of shape `nchw`. */
const cotangent = (seed: number, nchw: ReadonlyArray<number>): tf.Tensor4D => drawNhwc(seed, nchw)

function checkConvCases(): void {
  for (const c of OPS_GOLDEN.conv) {
    tf.tidy(() => {
      const x = drawNhwc(c.seed, c.x)
      const w = drawHwio(c.seed + 100, c.w, 0.3)
      const r = cotangent(c.seed + 200, c.yShape)
      const f = (xi: tf.Tensor, wi: tf.Tensor) => tf.sum(tf.mul(conv2d(xi as tf.Tensor4D, wi as tf.Tensor4D, c.stride, c.padding), r))
      const y = conv2d(x, w, c.stride, c.padding)
      expect(y.shape).toEqual([c.yShape[0], c.yShape[2], c.yShape[3], c.yShape[1]])
      expectRelClose(y.dataSync(), c.y, TOL, `${c.name} y`)
      const [dx, dw] = tf.grads(f)([x, w])
      expectRelClose(dx!.dataSync(), c.dx, TOL, `${c.name} dx`)
      expectRelClose(dw!.dataSync(), c.dw, TOL, `${c.name} dw`)
    })
  }
}

function checkBatchNormCases(): void {
  for (const c of OPS_GOLDEN.batchNorm) {
    const [, C] = c.x as [number, number, number, number]
    const x = drawNhwc(c.seed, c.x, 2, 0.5)
    const weight = tf.tensor1d(draw(c.seed + 1, C!, 0.5, 1))
    const bias = tf.tensor1d(draw(c.seed + 2, C!, 0.5))
    const runningMean = tf.tidy(() => tf.variable(tf.tensor1d(draw(c.seed + 3, C!, 0.3)), false))
    const runningVar = tf.tidy(() => tf.variable(tf.abs(tf.tensor1d(draw(c.seed + 4, C!, 0.2, 1))) as tf.Tensor1D, false))
    const numBatchesTracked = tf.tidy(() => tf.variable(tf.scalar(0, "int32"), false))
    const stateWith = (w: tf.Tensor, b: tf.Tensor) => ({ weight: w as tf.Tensor1D, bias: b as tf.Tensor1D, runningMean, runningVar, numBatchesTracked })
    const yShape = [c.x[0]!, c.x[2]!, c.x[3]!, C!]
    const r = tf.tidy(() => tf.transpose(tf.tensor4d(draw(c.seed + 5, sizeOf(c.x)), c.x as [number, number, number, number]), [0, 2, 3, 1]))

    const yEval = batchNorm(x, stateWith(weight, bias), false, { relu: c.relu })
    expect(yEval.shape).toEqual(yShape)
    expectRelClose(yEval.dataSync(), c.yEval, TOL, `${c.name} eval y`)
    expect(numBatchesTracked.dataSync()[0]).toBe(0)

    const y = batchNorm(x, stateWith(weight, bias), true, { relu: c.relu })
    expectRelClose(y.dataSync(), c.y, TOL, `${c.name} train y`)
    expectRelClose(runningMean.dataSync(), c.runningMean, TOL, `${c.name} running_mean`)
    expectRelClose(runningVar.dataSync(), c.runningVar, TOL, `${c.name} running_var`)
    expect(numBatchesTracked.dataSync()[0]).toBe(c.numBatchesTracked)

    const f = (xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(batchNorm(xi, stateWith(wi, bi), true, { relu: c.relu }), r))
    const [dx, dw, db] = tf.grads(f)([x, weight, bias])
    expectRelClose(dx!.dataSync(), c.dx, TOL, `${c.name} dx`)
    expectRelClose(dw!.dataSync(), c.dweight, TOL, `${c.name} dweight`)
    expectRelClose(db!.dataSync(), c.dbias, TOL, `${c.name} dbias`)
    // The gradient call ran a second training forward: running stats moved again, counter is 2.
    expect(numBatchesTracked.dataSync()[0]).toBe(2)
    tf.dispose([x, weight, bias, runningMean, runningVar, numBatchesTracked, yEval, y, r, dx!, dw!, db!])
  }
}

function checkPools(): void {
  for (const c of OPS_GOLDEN.maxPool) {
    tf.tidy(() => {
      let x = drawNhwc(c.seed, c.x)
      if (c.negative) x = tf.sub(tf.neg(tf.abs(x)), 1) as tf.Tensor4D
      const r = cotangent(c.seed + 200, c.yShape)
      const y = maxPool2d(x, 3, 2, 1)
      expectRelClose(y.dataSync(), c.y, TOL, `maxPool ${c.name} y`)
      const dx = tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(maxPool2d(xi as tf.Tensor4D, 3, 2, 1), r)))(x)
      expectRelClose(dx.dataSync(), c.dx, TOL, `maxPool ${c.name} dx`)
    })
  }
  for (const c of OPS_GOLDEN.avgPool) {
    tf.tidy(() => {
      const x = drawNhwc(c.seed, c.x)
      const r = cotangent(c.seed + 200, c.yShape)
      const y = avgPool2x2Ceil(x)
      expect(y.shape).toEqual([c.yShape[0], c.yShape[2], c.yShape[3], c.yShape[1]])
      expectRelClose(y.dataSync(), c.y, TOL, `avgPool ${c.name} y`)
      const dx = tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(avgPool2x2Ceil(xi as tf.Tensor4D), r)))(x)
      expectRelClose(dx.dataSync(), c.dx, TOL, `avgPool ${c.name} dx`)
    })
  }
}

function checkHead(): void {
  tf.tidy(() => {
    const g = OPS_GOLDEN.globalAvgPool
    const x = drawNhwc(g.seed, g.x)
    const r = tf.tensor2d(draw(g.seed + 200, g.x[0]! * g.x[1]!), [g.x[0]!, g.x[1]!])
    expectRelClose(globalAvgPool(x).dataSync(), g.y, TOL, "globalAvgPool y")
    const dx = tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(globalAvgPool(xi as tf.Tensor4D), r)))(x)
    expectRelClose(dx.dataSync(), g.dx, TOL, "globalAvgPool dx")
  })
  tf.tidy(() => {
    const l = OPS_GOLDEN.linear
    const [sx, sw, sb, sr] = l.seeds as [number, number, number, number]
    const x = tf.tensor2d(draw(sx, 4 * 7), [4, 7])
    const w = tf.transpose(tf.tensor2d(draw(sw, 5 * 7, 0.4), [5, 7])) as tf.Tensor2D
    const b = tf.tensor1d(draw(sb, 5))
    const r = tf.tensor2d(draw(sr, 4 * 5), [4, 5])
    expectRelClose(linear(x, w, b).dataSync(), l.y, TOL, "linear y")
    const [dx, dw, db] = tf.grads((xi: tf.Tensor, wi: tf.Tensor, bi: tf.Tensor) =>
      tf.sum(tf.mul(linear(xi as tf.Tensor2D, wi as tf.Tensor2D, bi as tf.Tensor1D), r)),
    )([x, w, b])
    expectRelClose(dx!.dataSync(), l.dx, TOL, "linear dx")
    expectRelClose(dw!.dataSync(), l.dw, TOL, "linear dw")
    expectRelClose(db!.dataSync(), l.db, TOL, "linear db")
  })
}

beforeAll(() => {
  registerWasmTrainingKernels()
})

for (const backend of ["wasm", "cpu"] as const) {
  describe(`ops on the ${backend} backend match PyTorch`, () => {
    beforeAll(async () => {
      await tf.setBackend(backend)
      await tf.ready()
    })

    it("conv2d pads symmetrically (PyTorch), outputs and gradients", () => {
      checkConvCases()
    })

    it("batchNorm: eval and train outputs, running stats (unbiased var), counter, hand-written gradients", () => {
      checkBatchNormCases()
    })

    it("maxPool2d treats padding as -inf; avgPool2x2Ceil averages partial windows alone", () => {
      checkPools()
    })

    it("globalAvgPool and linear", () => {
      checkHead()
    })

    it("does not leak tensors", () => {
      const before = tf.memory().numTensors
      checkConvCases()
      checkPools()
      checkHead()
      checkBatchNormCases()
      expect(tf.memory().numTensors).toBe(before)
    })
  })
}

describe("batchNorm details", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu")
  })

  it("falls back to composite TF.js ops where the host kernels are not registered", () => {
    for (const { name } of BATCH_NORM_KERNELS) tf.unregisterKernel(name, "cpu")
    try {
      expect(tf.getKernel(BATCH_NORM_KERNELS[0]!.name, "cpu")).toBeUndefined()
      checkBatchNormCases()
    } finally {
      registerHostKernels()
    }
    expect(tf.getKernel(BATCH_NORM_KERNELS[0]!.name, "cpu")).toBeDefined()
  })

  it("rejects a training batch with one value per channel, naming the shape", () => {
    const state = {
      weight: tf.ones([3]) as tf.Tensor1D,
      bias: tf.zeros([3]) as tf.Tensor1D,
      runningMean: tf.variable(tf.zeros([3]) as tf.Tensor1D, false),
      runningVar: tf.variable(tf.ones([3]) as tf.Tensor1D, false),
      numBatchesTracked: tf.variable(tf.scalar(0, "int32"), false),
    }
    const x = tf.ones([1, 1, 1, 3])
    expect(() => batchNorm(x, state, true)).toThrow(BatchNormTooFewValues)
    expect(() => batchNorm(x, state, true)).toThrow("[1, 1, 1, 3]")
    // eval mode has no such limit
    expect(batchNorm(x, state, false).shape).toEqual([1, 1, 1, 3])
  })

  it("uses PyTorch's defaults", () => {
    expect(BATCH_NORM_MOMENTUM).toBe(0.1)
    expect(BATCH_NORM_EPS).toBe(1e-5)
  })
})

describe("addRelu (a residual block's output)", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu")
  })

  it("has the values and gradients of relu(add) bit for bit, and keeps only its output for the gradient", () => {
    const a = tf.tensor4d(draw(11, 72), [2, 3, 3, 4])
    const b = tf.tensor4d(draw(12, 72), [2, 3, 3, 4])
    const r = tf.tensor4d(draw(13, 72), [2, 3, 3, 4])
    const loss = (f: (x: tf.Tensor4D, y: tf.Tensor4D) => tf.Tensor) => (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(f(x as tf.Tensor4D, y as tf.Tensor4D), r))
    const [ownA, ownB] = tf.grads(loss((x, y) => tf.relu(tf.add(x, y))))([a, b])
    const [fusedA, fusedB] = tf.grads(loss(addRelu))([a, b])
    expect(Array.from(addRelu(a, b).dataSync())).toEqual(Array.from(tf.relu(tf.add(a, b)).dataSync()))
    expect(Array.from(fusedA!.dataSync())).toEqual(Array.from(ownA!.dataSync()))
    expect(Array.from(fusedB!.dataSync())).toEqual(Array.from(ownB!.dataSync()))

    // What the tape keeps for the backward pass: neither input (TF.js' Add saves both).
    const tape = (tf.engine() as unknown as { state: { activeTape: Array<{ saved?: Array<tf.Tensor> }> | null } }).state
    let savedIds: Array<object> = []
    tf.grads((x: tf.Tensor, y: tf.Tensor) => {
      const start = tape.activeTape!.length
      const out = addRelu(x as tf.Tensor4D, y as tf.Tensor4D)
      savedIds = tape.activeTape!.slice(start).flatMap((node) => (node.saved ?? []).map((t) => t.dataId))
      return tf.sum(out)
    })([a, b])
    expect(savedIds.length).toBeGreaterThan(0)
    expect(savedIds).not.toContain(a.dataId)
    expect(savedIds).not.toContain(b.dataId)
  })

  it("rejects inputs of different shapes, naming both", () => {
    expect(() => addRelu(tf.zeros([1, 2, 2, 3]), tf.zeros([1, 2, 2, 1]))).toThrow(OpShapeError)
    expect(() => addRelu(tf.zeros([1, 2, 2, 3]), tf.zeros([1, 2, 2, 1]))).toThrow("[1, 2, 2, 1]")
  })
})
