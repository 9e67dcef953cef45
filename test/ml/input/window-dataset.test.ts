import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Exit } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { writeNpy } from "../../../src/data/npy.js"
import { BatchLoader, batches, epochOrder, epochSeed, memoryWindow, npyWindow, validateDataset } from "../../../src/ml/input/window-dataset.js"
import { preprocessWindow } from "../../../src/ml/input/preprocess.js"
import { GOLDEN_TRANSFORM } from "./golden-transform.js"

// test/golden/gen_dataset.py: np.random.RandomState((seed * 1_000_003 + epoch) % 2**32).permutation(n)
const GOLDEN: Record<string, { seed: number; order: ReadonlyArray<number> }> = {
  "1086,1,10": { seed: 1086003259, order: [2, 8, 3, 1, 7, 6, 5, 0, 9, 4] },
  "1086,2,10": { seed: 1086003260, order: [0, 3, 8, 2, 6, 9, 7, 5, 4, 1] },
  "7,9,37": {
    seed: 7000030,
    order: [8, 3, 35, 7, 34, 12, 22, 11, 1, 6, 33, 10, 5, 24, 21, 0, 20, 30, 16, 18, 4, 25, 26, 14, 23, 13, 17, 27, 29, 32, 19, 31, 36, 15, 2, 9, 28],
  },
  "4294967295,3,5": { seed: 4293967296, order: [4, 1, 0, 3, 2] },
}

let dir = ""
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-dataset-"))
})
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const image = (h: number, w: number, shift: number): Float32Array => Float32Array.from({ length: h * w }, (_, i) => ((i * 37 + shift) % 101) / 7 + 0.01)

describe("epoch shuffles", () => {
  for (const [key, { seed, order }] of Object.entries(GOLDEN)) {
    it(`reproduces numpy for (seed, epoch, n) = (${key})`, () => {
      const [s, e, n] = key.split(",").map(Number) as [number, number, number]
      expect(epochSeed(s, e)).toBe(seed)
      expect(Array.from(epochOrder(n, s, e))).toEqual(order)
    })
  }
})

describe("batches", () => {
  const order = Int32Array.from([5, 3, 1, 0, 2, 4, 6])
  it("drops the last partial batch for training", () => {
    expect(batches(order, 3, true).map((b) => Array.from(b))).toEqual([
      [5, 3, 1],
      [0, 2, 4],
    ])
  })
  it("keeps it for validation", () => {
    expect(batches(order, 3, false).map((b) => Array.from(b))).toEqual([[5, 3, 1], [0, 2, 4], [6]])
  })
})

