/**
 * cairn's oneDNN kernels, over the wasm backend ("wasm+onednn") and over TF.js' cpu backend
 * ("cpu+onednn"), against TF.js' cpu backend's own kernels and cairn's wasm kernels: the
 * three convolution ops on the shared random cases (strides 1/2, padding kinds, 1x1/3x3/7x7, batch 1
 * and odd sizes) with 1 and 2 oneDNN threads, dilated and fused (bias + ReLU) forwards, the
 * batch-norm reductions, max-pool's gradient and the fused AdamW step (the same bits as the JS
 * kernels and ops they replace), the reordered-filter cache (a new
 * filter of the same shape is never served the old one's layout), and a few training steps of a
 * small ResNet-D whose losses equal the wasm kernels' (1e-4). On cpu+onednn, also the element-wise
 * and pooling kernels that replace the cpu backend's JS ones (the same bits as those, at 1 and 2
 * threads, broadcasts included). Error measure for the convolutions: relative L2 error, at most 1e-5.
 *
 * Skips where the addon is not built here (no libdnnl); with CAIRN_REQUIRE_ONEDNN=1 (CI, which
 * installs libdnnl-dev) its absence fails instead.
 */
import * as tf from "@tensorflow/tfjs"
import "@tensorflow/tfjs-backend-wasm"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { AdamW, FUSED_ADAMW } from "../../../../src/ml/train/adamw.js"
import { resolveBackendPromise } from "../../../../src/ml/engines/tfjs/resolve-backend.js"
import { BATCH_NORM_BACKWARD, BATCH_NORM_GRAD_SUMS, CHANNEL_AFFINE, CHANNEL_MOMENTS } from "../../../../src/ml/engines/wasm/batch-norm.js"
import { klDivLossWithLogits } from "../../../../src/ml/train/loss.js"
import { loadOnednn } from "../../../../src/ml/engines/onednn/onednn-addon.js"
import { batchNorm, type BatchNormState } from "../../../../src/ml/model/ops.js"
import { buildResNet } from "../../../../src/ml/model/resnet.js"
import { CONV_CASES, normal, type Op, runConv } from "../conv-cases.js"
import { expectRelClose } from "../../model/ops-testing.js"

const TOL = 1e-5
const LOSS_TOL = 1e-4
const CPU_POOL_GRAD_TOL = 1e-6
const OPS: ReadonlyArray<Op> = ["forward", "backpropInput", "backpropFilter"]
const onednn = loadOnednn()
const required = process.env["CAIRN_REQUIRE_ONEDNN"] === "1"

const useWasm = () => resolveBackendPromise("wasm")
const ENGINES = ["wasm+onednn", "cpu+onednn"] as const

describe.runIf(required)("the oneDNN addon is required here (CAIRN_REQUIRE_ONEDNN=1)", () => {
  it("loads", () => {
    expect(onednn.available ? "available" : onednn.reason).toBe("available")
  })
})

