import * as fs from "node:fs"
import * as tf from "@tensorflow/tfjs"
import { beforeAll, describe, expect, it } from "vitest"
import {
  crossEntropyMean,
  crossEntropyWithLogits,
  klDivBatchmean,
  klDivLossWithLogits,
  logSoftmaxRows,
  softmaxRows,
  ValidationLoss,
} from "../../../src/ml/train/loss.js"

// Golden values from test/golden/gen_metric_loss.py: torch.nn.KLDivLoss(reduction="batchmean") on
// log_softmax(logits) in float32, its gradient w.r.t. the logits, and the validation loss over 301 rows.
const LOSS_LOGITS = [
  2.7860381603240967, -1.1601622104644775, 0.7912277579307556, 4.196285247802734, -0.6912767291069031, -0.7686165571212769, 1.003714919090271,
  -1.0492122173309326, -0.029020609334111214, -1.0560979843139648, -1.6255486011505127, 1.747671127319336, -0.7986968755722046, -2.078545093536377,
  -0.622930645942688, -0.32945337891578674, 0.5648564100265503, 1.8538223505020142, 3.5470874309539795, -2.5345571041107178, -0.5513103008270264,
  -3.747144937515259, 0.3879058063030243, 0.9965659379959106, -1.393289566040039, -1.9278795719146729, -2.090430974960327, -3.1206774711608887,
  1.189659833908081, 3.775996446609497, -2.406252384185791, 3.2064950466156006, -0.3385714590549469, -2.931959867477417, 1.0240073204040527, 1.415682315826416,
  0.6725136041641235, -0.6579813361167908, 3.2498891353607178, -0.7113404273986816, 1.148581624031067, 1.1746152639389038,
]
const LOSS_TARGETS = [
  0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1428571492433548, 0.1428571492433548,
  0.4285714328289032, 0.2857142984867096, 0.0, 0.0, 0.0, 0.5, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.4000000059604645, 0.0, 0.6000000238418579, 0.0, 0.0,
  0.0,
]
const LOSS = 2.597486972808838
const LOSS_GRAD = [
  0.0268942192196846, 0.0005198115250095725, 0.0036586748901754618, 0.11018474400043488, 0.0008307688985951245, -0.14208820462226868, -0.10514649003744125,
  0.0048404885455966, 0.013426187448203564, 0.004807272460311651, 0.0027201289776712656, 0.07935241609811783, -0.1364130973815918, 0.001791959861293435,
  0.00768234021961689, 0.010302653536200523, 0.025196660310029984, 0.09143947809934616, 0.12530620396137238, 0.0002862515684682876, -0.018328174948692322,
  -0.020323025062680244, -0.05590393394231796, -0.031037312000989914, 0.0007468208204954863, 0.00043756928062066436, 0.00037192183663137257, -0.071295827627182,
  0.009885010309517384, 0.05985451117157936, 0.00039685791125521064, 0.10869768261909485, 0.003137743566185236, 0.0002345973625779152, -0.13060033321380615,
  0.018133440986275673, -0.0491795539855957, 0.0021050714422017336, 0.01910310983657837, 0.0019956910982728004, 0.012818795628845692, 0.013156894594430923,
]

const golden = JSON.parse(fs.readFileSync(new URL("../../fixtures/ml/metric-golden.json", import.meta.url), "utf8")) as {
  readonly rand_votes: ReadonlyArray<number>
  readonly rand_logits: ReadonlyArray<number>
  readonly val_loss: number
}

beforeAll(async () => {
  await tf.setBackend("cpu")
})

describe("klDivLossWithLogits", () => {
  it("matches torch's value and gradient (zero targets included)", () => {
    const logits = tf.tensor2d(LOSS_LOGITS, [7, 6])
    const targets = tf.tensor2d(LOSS_TARGETS, [7, 6])
    expect(LOSS_TARGETS.some((t) => t === 0)).toBe(true)
    const { value, grads } = tf.valueAndGrads((x: tf.Tensor) => klDivLossWithLogits(x as tf.Tensor2D, targets))([logits])
    expect(Math.abs(value.dataSync()[0]! - LOSS)).toBeLessThan(1e-6 * LOSS)
    const g = grads[0]!.dataSync()
    LOSS_GRAD.forEach((e, i) => expect(Math.abs(g[i]! - e)).toBeLessThan(1e-7))
    tf.dispose([logits, targets, value, ...grads])
  })
})

