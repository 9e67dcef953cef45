/**
 * The backward pass that frees as it goes (src/ml/train/freeing-backward.ts) against TF.js' own: the same
 * loss and gradients bit for bit on a ResNet-D training step (batch norm's custom gradient, fused
 * ReLU, residual adds, pooling) and on tapes where one tensor feeds several ops or a gradient is
 * handed on unchanged; fewer bytes held at the peak; nothing left behind.
 */
import * as tf from "@tensorflow/tfjs"
import { beforeAll, describe, expect, it } from "vitest"
import { resolveBackendPromise } from "../../../src/ml/engines/tfjs/resolve-backend.js"
import { tfjsGradients } from "../../../src/ml/train/freeing-backward.js"
import { klDivLossWithLogits } from "../../../src/ml/train/loss.js"
import { buildResNet } from "../../../src/ml/model/resnet.js"

beforeAll(async () => {
  // Installs the freeing pass (every backend gets it).
  await resolveBackendPromise("wasm")
})

const values = (ts: ReadonlyArray<tf.Tensor>) => ts.map((t) => Array.from(t.dataSync()))

describe("the freeing backward pass", () => {
  it("gives TF.js' loss and gradients, bit for bit, on a ResNet-D training step, holding fewer bytes at its peak", async () => {
    const model = buildResNet({ variant: "resnet18d", inChans: 1, numClasses: 6 }, 3)
    const vars = model.trainable as Array<tf.Variable>
    const x = tf.randomNormal([2, 32, 32, 1], 0, 1, "float32", 5) as tf.Tensor4D
    const target = tf.softmax(tf.randomNormal([2, 6], 0, 1, "float32", 6)) as tf.Tensor2D
    const loss = () => klDivLossWithLogits(model.forward(x, true), target)
    // The running stats move with every training-mode forward: each pass starts from the same ones.
    const stats = model.tensors.map((t) => t.variable).filter((v) => !vars.includes(v))
    const start = stats.map((s) => s.clone())
    const reset = () => stats.forEach((s, i) => s.assign(start[i]!))

    let theirsPeak = 0
    let theirs: { value: number[]; grads: number[][] } | undefined
    const before = tf.memory().numTensors
    const p1 = await tf.profile(() => {
      const r = tfjsGradients(loss, vars)
      theirs = { value: Array.from(r.value.dataSync()), grads: values(r.grads) }
      tf.dispose([r.value, ...r.grads])
    })
    theirsPeak = p1.peakBytes
    expect(tf.memory().numTensors).toBe(before)
    reset()
    let ours: { value: number[]; grads: number[][] } | undefined
    const p2 = await tf.profile(() => {
      const r = tf.variableGrads(loss, vars)
      ours = { value: Array.from(r.value.dataSync()), grads: values(vars.map((v) => r.grads[v.name]!)) }
      tf.dispose([r.value, ...Object.values(r.grads)])
    })
    expect(tf.memory().numTensors).toBe(before)
    expect(ours!.value).toEqual(theirs!.value)
    expect(ours!.grads).toEqual(theirs!.grads)
    expect(p2.peakBytes).toBeLessThan(theirsPeak * 0.9)
    tf.dispose(start)
    model.dispose()
  })

  it("sums the gradients of a tensor used several times, and one handed on unchanged, as TF.js does", () => {
    const a = tf.variable(tf.tensor1d([0.5, -1.5, 2]))
    const b = tf.variable(tf.tensor1d([3, 0.25, -1]))
    // Its gradient is dy itself, the same tensor.
    const passOn = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
      const [v] = args as [tf.Tensor]
      return { value: tf.clone(v), gradFunc: (g: tf.Tensor) => [g] }
    })
    const f = () =>
      tf.tidy(() => {
        const s = tf.mul(a, b)
        const t = tf.add(s, passOn(s) as tf.Tensor)
        // `a` three times, `t` twice, `s` twice (once through passOn).
        return tf.sum(tf.mul(tf.add(t, tf.relu(tf.mul(t, a))), tf.sin(a))) as tf.Scalar
      })
    const before = tf.memory().numTensors
    const theirs = tfjsGradients(f, [a, b])
    const ours = tf.variableGrads(f, [a, b])
    expect(Array.from(ours.value.dataSync())).toEqual(Array.from(theirs.value.dataSync()))
    expect(values([ours.grads[a.name]!, ours.grads[b.name]!])).toEqual(values(theirs.grads))
    tf.dispose([theirs.value, ...theirs.grads, ours.value, ...Object.values(ours.grads)])
    expect(tf.memory().numTensors).toBe(before)
    tf.dispose([a, b])
  })

  it("keeps the caller's dy, and custom gradients work", () => {
    const x = tf.tensor1d([1, 2, 3])
    const dy = tf.tensor1d([1, 10, 100])
    const square = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
      const [v, save] = args as [tf.Tensor, tf.GradSaveFunc]
      save([v])
      return { value: tf.square(v), gradFunc: (g: tf.Tensor, saved: Array<tf.Tensor>) => [tf.mul(g, tf.mul(saved[0]!, 2))] }
    })
    const { value, grads } = tf.engine().gradients(() => square(x) as tf.Tensor, [x], dy)
    expect(Array.from(grads[0]!.dataSync())).toEqual([2, 40, 600])
    expect(dy.isDisposed).toBe(false)
    tf.dispose([value, ...grads, x, dy])
  })
})
