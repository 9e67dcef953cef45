import { describe, expect, it } from "vitest"
import { Either } from "effect"
import { makeSchedule, OneCycleSchedule, oneCycleConfig } from "../../../src/ml/train/schedule.js"

// Golden values from test/golden/gen_optim.py (torch 2.13 OneCycleLR driving AdamW).
const SEED_INDEX = [0, 1, 2, 100, 277, 278, 1000, 1250, 2000, 2500, 2501]
const SEED_LR = [
  0.0009999996452620958, 0.0009999985810489429, 0.000999996807362219, 0.0009963861655132285, 0.0009728616793536588, 0.0009726680928278972,
  0.0006889501671079049, 0.00055, 0.00018614172724902594, 0.00010000035473790411, 0.0001,
]
const SEED_BETA1 = [
  0.8500000394153227, 0.8500001576612285, 0.8500003547375312, 0.8504015371651968, 0.8530153689607045, 0.853036878574678, 0.8845610925435661, 0.8999999999999999,
  0.9404286969723304, 0.9499999605846773, 0.95,
]
const SEED_AFTER_LAST = 0.00010000035473790411
const SMALL_LR = [
  0.0009846666218300806, 0.0009397114317029975, 0.0008681980515339464, 0.0007750000000000001, 0.0006664685702961343, 0.00055, 0.0004335314297038656,
  0.0003250000000000001, 0.00023180194846605365, 0.00016028856829700258, 0.00011533337816991932, 0.0001,
]
const SMALL_BETA1 = [
  0.8517037086855466, 0.856698729810778, 0.8646446609406726, 0.875, 0.8870590477448739, 0.8999999999999999, 0.912940952255126, 0.9249999999999999,
  0.9353553390593273, 0.9433012701892219, 0.9482962913144534, 0.95,
]
const SMALL_AFTER_LAST = 0.00011533337816991921
const WARMUP_LR = [
  0.0009999999999999992, 0.0055, 0.01, 0.009505339495172583, 0.008119331560284375, 0.00611649206511179, 0.0038935079348882103, 0.0018906684397156264,
  0.0005046605048274169, 1e-5,
]
const WARMUP_BETA1 = [
  0.95, 0.8999999999999999, 0.85, 0.854951556604879, 0.8688255099070633, 0.8888739533021842, 0.9111260466978157, 0.9311744900929366, 0.945048443395121, 0.95,
]
const LINEAR3_LR = [0.001, 0.007, 0.007, 0.0009999999999999992, 0.000835, 0.00067, 0.000505, 0.00034, 0.00017500000000000003, 1.0000000000000026e-5]
const LINEAR3_BETA1 = [0.95, 0.8833333333333333, 0.8833333333333333, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95]
const LINEAR3_AFTER_LAST = -0.00015499999999999997

const make = (config: Parameters<typeof oneCycleConfig>[0], overrides: Parameters<typeof oneCycleConfig>[1] = {}) =>
  Either.getOrThrow(OneCycleSchedule.make(oneCycleConfig(config, overrides)))

/** Relative agreement to a few ulps of float64 (Math.cos vs libm). */
const close = (actual: number, expected: number): void => {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(1e-14 * Math.max(Math.abs(expected), 1e-300))
}