describe("cross-entropy", () => {
  // CE = KL - sum(t log t) / B with the same gradient: checked against torch's KL golden.
  const entropyTerm = LOSS_TARGETS.reduce((acc, t) => (t > 0 ? acc + t * Math.log(t) : acc), 0) / 7

  it("matches torch's KL golden shifted by the targets' entropy, with the same gradient", () => {
    const logits = tf.tensor2d(LOSS_LOGITS, [7, 6])
    const targets = tf.tensor2d(LOSS_TARGETS, [7, 6])
    const { value, grads } = tf.valueAndGrads((x: tf.Tensor) => crossEntropyWithLogits(x as tf.Tensor2D, targets))([logits])
    const expected = LOSS - entropyTerm
    expect(Math.abs(value.dataSync()[0]! - expected)).toBeLessThan(2e-6 * expected)
    const g = grads[0]!.dataSync()
    LOSS_GRAD.forEach((e, i) => expect(Math.abs(g[i]! - e)).toBeLessThan(1e-7))
    tf.dispose([logits, targets, value, ...grads])
  })

  it("over a set (float64 inside) agrees, and ValidationLoss computes it over every batch", () => {
    const logits = Float32Array.from(LOSS_LOGITS)
    const targets = Float32Array.from(LOSS_TARGETS)
    const whole = crossEntropyMean(logSoftmaxRows(logits, 6), targets, 6)
    expect(Math.abs(whole - (LOSS - entropyTerm))).toBeLessThan(2e-6 * whole)
    const val = new ValidationLoss("cross-entropy", 6)
    val.add(logits.subarray(0, 18), targets.subarray(0, 18))
    val.add(logits.subarray(18), targets.subarray(18))
    expect(val.compute()).toBe(whole)
  })
})

describe("ValidationLoss (kl)", () => {
  it("computes the batchmean over the whole validation set, batch by batch", () => {
    const rows = golden.rand_votes.length / 6
    const y = new Float32Array(rows * 6)
    for (let r = 0; r < rows; r++) {
      let s = 0
      for (let c = 0; c < 6; c++) s += golden.rand_votes[r * 6 + c]!
      for (let c = 0; c < 6; c++) y[r * 6 + c] = golden.rand_votes[r * 6 + c]! / s
    }
    const logits = Float32Array.from(golden.rand_logits)
    const val = new ValidationLoss("kl", 6)
    // uneven batches: 32, 32, ..., remainder (drop_last=False)
    for (let start = 0; start < rows; start += 32) {
      const end = Math.min(rows, start + 32)
      val.add(logits.subarray(start * 6, end * 6), y.subarray(start * 6, end * 6))
    }
    const loss = val.compute()
    expect(Math.abs(loss - golden.val_loss)).toBeLessThan(2e-7 * golden.val_loss)
    // a mean of batch means is different (the last batch has 13 rows): the test can tell them apart
    const batchMeans: Array<number> = []
    for (let start = 0; start < rows; start += 32) {
      const end = Math.min(rows, start + 32)
      batchMeans.push(klDivBatchmean(logSoftmaxRows(logits.subarray(start * 6, end * 6), 6), y.subarray(start * 6, end * 6), 6))
    }
    const meanOfMeans = batchMeans.reduce((a, b) => a + b, 0) / batchMeans.length
    expect(Math.abs(meanOfMeans - golden.val_loss)).toBeGreaterThan(1e-4)
    // and compute() resets
    val.add(logits.subarray(0, 6), y.subarray(0, 6))
    expect(val.compute()).toBe(klDivBatchmean(logSoftmaxRows(logits.subarray(0, 6), 6), y.subarray(0, 6), 6))
  })

  it("softmax rows sum to one and agree with exp(logSoftmax)", () => {
    const logits = Float32Array.from(LOSS_LOGITS)
    const p = softmaxRows(logits, 6)
    const lp = logSoftmaxRows(logits, 6)
    for (let r = 0; r < 7; r++) {
      let s = 0
      for (let c = 0; c < 6; c++) {
        s += p[r * 6 + c]!
        expect(Math.abs(Math.exp(lp[r * 6 + c]!) - p[r * 6 + c]!)).toBeLessThan(1e-6)
      }
      expect(Math.abs(s - 1)).toBeLessThan(1e-6)
    }
  })
})