describe("BatchLoader", () => {
  it("reads .npy windows, preprocesses them and assembles NHWC batches with their targets", async () => {
    const files = [0, 1, 2].map((k) => path.join(dir, `w${k}.npy`))
    for (const [k, f] of files.entries()) await Effect.runPromise(writeNpy(f, image(20, 15, k), [20, 15]))
    const labels = Float32Array.from([1, 0, 0, 0, 1, 0, 0.5, 0.25, 0.25])
    const loader = new BatchLoader({ windows: files.map(npyWindow), labels, classes: 3 }, { imgSize: 8, windowShape: [20, 15], transform: GOLDEN_TRANSFORM })
    const { x, y, size } = await Effect.runPromise(loader.batch([2, 0]))
    expect(size).toBe(2)
    expect(x.length).toBe(2 * 8 * 8)
    const expected2 = preprocessWindow({ data: image(20, 15, 2), height: 20, width: 15, order: "C" }, 8, GOLDEN_TRANSFORM)
    const expected0 = preprocessWindow({ data: image(20, 15, 0), height: 20, width: 15, order: "C" }, 8, GOLDEN_TRANSFORM)
    expect(Array.from(x.subarray(0, 64))).toEqual(Array.from(expected2))
    expect(Array.from(x.subarray(64))).toEqual(Array.from(expected0))
    expect(Array.from(y)).toEqual([0.5, 0.25, 0.25, 1, 0, 0])
    // cached: the second read does not touch the file
    fs.rmSync(files[2]!)
    expect(loader.cacheBytesInUse).toBe(2 * 64 * 4)
    expect(Array.from((await Effect.runPromise(loader.batch([2]))).x)).toEqual(Array.from(expected2))
  })

  it("reports unreadable or mis-shaped windows with the file and row", async () => {
    const wrong = path.join(dir, "wrong.npy")
    await Effect.runPromise(writeNpy(wrong, image(10, 15, 0), [10, 15]))
    const cube = path.join(dir, "cube.npy")
    await Effect.runPromise(writeNpy(cube, new Float32Array(2 * 20 * 15), [2, 20, 15]))
    const tesseract = path.join(dir, "tesseract.npy")
    await Effect.runPromise(writeNpy(tesseract, new Float32Array(16), [2, 2, 2, 2]))
    const missing = path.join(dir, "missing.npy")
    const loader = new BatchLoader(
      { windows: [wrong, cube, missing, tesseract].map(npyWindow), labels: new Float32Array(12), classes: 3 },
      { imgSize: 8, windowShape: [20, 15], transform: GOLDEN_TRANSFORM },
    )
    const message = async (row: number): Promise<string> => {
      const exit = await Effect.runPromiseExit(loader.batch([row]))
      if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail") throw new Error("expected a failure")
      return exit.cause.error.message
    }
    expect(await message(0)).toBe(`dataset row 0 (${wrong}), window: shape (10, 15), expected (20, 15)`)
    expect(await message(1)).toBe(`dataset row 1 (${cube}), window: 2 channel(s), expected 1`)
    expect(await message(2)).toContain(`${missing}: cannot read file`)
    expect(await message(3)).toBe(`dataset row 3 (${tesseract}), window: expected a 2-d (H, W) or 3-d (C, H, W) array, got shape (2, 2, 2, 2)`)
  })

  it("interleaves the channels of (C, H, W) .npy files and in-memory planes into HWC", async () => {
    const planes = [0, 1, 2].map((k) => image(6, 5, k))
    const cube = new Float32Array(3 * 30)
    planes.forEach((p, c) => cube.set(p, c * 30))
    const file = path.join(dir, "rgb.npy")
    await Effect.runPromise(writeNpy(file, cube, [3, 6, 5]))
    const inMemory = memoryWindow(
      "rgb",
      planes.map((data) => ({ data, height: 6, width: 5, order: "C" as const })),
    )
    const loader = new BatchLoader(
      { windows: [npyWindow(file), inMemory], labels: new Float32Array(4), classes: 2 },
      { imgSize: 4, channels: 3, windowShape: [6, 5], transform: { kind: "resize" } },
    )
    const { x } = await Effect.runPromise(loader.batch([0, 1]))
    expect(x.length).toBe(2 * 4 * 4 * 3)
    const resized = planes.map((data) => preprocessWindow({ data, height: 6, width: 5, order: "C" }, 4, { kind: "resize" }))
    for (const img of [0, 1]) {
      for (let i = 0; i < 16; i++) for (let c = 0; c < 3; c++) expect(x[img * 48 + i * 3 + c]).toBe(resized[c]![i])
    }
  })

  it("validates targets and label counts", async () => {
    const windows = [memoryWindow("a", { data: image(4, 4, 0), height: 4, width: 4, order: "C" })]
    const bad = await Effect.runPromiseExit(validateDataset({ windows, labels: Float32Array.of(0.5, -1), classes: 2 }, ["x", "y"]))
    expect(Exit.isFailure(bad) && String(bad.cause)).toMatch(/dataset row 0 \(a\), y: target -1/)
    const count = await Effect.runPromiseExit(validateDataset({ windows, labels: Float32Array.of(1, 0, 0), classes: 2 }))
    expect(Exit.isFailure(count) && String(count.cause)).toMatch(/3 label values for 1 windows x 2 classes/)
    // inference: any target values are fine (the seed fills them with -1)
    const dummy = await Effect.runPromiseExit(validateDataset({ windows, labels: Float32Array.of(-1, -1), classes: 2 }, undefined, false))
    expect(Exit.isSuccess(dummy)).toBe(true)
  })
})