describe("OneCycleSchedule", () => {
  it("matches torch for the seed's config (9 epochs x 278 steps, pct_start 0)", () => {
    const s = make({ maxLr: 1e-3, epochs: 9, stepsPerEpoch: 278 }, { pctStart: 0.0, divFactor: 25, finalDivFactor: 0.4 })
    expect(s.totalSteps).toBe(2502)
    SEED_INDEX.forEach((step, k) => {
      const v = s.at(step)
      close(v.lr, SEED_LR[k]!)
      close(v.beta1!, SEED_BETA1[k]!)
    })
    // step 0 is already 1/total into the annealing phase: not max_lr
    expect(s.at(0).lr).toBeLessThan(1e-3)
    // the last optimizer step uses max_lr / div / final_div exactly
    expect(s.at(2501).lr).toBe(SEED_LR[SEED_LR.length - 1])
    close(s.at(2502).lr, SEED_AFTER_LAST)
  })

  it("matches torch's full sequence for a small config", () => {
    const s = make({ maxLr: 1e-3, epochs: 3, stepsPerEpoch: 4 }, { pctStart: 0.0, divFactor: 25, finalDivFactor: 0.4 })
    const lrs = s.lrs()
    expect(lrs.length).toBe(SMALL_LR.length)
    SMALL_LR.forEach((lr, i) => close(lrs[i]!, lr))
    SMALL_BETA1.forEach((b, i) => close(s.at(i).beta1!, b))
    close(s.at(12).lr, SMALL_AFTER_LAST)
  })

  it("matches torch with a warm-up phase (pct_start 0.3) and three linear phases", () => {
    const w = make({ maxLr: 0.01, epochs: 2, stepsPerEpoch: 5 }, { pctStart: 0.3, divFactor: 10, finalDivFactor: 100 })
    WARMUP_LR.forEach((lr, i) => close(w.at(i).lr, lr))
    WARMUP_BETA1.forEach((b, i) => close(w.at(i).beta1!, b))
    const l = make(
      { maxLr: 0.01, epochs: 2, stepsPerEpoch: 5 },
      { pctStart: 0.25, divFactor: 10, finalDivFactor: 100, annealStrategy: "linear", threePhase: true },
    )
    LINEAR3_LR.forEach((lr, i) => close(l.at(i).lr, lr))
    LINEAR3_BETA1.forEach((b, i) => close(l.at(i).beta1!, b))
    close(l.at(10).lr, LINEAR3_AFTER_LAST)
  })

  it("leaves beta1 alone without cycle_momentum, and refuses to step past the end", () => {
    const s = make({ maxLr: 1e-3, epochs: 1, stepsPerEpoch: 3 }, { cycleMomentum: false })
    expect(s.at(1).beta1).toBeUndefined()
    expect(() => s.at(4)).toThrow(RangeError)
    expect(() => s.at(-1)).toThrow(RangeError)
  })

  it("rejects bad configs with a tagged error naming the field", () => {
    const bad = OneCycleSchedule.make(oneCycleConfig({ maxLr: 1e-3, epochs: 0, stepsPerEpoch: 3 }))
    expect(Either.isLeft(bad)).toBe(true)
    if (Either.isLeft(bad)) {
      expect(bad.left._tag).toBe("TrainConfigError")
      expect(bad.left.message).toContain("epochs=0")
    }
    const pct = OneCycleSchedule.make(oneCycleConfig({ maxLr: 1e-3, epochs: 1, stepsPerEpoch: 3 }, { pctStart: 1.5 }))
    expect(Either.isLeft(pct) && pct.left.message.includes("pctStart")).toBe(true)
  })
})

describe("makeSchedule", () => {
  it("builds OneCycle with torch's defaults for what is not given, or a constant lr", () => {
    const run = { lr: 1e-3, epochs: 2, stepsPerEpoch: 5 }
    const oneCycle = Either.getOrThrow(makeSchedule({ kind: "one-cycle", pctStart: 0, finalDivFactor: 0.4 }, run))
    const direct = Either.getOrThrow(OneCycleSchedule.make(oneCycleConfig({ maxLr: 1e-3, epochs: 2, stepsPerEpoch: 5 }, { pctStart: 0, finalDivFactor: 0.4 })))
    for (let i = 0; i <= 10; i++) expect(oneCycle.at(i)).toEqual(direct.at(i))
    const constant = Either.getOrThrow(makeSchedule({ kind: "constant" }, run))
    for (let i = 0; i <= 10; i++) expect(constant.at(i)).toEqual({ lr: 1e-3, beta1: undefined })
    expect(() => constant.at(11)).toThrow(RangeError)
    const bad = makeSchedule({ kind: "constant" }, { ...run, lr: 0 })
    expect(Either.isLeft(bad) && bad.left.message).toBe("training config lr=0: must be a positive finite number")
  })
})
