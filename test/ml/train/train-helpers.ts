/**
 * Test helpers for the training engine: a synthetic windows dataset with a learnable class signal,
 * and a tiny linear model implementing `TrainableModel` (for loop logic that must not depend on the
 * ResNet's numerics).
 */
import * as tf from "@tensorflow/tfjs"
import { RandomState } from "../../../src/data/random-state.js"
import { memoryWindow, type WindowDataset } from "../../../src/ml/input/window-dataset.js"
import type { NamedTensor, ResNetConfig } from "../../../src/ml/model/resnet.js"
import type { TrainableModel } from "../../../src/ml/model/model-config.js"

export const SYN_CLASSES = 6
export const SYN_HEIGHT = 48
export const SYN_WIDTH = 36
const BAND = SYN_HEIGHT / SYN_CLASSES
/** Probability mass on the true class; the rest is spread evenly. */
const MAIN_MASS = 0.75

/**
 * `n` windows (SYN_HEIGHT x SYN_WIDTH, positive "power" values): window i belongs to class
 * `i % SYN_CLASSES` and has a bright horizontal band at that class's rows; soft labels.
 */
export const syntheticDataset = (n: number, seed: number, offset = 0): WindowDataset => {
  const rs = new RandomState(seed)
  const windows = []
  const labels = new Float32Array(n * SYN_CLASSES)
  for (let i = 0; i < n; i++) {
    const k = (i + offset) % SYN_CLASSES
    const data = new Float32Array(SYN_HEIGHT * SYN_WIDTH)
    for (let y = 0; y < SYN_HEIGHT; y++) {
      const band = Math.floor(y / BAND) === k
      for (let x = 0; x < SYN_WIDTH; x++) {
        const noise = Math.exp(rs.standardNormal())
        data[y * SYN_WIDTH + x] = band ? 50 * noise : noise
      }
    }
    windows.push(memoryWindow(`syn-${i}`, { data, height: SYN_HEIGHT, width: SYN_WIDTH, order: "C" }))
    for (let c = 0; c < SYN_CLASSES; c++) labels[i * SYN_CLASSES + c] = c === k ? MAIN_MASS : (1 - MAIN_MASS) / (SYN_CLASSES - 1)
  }
  return { windows, labels, classes: SYN_CLASSES }
}

/**
 * A model whose logits do not depend on its parameter values at all (the parameter enters times 0):
 * gradients are zero, AdamW leaves it unchanged (weight decay 0), so every epoch's validation loss
 * is identical — for testing early stopping and "strictly lower" bookkeeping.
 */
export const frozenModel = (config: ResNetConfig): TrainableModel => {
  const weight = tf.variable(tf.zeros([1, config.numClasses]), true)
  const bias = tf.variable(tf.zeros([config.numClasses]), true)
  const tensors: Array<NamedTensor> = [
    { name: "fc.weight", kind: "param", variable: weight, layout: "linear", torchShape: [config.numClasses, 1] },
    { name: "fc.bias", kind: "param", variable: bias, layout: "vector", torchShape: [config.numClasses] },
  ]
  return {
    config,
    tensors,
    trainable: [weight, bias],
    forward: (x: tf.Tensor4D) =>
      tf.tidy(() => {
        const feature = tf.mean(x, [1, 2]) as tf.Tensor2D // [B, 1]
        const classIndex = tf.range(0, config.numClasses).expandDims(0)
        const fixed = tf.mul(feature, classIndex) as tf.Tensor2D
        return tf.add(fixed, tf.mul(tf.add(tf.matMul(feature, weight), bias), 0)) as tf.Tensor2D
      }),
    dispose: () => {
      weight.dispose()
      bias.dispose()
    },
  }
}
