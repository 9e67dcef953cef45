/**
 * The seed's losses: `nn.KLDivLoss(reduction="batchmean")` applied to `log_softmax(logits, dim=1)`.
 *
 * torch computes, per element, `xlogy(t, t) - t * logp` (0 * log 0 = 0 where the target is 0) and
 * then `sum / batch_size`. Only `logp` depends on the model, so the gradient w.r.t. the logits is
 * `(softmax * sum(t) - t) / B` — TF.js derives it from `logSoftmax`.
 *
 * - `klDivLossWithLogits`: the training loss of one batch, a differentiable TF.js scalar.
 * - `KlDivLossWithLogitsForVal`: the validation loss: log-probabilities of every batch are kept,
 *   concatenated, and the batchmean KL is computed once over the whole validation set (so it is the
 *   mean over rows, not a mean of batch means).
 */
import * as tf from "@tensorflow/tfjs"

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

/** The seed's `KLDivLossWithLogitsForVal`: accumulate batches, compute once over all of them. */
export class KlDivLossWithLogitsForVal {
  private logProbs: Array<Float32Array> = []
  private labels: Array<Float32Array> = []

  constructor(readonly classes: number) {}

  /** Adds one batch of row-major `[rows, classes]` logits and targets. */
  add(logits: Float32Array, targets: Float32Array): void {
    if (logits.length !== targets.length || logits.length % this.classes !== 0) {
      throw new RangeError(`KlDivLossWithLogitsForVal.add: ${logits.length} logits, ${targets.length} targets`)
    }
    this.logProbs.push(logSoftmaxRows(logits, this.classes))
    this.labels.push(Float32Array.from(targets))
  }

  /** The batchmean KL over every row added since the last `compute`, then resets (like the seed). */
  compute(): number {
    const logProbs = concat(this.logProbs)
    const labels = concat(this.labels)
    this.logProbs = []
    this.labels = []
    return klDivBatchmean(logProbs, labels, this.classes)
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
