import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Deferred, Effect, Exit, Fiber } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { TrainConfig, TrainProgress } from "../../src/ml/train.js"
import { predictInWorker, trainFoldInWorker } from "../../src/ml/worker.js"
import { SYN_CLASSES, syntheticDataset } from "./train-helpers.js"

/** Real ResNet training on 2 shared cores: ~30-60 s unloaded, allow for a busy machine. */
const HEAVY_TIMEOUT_MS = 300_000

let dir = ""
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-worker-"))
})
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const TINY: TrainConfig = {
  variant: "resnet18d",
  inChans: 1,
  numClasses: SYN_CLASSES,
  imgSize: 32,
  batchSize: 8,
  epochs: 1,
  lr: 3e-3,
  weightDecay: 1e-2,
  patience: 5,
  seed: 7,
  divFactor: 25,
  finalDivFactor: 0.4,
  pctStart: 0.0,
}

describe("worker threads", () => {
  const train = syntheticDataset(16, 1)
  const val = syntheticDataset(8, 2, 3)

  it("trains two folds concurrently, each in its own worker, with progress events", async () => {
    const events: Array<TrainProgress> = []
    const backends: Array<string> = []
    const fold = (k: number) =>
      trainFoldInWorker(
        "wasm",
        { ...TINY, seed: TINY.seed + k },
        { fold: k, train, val, outputDir: dir },
        { onProgress: (e) => events.push(e), onBackend: (name) => backends.push(name) },
      )
    const [r0, r1] = await Effect.runPromise(Effect.all([fold(0), fold(1)], { concurrency: 2 }))
    expect(backends).toEqual(["wasm", "wasm"])
    expect(r0!.fold).toBe(0)
    expect(r1!.fold).toBe(1)
    expect(r0!.history).toHaveLength(1)
    expect(r0!.valPredictions).toBeInstanceOf(Float32Array)
    expect(r0!.valPredictions.length).toBe(8 * SYN_CLASSES)
    expect(fs.existsSync(path.join(dir, "best_model_fold0.safetensors"))).toBe(true)
    expect(fs.existsSync(path.join(dir, "best_model_fold1.safetensors"))).toBe(true)
    // different seeds: different models
    expect(r0!.history[0]!.trainLoss).not.toBe(r1!.history[0]!.trainLoss)
    // both folds reported steps, interleaved in time
    const steps = events.filter((e) => e.type === "step")
    expect(steps.filter((e) => e.fold === 0)).toHaveLength(2)
    expect(steps.filter((e) => e.fold === 1)).toHaveLength(2)
    const firstDone = events.findIndex((e) => e.type === "done")
    expect(events.slice(0, firstDone).some((e) => e.fold === 0) && events.slice(0, firstDone).some((e) => e.fold === 1)).toBe(true)

    // inference in a worker: the mean of the two folds' softmax
    const predicted = await Effect.runPromise(
      predictInWorker(
        "wasm",
        { variant: "resnet18d", inChans: 1, numClasses: SYN_CLASSES, imgSize: 32, batchSize: 8 },
        [r0!.checkpoint, r1!.checkpoint],
        val.windows,
      ),
    )
    expect(predicted.perModel).toHaveLength(2)
    for (let i = 0; i < val.windows.length * SYN_CLASSES; i++) {
      expect(Math.abs(predicted.perModel[0]![i]! - r0!.valPredictions[i]!)).toBeLessThan(1e-6)
      expect(Math.abs(predicted.mean[i]! - (r0!.valPredictions[i]! + r1!.valPredictions[i]!) / 2)).toBeLessThan(1e-6)
    }
  }, HEAVY_TIMEOUT_MS)

  it("marshals tagged errors back from the worker", async () => {
    const exit = await Effect.runPromiseExit(
      trainFoldInWorker("wasm", { ...TINY, patience: -1 }, { fold: 3, train, val, outputDir: dir }),
    )
    expect(Exit.isFailure(exit)).toBe(true)
    if (Exit.isFailure(exit) && exit.cause._tag === "Fail") {
      expect(exit.cause.error._tag).toBe("TrainConfigError")
      expect(exit.cause.error.message).toBe("training config patience=-1: must be an integer >= 0")
    } else {
      throw new Error(`unexpected exit ${String(exit)}`)
    }
    const missing = await Effect.runPromiseExit(
      predictInWorker(
        "wasm",
        { variant: "resnet18d", inChans: 1, numClasses: SYN_CLASSES, imgSize: 32, batchSize: 8 },
        [path.join(dir, "nope.safetensors")],
        val.windows,
      ),
    )
    expect(Exit.isFailure(missing) && missing.cause._tag === "Fail" && missing.cause.error._tag).toBe("SafetensorsError")
  }, HEAVY_TIMEOUT_MS)

  it("terminates the worker when interrupted", async () => {
    const program = Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      let after = 0
      let interrupted = false
      const fiber = yield* Effect.fork(
        trainFoldInWorker("wasm", { ...TINY, epochs: 50 }, { fold: 4, train, val, outputDir: dir }, {
          onProgress: (e) => {
            if (interrupted) after += 1
            if (e.type === "step") Deferred.unsafeDone(started, Effect.void)
          },
        }),
      )
      yield* Deferred.await(started)
      interrupted = true
      const exit = yield* Fiber.interrupt(fiber)
      yield* Effect.sleep("1500 millis")
      return { exit, after }
    })
    const t0 = Date.now()
    const { exit, after } = await Effect.runPromise(program)
    expect(Exit.isInterrupted(exit)).toBe(true)
    expect(after).toBe(0)
    expect(Date.now() - t0).toBeLessThan(60_000)
  }, HEAVY_TIMEOUT_MS)
})
