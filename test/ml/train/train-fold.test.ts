import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Exit } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { resolveBackend } from "../../../src/ml/engines/tfjs/resolve-backend.js"
import { memoryWindow } from "../../../src/ml/input/window-dataset.js"
import { ValidationLoss } from "../../../src/ml/train/loss.js"
import { predictCheckpoints } from "../../../src/ml/predict/predict.js"
import { type TrainConfig, type TrainProgress, trainFold } from "../../../src/ml/train/train-fold.js"
import { GOLDEN_TRANSFORM } from "../input/golden-transform.js"
import { frozenModel, SYN_CLASSES, syntheticDataset } from "./train-helpers.js"
import { ImgSize } from "../../../src/ml/model/model-config.js"

/** Real ResNet training on 2 shared cores: ~30-60 s unloaded, allow for a busy machine. */
const HEAVY_TIMEOUT_MS = 300_000

let dir = ""
beforeAll(async () => {
  // the pure-JS cpu backend needs minutes per ResNet step; wasm (with cairn's kernels) about a second
  await Effect.runPromise(resolveBackend("wasm"))
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-train-"))
})
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const TINY: TrainConfig = {
  variant: "resnet18d",
  inChans: 1,
  numClasses: SYN_CLASSES,
  imgSize: ImgSize.make(32),
  batchSize: 4,
  epochs: 3,
  lr: 3e-3,
  weightDecay: 1e-2,
  patience: 5,
  seed: 1086,
  loss: "kl",
  schedule: { kind: "one-cycle", pctStart: 0.0, divFactor: 25, finalDivFactor: 0.4 },
  transform: GOLDEN_TRANSFORM,
}

/** KL of the labels from a uniform prediction: what an untrained model scores. */
const uniformKl = (labels: Float32Array): number => {
  const val = new ValidationLoss("kl", SYN_CLASSES)
  val.add(new Float32Array(labels.length), labels)
  return val.compute()
}

