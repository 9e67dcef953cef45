/**
 * A fold's training continued from the state it saved after an epoch (train-state.ts) ends with the
 * bits of the uninterrupted training: the same losses every epoch, the same best epoch, the same
 * validation predictions and the same checkpoint bytes. A state that does not fit the model is
 * refused, naming what does not fit.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Exit } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { resolveBackend } from "../../../src/ml/engines/tfjs/resolve-backend.js"
import { ImgSize } from "../../../src/ml/model/model-config.js"
import { type TrainConfig, type TrainProgress, trainFold } from "../../../src/ml/train/train-fold.js"
import { BEST_CHECKPOINT_FILE, TRAIN_STATE_FILE } from "../../../src/ml/train/train-state.js"
import { GOLDEN_TRANSFORM } from "../input/golden-transform.js"
import { SYN_CLASSES, syntheticDataset } from "./train-helpers.js"

/** Real ResNet training on 2 shared cores: an outer bound for a busy machine. */
const HEAVY_TIMEOUT_MS = 300_000

let dir = ""
beforeAll(async () => {
  await Effect.runPromise(resolveBackend("wasm"))
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-train-resume-"))
})
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const CONFIG: TrainConfig = {
  variant: "resnet18d",
  inChans: 1,
  numClasses: SYN_CLASSES,
  imgSize: ImgSize.make(32),
  batchSize: 4,
  epochs: 4,
  lr: 3e-3,
  weightDecay: 1e-2,
  patience: 5,
  seed: 1086,
  loss: "kl",
  schedule: { kind: "one-cycle", pctStart: 0.25, divFactor: 25, finalDivFactor: 1e4 },
  transform: GOLDEN_TRANSFORM,
}

type Saved = Extract<TrainProgress, { type: "saved" }>
const filesOf = (saved: Saved) => Object.fromEntries(fs.readdirSync(saved.dir).map((f) => [f, path.join(saved.dir, f)]))

describe("trainFold resumed from a saved epoch", () => {
  const train = syntheticDataset(26, 1)
  const val = syntheticDataset(10, 2, 3)

  it(
    "trains only the remaining epochs and ends bit for bit as the uninterrupted training",
    async () => {
      const saves: Array<Saved> = []
      const whole = await Effect.runPromise(
        trainFold(
          CONFIG,
          { fold: 1, train, val, outputDir: path.join(dir, "whole"), progressDir: path.join(dir, "progress") },
          { onProgress: (e) => e.type === "saved" && saves.push(e) },
        ),
      )
      // Saved after every epoch but the last, each a state file, and the best checkpoint once there is one.
      expect(saves.map((s) => s.epoch)).toEqual([1, 2, 3])
      expect(Object.keys(filesOf(saves[1]!)).sort()).toEqual([BEST_CHECKPOINT_FILE, TRAIN_STATE_FILE])

      const epochs: Array<number> = []
      const resumed = await Effect.runPromise(
        trainFold(
          CONFIG,
          { fold: 1, train, val, outputDir: path.join(dir, "resumed"), resume: { files: filesOf(saves[1]!), value: saves[1]!.value } },
          {
            onProgress: (e) => e.type === "epoch" && epochs.push(e.record.epoch),
          },
        ),
      )
      expect(epochs).toEqual([3, 4])
      const losses = (r: typeof whole) => r.history.map((h) => [h.epoch, h.trainLoss, h.valLoss, h.lr, h.improved])
      expect(losses(resumed)).toEqual(losses(whole))
      expect(resumed.bestEpoch).toBe(whole.bestEpoch)
      expect(resumed.bestValLoss).toBe(whole.bestValLoss)
      expect(Buffer.from(resumed.valPredictions.buffer).equals(Buffer.from(whole.valPredictions.buffer))).toBe(true)
      expect(fs.readFileSync(resumed.checkpoint).equals(fs.readFileSync(whole.checkpoint))).toBe(true)
    },
    HEAVY_TIMEOUT_MS,
  )

  it(
    "refuses a state that does not fit the model and optimizer, naming what",
    async () => {
      const saves: Array<Saved> = []
      const small = { ...CONFIG, epochs: 2 }
      await Effect.runPromise(
        trainFold(
          small,
          { fold: 1, train, val, outputDir: path.join(dir, "small"), progressDir: path.join(dir, "small-progress") },
          { onProgress: (e) => e.type === "saved" && saves.push(e) },
        ),
      )
      // A record whose value names one optimizer state: it is no state of this model's optimizer.
      const exit = await Effect.runPromiseExit(
        trainFold(small, {
          fold: 1,
          train,
          val,
          outputDir: path.join(dir, "other"),
          resume: { files: filesOf(saves[0]!), value: { ...saves[0]!.value, adamSteps: [1] } },
        }),
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(String(exit)).toMatch(/saved progress does not fit this training: 1 optimizer states for \d+ parameters/)
    },
    HEAVY_TIMEOUT_MS,
  )
})