for (const engine of ENGINES)
  describe.runIf(onednn.available)(`oneDNN kernels on ${engine}`, () => {
    const useOnednn = (threads = 1) => resolveBackendPromise(engine, { threads })
    /** The TF.js backend the engine runs over, and its own kernels (plain wasm / plain cpu) for the bit-exact references. */
    const host = engine === "cpu+onednn" ? "cpu" : "wasm"
    const useReference = () => resolveBackendPromise(host)
    const reference = new Map<string, Float32Array>()
    const wasm = new Map<string, Float32Array>()
    const key = (i: number, op: Op): string => `${i}/${op}`

    beforeAll(async () => {
      await tf.setBackend("cpu")
      CONV_CASES.forEach((c, i) => {
        for (const op of OPS) reference.set(key(i, op), runConv(c, op, 100 + i))
      })
      await useWasm()
      CONV_CASES.forEach((c, i) => {
        for (const op of OPS) wasm.set(key(i, op), runConv(c, op, 100 + i))
      })
    })

    afterAll(async () => {
      await useWasm()
    })

    for (const threads of [1, 2]) {
      it(`convolution forward, input and filter gradients match the cpu backend and the wasm kernels (${threads} thread${threads > 1 ? "s" : ""})`, async () => {
        const resolved = await useOnednn(threads)
        expect(resolved.detail).toContain("oneDNN")
        CONV_CASES.forEach((c, i) => {
          for (const op of OPS) {
            const actual = runConv(c, op, 100 + i)
            expectRelClose(actual, reference.get(key(i, op))!, TOL, `onednn ${op} case ${i} vs cpu ${JSON.stringify(c)}`)
            expectRelClose(actual, wasm.get(key(i, op))!, TOL, `onednn ${op} case ${i} vs wasm ${JSON.stringify(c)}`)
          }
        })
      })
    }

    const dilatedAndFused = (): Array<Float32Array> =>
      tf.tidy(() => {
        const x = tf.tensor4d(normal(1, 2 * 11 * 9 * 5), [2, 11, 9, 5])
        const filter = tf.tensor4d(normal(2, 3 * 3 * 5 * 7), [3, 3, 5, 7])
        const bias = tf.tensor1d(normal(3, 7))
        const dilated = tf.conv2d(x, filter, 1, "same", "NHWC", 2)
        const fusedRelu = tf.fused.conv2d({ x, filter, strides: 2, pad: "same", bias, activation: "relu" })
        const fusedLinear = tf.fused.conv2d({ x, filter, strides: 1, pad: "valid", bias })
        const fusedElu = tf.fused.conv2d({ x, filter, strides: 1, pad: "valid", bias, activation: "elu" })
        return [dilated, fusedRelu, fusedLinear, fusedElu].map((t) => t.dataSync() as Float32Array)
      })

    it("dilated and fused (bias + ReLU, bias only; other activations fall back) forwards match the cpu backend", async () => {
      await tf.setBackend("cpu")
      const expected = dilatedAndFused()
      await useOnednn()
      const actual = dilatedAndFused()
      ;["dilated", "fused relu", "fused linear", "fused elu"].forEach((what, i) => expectRelClose(actual[i]!, expected[i]!, TOL, what))
    })

    const batchNormSums = (): Array<Float32Array> =>
      tf.tidy(() => {
        const x = tf
          .tensor4d(normal(7, 3 * 5 * 7 * 19), [3, 5, 7, 19])
          .mul(3)
          .add(1)
        const g = tf.tensor4d(normal(8, 3 * 5 * 7 * 19), [3, 5, 7, 19])
        const moments = tf.engine().runKernel(CHANNEL_MOMENTS, { x }) as tf.Tensor
        const mean = moments.slice([0, 0], [1, 19]).reshape([19])
        const sums = tf.engine().runKernel(BATCH_NORM_GRAD_SUMS, { g, x, mean }) as tf.Tensor
        return [moments.dataSync() as Float32Array, sums.dataSync() as Float32Array]
      })

    it("batch-norm reductions give the same bits as the JS host kernels", async () => {
      await useReference()
      const expected = batchNormSums()
      await useOnednn()
      const actual = batchNormSums()
      expect(Array.from(actual[0]!)).toEqual(Array.from(expected[0]!))
      expect(Array.from(actual[1]!)).toEqual(Array.from(expected[1]!))
    })

    it("batch norm's apply steps (train forward and gradients, with and without ReLU; eval forward and gradient) give the composite ops' bits at 1 and 2 threads", async () => {
      // [2, 17, 23, 24] is above the addon's parallel threshold, [3, 5, 4, 7] below it.
      const shapes: ReadonlyArray<[number, number, number, number]> = [
        [2, 17, 23, 24],
        [3, 5, 4, 7],
      ]
      const run = (): Array<Float32Array> =>
        shapes.flatMap((shape, i) =>
          [true, false].flatMap((relu) =>
            [true, false].flatMap((training) =>
              tf.tidy(() => {
                const C = shape[3]
                const state: BatchNormState = {
                  weight: tf.tensor1d(normal(80 + i, C)),
                  bias: tf.tensor1d(normal(81 + i, C)),
                  runningMean: tf.variable(tf.tensor1d(normal(82 + i, C))),
                  runningVar: tf.variable(tf.tensor1d(normal(83 + i, C).map((v) => 0.5 + v * v))),
                  numBatchesTracked: tf.variable(tf.scalar(0, "int32")),
                }
                const x = tf.tensor4d(
                  normal(
                    84 + i,
                    shape.reduce((a, b) => a * b, 1),
                  ).map((v) => 3 * v + 1),
                  shape,
                )
                const dy = tf.randomNormal(shape, 0, 1, "float32", 85 + i)
                const f = (xi: tf.Tensor, w: tf.Tensor, b: tf.Tensor): tf.Scalar =>
                  tf.sum(tf.mul(batchNorm(xi, { ...state, weight: w as tf.Tensor1D, bias: b as tf.Tensor1D }, training, { relu }), dy))
                const y = batchNorm(x, state, training, { relu })
                const grads = tf.grads(f)([x, state.weight, state.bias])
                const out = [y, ...grads, state.runningMean, state.runningVar].map((t) => t.dataSync() as Float32Array)
                for (const v of [state.runningMean, state.runningVar, state.numBatchesTracked]) v.dispose()
                return out
              }),
            ),
          ),
        )
      await useReference()
      expect(tf.getKernel(CHANNEL_AFFINE, host)).toBeUndefined()
      expect(tf.getKernel(BATCH_NORM_BACKWARD, host)).toBeUndefined()
      const expected = run()
      for (const threads of [1, 2]) {
        await useOnednn(threads)
        expect(tf.getKernel(CHANNEL_AFFINE, host)).toBeDefined()
        expect(tf.getKernel(BATCH_NORM_BACKWARD, host)).toBeDefined()
        const actual = run()
        expected.forEach((e, i) => expect(Array.from(actual[i]!), `${threads} threads, output ${i}`).toEqual(Array.from(e)))
      }
    })

    it("max-pool's gradient gives the same bits as the JS host kernel (ties and padding included), the cpu backend's within 1e-6", async () => {
      const run = (): Array<Float32Array> =>
        [
          { x: [2, 9, 7, 5] as [number, number, number, number], k: 3, s: 2, pad: 1 as const, ties: false },
          { x: [2, 8, 8, 6] as [number, number, number, number], k: 3, s: 2, pad: 1 as const, ties: true },
          { x: [1, 7, 7, 3] as [number, number, number, number], k: 3, s: 1, pad: "same" as const, ties: false },
        ].map((c, i) =>
          tf.tidy(() => {
            let values = normal(
              40 + i,
              c.x.reduce((a, b) => a * b, 1),
            )
            if (c.ties) values = values.map((v) => Math.round(v))
            const x = tf.tensor4d(values, c.x)
            const dy = tf.randomNormal(tf.maxPool(x, c.k, c.s, c.pad).shape, 0, 1, "float32", 50 + i)
            return tf
              .grad((xi: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(xi as tf.Tensor4D, c.k, c.s, c.pad), dy)))(x)
              .dataSync() as Float32Array
          }),
        )
      await useWasm()
      const expected = run()
      await useOnednn()
      const actual = run()
      expected.forEach((e, i) => expect(Array.from(actual[i]!), `case ${i}`).toEqual(Array.from(e)))
      // TF.js' cpu kernel sums a pixel's terms in float64 (one rounding): within 1e-6 of the float32 sums.
      await resolveBackendPromise("cpu")
      run().forEach((e, i) => expectRelClose(actual[i]!, e, CPU_POOL_GRAD_TOL, `case ${i} vs the cpu backend`))
    })

    it("average pooling's gradient gives the wasm kernel's bits (tiling windows natively, overlapping ones fall back), the cpu backend's within 1e-6", async () => {
      const run = (): Array<Float32Array> =>
        [
          { x: [2, 8, 6, 5] as [number, number, number, number], k: 2, s: 2, pad: "valid" as const },
          { x: [2, 9, 7, 5] as [number, number, number, number], k: 2, s: 2, pad: "same" as const },
          { x: [1, 9, 10, 3] as [number, number, number, number], k: 3, s: 3, pad: "valid" as const },
          { x: [1, 9, 9, 3] as [number, number, number, number], k: 3, s: 2, pad: "same" as const },
        ].map((c, i) =>
          tf.tidy(() => {
            const x = tf.tensor4d(
              normal(
                140 + i,
                c.x.reduce((a, b) => a * b, 1),
              ),
              c.x,
            )
            const dy = tf.randomNormal(tf.avgPool(x, c.k, c.s, c.pad).shape, 0, 1, "float32", 150 + i)
            return tf
              .grad((xi: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(xi as tf.Tensor4D, c.k, c.s, c.pad), dy)))(x)
              .dataSync() as Float32Array
          }),
        )
      await useWasm()
      const expected = run()
      await useOnednn()
      const actual = run()
      // The overlapping case (3) falls back to the host's own kernel: on cpu+onednn, TF.js' cpu one.
      expected.forEach((e, i) => {
        if (i !== 3 || host === "wasm") expect(Array.from(actual[i]!), `case ${i}`).toEqual(Array.from(e))
      })
      // TF.js' cpu kernel sums a pixel's terms in float64 (one rounding): within 1e-6 of the float32 sums.
      await resolveBackendPromise("cpu")
      run().forEach((e, i) => expectRelClose(actual[i]!, e, CPU_POOL_GRAD_TOL, `case ${i} vs the cpu backend`))
    })

    it("the fused AdamW step gives the same bits as AdamW's element-wise ops, and is only there with the native kernels", async () => {
      const run = (): Array<Float32Array> => {
        const params = [tf.variable(tf.tensor2d(normal(60, 7 * 5), [7, 5])), tf.variable(tf.tensor1d(normal(61, 9)))]
        // beta1 0.3: the other lerp formula (|1 - beta1| >= 0.5) in one of the runs.
        const runs = [new AdamW(params, { lr: 3e-3, weightDecay: 0.05 }), new AdamW(params, { lr: 1e-2, beta1: 0.3, weightDecay: 0 })]
        for (const optimizer of runs) {
          for (let step = 0; step < 3; step++) {
            tf.tidy(() => optimizer.step(params.map((p, i) => tf.randomNormal(p.shape, 0, 1, "float32", 70 + 10 * step + i))))
          }
        }
        const out = params.flatMap((p, i) => [
          p.dataSync() as Float32Array,
          runs[0]!.state(i).expAvg.dataSync() as Float32Array,
          runs[1]!.state(i).expAvgSq.dataSync() as Float32Array,
        ])
        for (const o of runs) o.dispose()
        for (const p of params) p.dispose()
        return out
      }
      await useReference()
      expect(tf.getKernel(FUSED_ADAMW, host)).toBeUndefined()
      const expected = run()
      await useOnednn()
      expect(tf.getKernel(FUSED_ADAMW, host)).toBeDefined()
      const actual = run()
      expected.forEach((e, i) => expect(Array.from(actual[i]!), `tensor ${i}`).toEqual(Array.from(e)))
    })

    it.runIf(engine === "cpu+onednn")(
      "element-wise ops, pooling and the spatial mean give the cpu backend's own bits (broadcasts, NaN, -0; 1 and 2 threads), natively",
      async () => {
        // [2, 17, 23, 24] is above the addon's parallel threshold, [3, 5, 7, 11] above the native one only.
        const big: [number, number, number, number] = [2, 17, 23, 24]
        const special = (seed: number, n: number): Float32Array => {
          const v = normal(seed, n)
          for (let i = 0; i < n; i += 97) v[i] = [Number.NaN, -0, 0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY][(i / 97) % 5]!
          return v
        }
        const t = (seed: number, shape: Array<number>): tf.Tensor =>
          tf.tensor(
            special(
              seed,
              shape.reduce((a, b) => a * b, 1),
            ),
            shape,
          )
        const binaryCases: ReadonlyArray<[Array<number>, Array<number>]> = [
          [big, big],
          [big, [24]],
          [[24], big],
          [big, []],
          [[], big],
          [[2, 1, 1, 24], big],
          [big, [1, 17, 23, 1]],
          [
            [3, 5, 7, 11],
            [3, 5, 7, 11],
          ],
          [
            [3, 1, 7, 11],
            [3, 5, 1, 11],
          ],
        ]
        const poolCases = [
          { x: [2, 33, 31, 8], k: 3, s: 2, pad: 1 as const },
          { x: [2, 32, 30, 8], k: 2, s: 2, pad: "valid" as const },
          { x: [2, 33, 31, 8], k: 2, s: 2, pad: "same" as const },
          { x: [1, 30, 30, 16], k: 1, s: 2, pad: "valid" as const },
          { x: [1, 30, 30, 16], k: 1, s: 1, pad: "valid" as const },
        ]
        const run = (): Array<Float32Array> =>
          tf.tidy(() => {
            const out: Array<tf.Tensor> = []
            binaryCases.forEach(([sa, sb], i) => {
              const a = t(200 + i, sa)
              const b = t(300 + i, sb)
              out.push(tf.add(a, b), tf.sub(a, b), tf.mul(a, b))
            })
            const x = t(400, big)
            out.push(tf.relu(x), tf.step(x), tf.step(x, 0.3), tf.mean(x, [1, 2]), tf.mean(x, [1, 2], true))
            poolCases.forEach((c, i) => {
              const xp = t(500 + i, c.x) as tf.Tensor4D
              out.push(tf.maxPool(xp, c.k, c.s, c.pad), tf.avgPool(xp, c.k, c.s, c.pad))
            })
            return out.map((o) => o.dataSync() as Float32Array)
          })
        await useReference()
        const expected = run()
        const addon = onednn.available ? onednn.addon : undefined
        const calls = { binary: 0, broadcastBinary: 0, unary: 0, pool: 0, spatialMean: 0 }
        const originals = { ...addon! }
        for (const name of Object.keys(calls) as Array<keyof typeof calls>) {
          ;(addon as unknown as Record<string, unknown>)[name] = (...args: Array<unknown>) => {
            calls[name]++
            return (originals[name] as (...a: Array<unknown>) => unknown)(...args)
          }
        }
        try {
          for (const threads of [1, 2]) {
            await useOnednn(threads)
            const actual = run()
            expected.forEach((e, i) => expect(Array.from(actual[i]!), `${threads} threads, output ${i}`).toEqual(Array.from(e)))
          }
        } finally {
          Object.assign(addon!, originals)
        }
        // Every case but the 1x1 identity pools ran natively (twice: 1 and 2 threads).
        expect(calls).toEqual({ binary: 2 * 3 * 6, broadcastBinary: 2 * 3 * 3, unary: 2 * 3, pool: 2 * 2 * 4, spatialMean: 2 * 2 })
      },
    )

    it("a new filter of the same shape is never served an earlier filter's cached layout", async () => {
      const shape: [number, number, number, number] = [3, 3, 16, 32]
      const x = tf.tensor4d(normal(11, 2 * 8 * 8 * 16), [2, 8, 8, 16])
      const filters = [0, 1, 2].map((i) => normal(20 + i, 3 * 3 * 16 * 32))
      const run = (): Array<Float32Array> =>
        filters.map((values) =>
          tf.tidy(() => {
            const filter = tf.tensor4d(values, shape)
            // The same filter twice: the second forward hits the cache; both must be right.
            tf.conv2d(x, filter, 1, "same").dataSync()
            return tf.conv2d(x, filter, 1, "same").dataSync() as Float32Array
          }),
        )
      await tf.setBackend("cpu")
      const expected = run()
      await useOnednn()
      const actual = run()
      filters.forEach((_, i) => expectRelClose(actual[i]!, expected[i]!, TOL, `filter ${i}`))
      expect(onednn.available && onednn.addon.weightsCacheBytes()).toBeGreaterThan(0)
      x.dispose()
    })

    it("leaves no tensor behind", async () => {
      await useOnednn()
      const backend = tf.backend()
      const tensors = tf.memory().numTensors
      const buffers = backend.numDataIds()
      CONV_CASES.forEach((c, i) => {
        for (const op of OPS) runConv(c, op, 100 + i)
      })
      dilatedAndFused()
      batchNormSums()
      expect(tf.memory().numTensors).toBe(tensors)
      expect(backend.numDataIds()).toBe(buffers)
    })

    it("a few AdamW steps of a small ResNet-D give the wasm kernels' losses (1e-4)", async () => {
      const losses = (): Array<number> => {
        const model = buildResNet({ variant: "resnet18d", inChans: 1, numClasses: 6, width: 0.25 }, 5)
        const optimizer = new AdamW(model.trainable, { lr: 1e-3 })
        const x = tf.tensor4d(normal(30, 3 * 40 * 36), [3, 40, 36, 1])
        const target = tf.softmax(tf.tensor2d(normal(31, 3 * 6), [3, 6])) as tf.Tensor2D
        const trainable = model.trainable as Array<tf.Variable>
        const out: Array<number> = []
        for (let step = 0; step < 4; step++) {
          out.push(
            tf.tidy(() => {
              const { value, grads } = tf.variableGrads(() => klDivLossWithLogits(model.forward(x, true), target), trainable)
              optimizer.step(trainable.map((v) => grads[v.name]))
              return value.dataSync()[0]!
            }),
          )
        }
        optimizer.dispose()
        model.dispose()
        x.dispose()
        target.dispose()
        return out
      }
      await useWasm()
      const expected = losses()
      await useOnednn(2)
      const actual = losses()
      expect(actual).toHaveLength(expected.length)
      actual.forEach((loss, i) =>
        expect(Math.abs(loss - expected[i]!), `step ${i}: ${loss} vs ${expected[i]}`).toBeLessThanOrEqual(LOSS_TOL * Math.abs(expected[i]!)),
      )
      // The steps moved the model: the test would notice a kernel that returned its input.
      expect(expected[3]).not.toBe(expected[0])
    })
  })