describe("trainFold", () => {
  const train = syntheticDataset(34, 1) // 8 steps of 4, 2 windows dropped
  const val = syntheticDataset(10, 2, 3)

  it(
    "trains resnet18d on a learnable signal: the loss goes down, deterministically",
    async () => {
      const events: Array<TrainProgress> = []
      const outA = path.join(dir, "a")
      const a = await Effect.runPromise(trainFold(TINY, { fold: 2, train, val, outputDir: outA }, { onProgress: (e) => events.push(e) }))
      expect(a.history.map((h) => h.epoch)).toEqual([1, 2, 3])
      const first = a.history[0]!
      const last = a.history[a.history.length - 1]!
      expect(last.trainLoss).toBeLessThan(first.trainLoss / 2)
      // the validation loss went down after the first epoch, and below an untrained model's
      expect(a.bestEpoch).toBeGreaterThan(1)
      expect(a.bestValLoss).toBeLessThan(first.valLoss)
      expect(a.bestValLoss).toBeLessThan(uniformKl(val.labels) - 0.05)
      expect(a.bestValLoss).toBe(Math.min(...a.history.map((h) => h.valLoss)))
      expect(a.history[a.bestEpoch - 1]!.valLoss).toBe(a.bestValLoss)
      expect(a.checkpoint).toBe(path.join(outA, "best_model_fold2.safetensors"))
      expect(fs.existsSync(a.checkpoint)).toBe(true)
      for (const h of a.history) {
        expect(h.seconds).toBeGreaterThan(0)
        expect(h.imagesPerSecond).toBeGreaterThan(0)
      }
      // events: start, 8 steps per epoch, validate + epoch per epoch, done
      expect(events[0]).toMatchObject({ type: "start", fold: 2, epochs: 3, stepsPerEpoch: 8, trainSize: 34, valSize: 10 })
      expect(events.filter((e) => e.type === "step")).toHaveLength(24)
      expect(events.filter((e) => e.type === "epoch")).toHaveLength(3)
      expect(events[events.length - 1]).toMatchObject({ type: "done", bestEpoch: a.bestEpoch })
      // the last step's lr is the schedule's final lr: max_lr / div / final_div
      const steps = events.filter((e): e is Extract<TrainProgress, { type: "step" }> => e.type === "step")
      expect(steps[steps.length - 1]!.lr).toBeCloseTo(3e-3 / 25 / 0.4, 15)

      // the validation predictions are the best checkpoint's softmax, in validation order
      expect(a.valPredictions.length).toBe(10 * SYN_CLASSES)
      const predicted = await Effect.runPromise(
        predictCheckpoints(
          { variant: "resnet18d", inChans: 1, numClasses: SYN_CLASSES, imgSize: ImgSize.make(32), batchSize: 5, transform: GOLDEN_TRANSFORM },
          [a.checkpoint, a.checkpoint],
          val.windows,
        ),
      )
      for (let i = 0; i < a.valPredictions.length; i++) {
        expect(Math.abs(predicted.mean[i]! - a.valPredictions[i]!)).toBeLessThan(1e-6)
      }

      // same seed, same backend: the same losses and the same weights, bit for bit
      const outB = path.join(dir, "b")
      const b = await Effect.runPromise(trainFold(TINY, { fold: 2, train, val, outputDir: outB }))
      expect(b.history.map((h) => [h.trainLoss, h.valLoss])).toEqual(a.history.map((h) => [h.trainLoss, h.valLoss]))
      expect(fs.readFileSync(b.checkpoint).equals(fs.readFileSync(a.checkpoint))).toBe(true)
    },
    HEAVY_TIMEOUT_MS,
  )

  it("stops early when the validation loss has not strictly improved for `patience` epochs", async () => {
    const config: TrainConfig = { ...TINY, epochs: 6, patience: 1, weightDecay: 0 }
    const r = await Effect.runPromise(trainFold(config, { fold: 0, train, val, outputDir: path.join(dir, "frozen") }, { buildModel: frozenModel }))
    // epoch 1 improves on 1e9; epochs 2 and 3 are equal (not strictly lower); 3 - 1 > 1 stops
    expect(r.history.map((h) => h.improved)).toEqual([true, false, false])
    expect(r.history[1]!.valLoss).toBe(r.history[0]!.valLoss)
    expect(r.bestEpoch).toBe(1)
    expect(r.stoppedEarly).toBe(true)
  })

  it(
    "trains a narrow three-channel ResNet with cross-entropy and a constant lr",
    async () => {
      // Three channels: the band image, its square root and a constant plane; one-hot labels.
      const rgb = (ds: typeof train) => ({
        ...ds,
        windows: ds.windows.map((w, i) => {
          if (w.kind !== "memory") throw new Error("memory windows expected")
          const [p] = w.planes
          if (p === undefined) throw new Error("a plane expected")
          const root = { ...p, data: p.data.map(Math.sqrt) }
          const flat = { ...p, data: new Float32Array(p.data.length).fill(1) }
          return memoryWindow(`rgb-${i}`, [p, root, flat])
        }),
        // the true class carries 0.75 of each soft label
        labels: ds.labels.map((v) => (v > 0.5 ? 1 : 0)),
      })
      const config: TrainConfig = { ...TINY, inChans: 3, width: 0.25, loss: "cross-entropy", schedule: { kind: "constant" }, epochs: 3 }
      const steps: Array<number> = []
      const r = await Effect.runPromise(
        trainFold(
          config,
          { fold: 5, train: rgb(train), val: rgb(val), outputDir: path.join(dir, "rgb") },
          {
            onProgress: (e) => {
              if (e.type === "step") steps.push(e.lr)
            },
          },
        ),
      )
      expect(new Set(steps)).toEqual(new Set([config.lr]))
      expect(r.history[r.history.length - 1]!.trainLoss).toBeLessThan(r.history[0]!.trainLoss)
      // below the cross-entropy of a uniform guess, log(6)
      expect(r.bestValLoss).toBeLessThan(Math.log(SYN_CLASSES))
      const predicted = await Effect.runPromise(predictCheckpoints({ ...config, batchSize: 4 }, [r.checkpoint], rgb(val).windows))
      for (let i = 0; i < r.valPredictions.length; i++) expect(Math.abs(predicted.mean[i]! - r.valPredictions[i]!)).toBeLessThan(1e-6)
      // a one-channel model refuses three-channel windows
      const mismatch = await Effect.runPromiseExit(trainFold({ ...config, inChans: 1 }, { fold: 5, train: rgb(train), val: rgb(val), outputDir: dir }))
      expect(Exit.isFailure(mismatch) && String(mismatch.cause)).toMatch(/window: 3 channel\(s\), expected 1/)
    },
    HEAVY_TIMEOUT_MS,
  )

  it("fails with tagged errors on bad inputs", async () => {
    const tooFew = await Effect.runPromiseExit(trainFold({ ...TINY, batchSize: 64 }, { fold: 1, train, val, outputDir: dir }, { buildModel: frozenModel }))
    expect(Exit.isFailure(tooFew) && String(tooFew.cause)).toMatch(/fold 1, epoch 0, step 0: 34 training windows \(batch 64/)
    const badLabels = { ...train, labels: train.labels.map((v, i) => (i === 13 ? Number.NaN : v)) }
    const nan = await Effect.runPromiseExit(trainFold(TINY, { fold: 1, train: badLabels, val, outputDir: dir, classNames: ["s", "l", "g", "lr", "gr", "o"] }))
    expect(Exit.isFailure(nan) && String(nan.cause)).toMatch(/dataset row 2 \(syn-2\), l: target NaN/)
    const badConfig = await Effect.runPromiseExit(trainFold({ ...TINY, epochs: 0 }, { fold: 1, train, val, outputDir: dir }))
    expect(Exit.isFailure(badConfig) && String(badConfig.cause)).toMatch(/training config epochs=0/)
    const single = await Effect.runPromiseExit(trainFold({ ...TINY, batchSize: 1 }, { fold: 1, train, val, outputDir: dir }))
    expect(Exit.isFailure(single) && String(single.cause)).toMatch(/training config batchSize=1: must be at least 2/)
    const schedule = await Effect.runPromiseExit(
      trainFold({ ...TINY, schedule: { kind: "one-cycle", pctStart: 2 } }, { fold: 1, train, val, outputDir: dir }, { buildModel: frozenModel }),
    )
    expect(Exit.isFailure(schedule) && String(schedule.cause)).toMatch(/training config pctStart=2: must be in \[0, 1\]/)
    const width = await Effect.runPromiseExit(trainFold({ ...TINY, width: 0 }, { fold: 1, train, val, outputDir: dir }))
    expect(Exit.isFailure(width) && String(width.cause)).toMatch(/training config width=0: must be a positive finite number/)
  })
})
