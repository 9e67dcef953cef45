/**
 * The training losses (see `LossName`), as PyTorch computes them on logits:
 *
 * - "kl": `nn.KLDivLoss(reduction="batchmean")` applied to `log_softmax(logits, dim=1)`. torch
 *   computes, per element, `xlogy(t, t) - t * logp` (0 * log 0 = 0 where the target is 0) and then
 *   `sum / batch_size`.
 * - "cross-entropy": `nn.CrossEntropyLoss()` with probability targets: `-sum(t * logp) / batch_size`.
 *
 * Only `logp` depends on the model, so for both the gradient w.r.t. the logits is
 * `(softmax * sum(t) - t) / B` — TF.js derives it from `logSoftmax`.
 *
 * - `TRAINING_LOSSES`: the loss of one batch, a differentiable TF.js scalar.
 * - `ValidationLoss`: log-probabilities of every batch are kept, concatenated, and the loss is
 *   computed once over the whole validation set in float64 (so it is the mean over rows, not a
 *   mean of batch means).
 */
import * as tf from "@tensorflow/tfjs"
import type { LossName } from "./loss-name.js"

export { LOSS_NAMES, type LossName } from "./loss-name.js"

/** Batchmean KL divergence of `target` from `softmax(logits)`; differentiable w.r.t. `logits`. */
export const klDivLossWithLogits = (logits: tf.Tensor2D, target: tf.Tensor2D): tf.Scalar =>
  tf.tidy(() => {
    const batch = logits.shape[0]
    const logp = tf.logSoftmax(logits, 1)
    // xlogy(t, t): t * log(t) where t > 0, else 0 (log of 1 there, so no NaN even in the unused branch)
    const safe = tf.where(tf.greater(target, 0), target, tf.onesLike(target))
    const entropyTerm = tf.mul(target, tf.log(safe))
    const pointwise = tf.sub(entropyTerm, tf.mul(target, logp))
    return tf.div(tf.sum(pointwise), tf.scalar(batch)) as tf.Scalar
  })

/** Mean cross-entropy of `softmax(logits)` against probability targets; differentiable w.r.t. `logits`. */
export const crossEntropyWithLogits = (logits: tf.Tensor2D, target: tf.Tensor2D): tf.Scalar =>
  tf.tidy(() => {
    const batch = logits.shape[0]
    const logp = tf.logSoftmax(logits, 1)
    return tf.div(tf.neg(tf.sum(tf.mul(target, logp))), tf.scalar(batch)) as tf.Scalar
  })

/** Each loss of one training batch, from logits and targets. */
export const TRAINING_LOSSES: Readonly<Record<LossName, (logits: tf.Tensor2D, target: tf.Tensor2D) => tf.Scalar>> = {
  kl: klDivLossWithLogits,
  "cross-entropy": crossEntropyWithLogits,
}

/**
 * Batchmean KL over row-major `[rows, classes]` arrays of log-probabilities and targets, accumulated
 * in float64 and returned as the float32 value torch's `.item()` would give.
 */
export const klDivBatchmean = (logProbs: Float32Array, targets: Float32Array, classes: number): number => {
  if (logProbs.length !== targets.length || logProbs.length % classes !== 0) {
    throw new RangeError(`klDivBatchmean: ${logProbs.length} log-probs, ${targets.length} targets, ${classes} classes`)
  }
  const rows = logProbs.length / classes
  if (rows === 0) return Number.NaN
  let sum = 0
  for (let i = 0; i < logProbs.length; i++) {
    const t = targets[i]!
    if (t === 0) continue
    sum += t * Math.log(t) - t * logProbs[i]!
  }
  return Math.fround(sum / rows)
}

/**
 * Mean cross-entropy over row-major `[rows, classes]` arrays of log-probabilities and probability
 * targets, accumulated in float64 and returned as the float32 value torch's `.item()` would give.
 */
export const crossEntropyMean = (logProbs: Float32Array, targets: Float32Array, classes: number): number => {
  if (logProbs.length !== targets.length || logProbs.length % classes !== 0) {
    throw new RangeError(`crossEntropyMean: ${logProbs.length} log-probs, ${targets.length} targets, ${classes} classes`)
  }
  const rows = logProbs.length / classes
  if (rows === 0) return Number.NaN
  let sum = 0
  for (let i = 0; i < logProbs.length; i++) {
    const t = targets[i]!
    if (t !== 0) sum -= t * logProbs[i]!
  }
  return Math.fround(sum / rows)
}

/** Each loss over a whole set, from log-probabilities and targets (row-major, float64 inside). */
export const SET_LOSSES: Readonly<Record<LossName, (logProbs: Float32Array, targets: Float32Array, classes: number) => number>> = {
  kl: klDivBatchmean,
  "cross-entropy": crossEntropyMean,
}

/** Row-wise log-softmax of row-major `[rows, classes]` logits, in float64 then rounded to float32. */
export const logSoftmaxRows = (logits: Float32Array, classes: number): Float32Array => {
  const out = new Float32Array(logits.length)
  for (let o = 0; o < logits.length; o += classes) {
    let max = -Infinity
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[o + c]!)
    let s = 0
    for (let c = 0; c < classes; c++) s += Math.exp(logits[o + c]! - max)
    const lse = max + Math.log(s)
    for (let c = 0; c < classes; c++) out[o + c] = logits[o + c]! - lse
  }
  return out
}

/** Row-wise softmax of row-major `[rows, classes]` logits (float64 inside, float32 out). */
export const softmaxRows = (logits: Float32Array, classes: number): Float32Array => {
  const out = new Float32Array(logits.length)
  for (let o = 0; o < logits.length; o += classes) {
    let max = -Infinity
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[o + c]!)
    let s = 0
    for (let c = 0; c < classes; c++) s += Math.exp(logits[o + c]! - max)
    for (let c = 0; c < classes; c++) out[o + c] = Math.exp(logits[o + c]! - max) / s
  }
  return out
}

/**
 * A validation loss (PyTorch's `KLDivLossWithLogitsForVal` pattern): accumulate batches, compute
 * once over all of them.
 */
export class ValidationLoss {
  private logProbs: Array<Float32Array> = []
  private labels: Array<Float32Array> = []

  constructor(
    readonly loss: LossName,
    readonly classes: number,
  ) {}

  /** Adds one batch of row-major `[rows, classes]` logits and targets. */
  add(logits: Float32Array, targets: Float32Array): void {
    if (logits.length !== targets.length || logits.length % this.classes !== 0) {
      throw new RangeError(`ValidationLoss.add: ${logits.length} logits, ${targets.length} targets`)
    }
    this.logProbs.push(logSoftmaxRows(logits, this.classes))
    this.labels.push(Float32Array.from(targets))
  }

  /** The loss over every row added since the last `compute`, then resets. */
  compute(): number {
    const logProbs = concat(this.logProbs)
    const labels = concat(this.labels)
    this.logProbs = []
    this.labels = []
    return SET_LOSSES[this.loss](logProbs, labels, this.classes)
  }
}

const concat = (parts: ReadonlyArray<Float32Array>): Float32Array => {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}
