/** The training-step memory estimator (src/ml/train/memory-estimate.ts) on the figures it was fitted to. */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { formatBytes } from "../../../src/core/fs-util.js"
import { GIB } from "../../../src/core/resources.js"
import { WorkerFailed } from "../../../src/ml/ml-errors.js"
import {
  ENGINE_OVERHEAD_BYTES,
  EngineMemoryExceeded,
  EngineOutOfMemory,
  estimateTrainStep,
  largestBatchWithin,
  WASM_HEAP_LIMIT_BYTES,
} from "../../../src/ml/train/memory-estimate.js"
import { explainWasmTrap, trainResources } from "../../../stages/hms/train-resources.js"

const gib = (bytes: number) => bytes / GIB

describe("estimateTrainStep", () => {
  it("gives the README's 9.8 GiB for the seed's step (resnet34d 512 px batch 32) on wasm+onednn", () => {
    const s = estimateTrainStep({ variant: "resnet34d", imgSize: 512, batchSize: 32, backend: "wasm+onednn" })
    expect(gib(s.tensorBytes)).toBeCloseTo(9.83, 1)
    expect(s.subject).toBe("resnet34d 512px batch 32")
    expect(formatBytes(s.tensorBytes)).toBe("9.8 GiB")
    expect(s.limitBytes).toBe(WASM_HEAP_LIMIT_BYTES)
    // On the wasm heap the machine holds at most the heap, and the engine's own.
    expect(s.hostBytes).toBe(WASM_HEAP_LIMIT_BYTES + ENGINE_OVERHEAD_BYTES)
  })

  it("matches the measured wasm heaps it was fitted to (bench/train-memory.ts), within 0.2 GiB", () => {
    // [variant, size, batch, backend, heap GiB measured]
    const measured = [
      ["resnet34d", 512, 4, "wasm+onednn", 1.51],
      ["resnet34d", 512, 2, "wasm+onednn", 1.007],
      ["resnet34d", 256, 4, "wasm+onednn", 0.789],
      ["resnet18d", 512, 4, "wasm+onednn", 0.939],
      ["resnet34d", 512, 4, "wasm", 2.577],
      ["resnet34d", 256, 4, "wasm", 1.08],
      ["resnet18d", 512, 4, "wasm", 1.824],
    ] as const
    for (const [variant, imgSize, batchSize, backend, heap] of measured) {
      const s = estimateTrainStep({ variant, imgSize, batchSize, backend })
      expect(Math.abs(gib(s.tensorBytes) - heap), `${variant} ${imgSize} b${batchSize} ${backend}`).toBeLessThan(0.2)
    }
  })

  it("says the pure wasm engine cannot hold 512 px batch 8 (it traps there, issue #20) but holds 256 px batch 8", () => {
    expect(estimateTrainStep({ variant: "resnet34d", imgSize: 512, batchSize: 8, backend: "wasm" }).tensorBytes).toBeGreaterThan(WASM_HEAP_LIMIT_BYTES)
    expect(estimateTrainStep({ variant: "resnet34d", imgSize: 256, batchSize: 8, backend: "wasm" }).tensorBytes).toBeLessThan(WASM_HEAP_LIMIT_BYTES)
    expect(largestBatchWithin({ variant: "resnet34d", imgSize: 512, backend: "wasm" })).toBe(6)
    expect(largestBatchWithin({ variant: "resnet34d", imgSize: 512, backend: "wasm+onednn" })).toBe(12)
  })

  it("puts no limit on the native CPU engine's tensors, and only the engine's own on the host for a GPU", () => {
    const native = estimateTrainStep({ variant: "resnet34d", imgSize: 512, batchSize: 32, backend: "cpu+onednn" })
    expect(native.place).toBe("host")
    expect(native.limitBytes).toBeUndefined()
    expect(native.hostBytes).toBe(native.tensorBytes + ENGINE_OVERHEAD_BYTES)
    expect(largestBatchWithin({ variant: "resnet34d", imgSize: 512, backend: "cpu+onednn" })).toBeUndefined()
    const gpu = estimateTrainStep({ variant: "resnet34d", imgSize: 512, batchSize: 32, backend: "webgpu" })
    expect(gpu.place).toBe("device")
    expect(gpu.hostBytes).toBe(ENGINE_OVERHEAD_BYTES)
  })
})

const SEED = { fold: 0, model: "resnet34d", img_size: 512, batch_size: 32, checkpoints: "" } as const

describe("the train stage's resources hook", () => {
  it("refuses the seed's step on the wasm engine, naming the need, the limit and the way out", () => {
    const refused = Effect.runSync(Effect.flip(trainResources({ ...SEED, backend: "wasm+onednn" })))
    expect(refused).toBeInstanceOf(EngineMemoryExceeded)
    expect(refused.message).toMatch(
      /^resnet34d 512px batch 32 needs ~9\.8 GiB; the wasm engine holds at most 4 GiB: (install oneDNN \(apt-get install libdnnl-dev\) for the native CPU engine|use backend=auto \(the native CPU engine: oneDNN is installed\)),? or (use )?backend=webgpu \(or batch_size 12 or less on wasm\)$/,
    )
  })

  it("declares a fold's memory where it fits, and nothing for a fold that only evaluates given checkpoints", () => {
    const small = Effect.runSync(trainResources({ ...SEED, img_size: 128, batch_size: 8, backend: "wasm" }))
    expect(small.subject).toBe("resnet34d 128px batch 8")
    expect(gib(small.memoryBytes ?? 0)).toBeGreaterThan(0.5)
    expect(Effect.runSync(trainResources({ ...SEED, backend: "wasm", checkpoints: "models" }))).toEqual({})
    const native = Effect.runSync(trainResources({ ...SEED, backend: "cpu+onednn" }))
    expect(gib(native.memoryBytes ?? 0)).toBeCloseTo(9.83 + 0.33, 1)
  })

  it("says a fold's wasm trap is the heap running out, with the estimate and the way out, and keeps other errors", () => {
    const trap = new WorkerFailed({ task: "train fold 1", detail: "Aborted(). Build with -sASSERTIONS for more info." })
    const said = explainWasmTrap({ ...SEED, fold: 1, batch_size: 16, backend: "wasm+onednn" })(trap)
    expect(said).toBeInstanceOf(EngineOutOfMemory)
    expect((said as EngineOutOfMemory).message).toMatch(
      /^train fold 1: the wasm engine ran out of memory \(Aborted\(\)\. Build with -sASSERTIONS for more info\.\): resnet34d 512px batch 16 needs ~5\.1 GiB; the wasm engine holds at most 4 GiB: /,
    )
    expect((said as EngineOutOfMemory).cause).toBe(trap)
    const other = new WorkerFailed({ task: "train fold 1", detail: "ENOENT: no such file" })
    expect(explainWasmTrap({ ...SEED, backend: "wasm+onednn" })(other)).toBe(other)
    // Not a wasm engine: a trap-like text is left alone.
    const oob = new WorkerFailed({ task: "train fold 1", detail: "memory access out of bounds" })
    expect(explainWasmTrap({ ...SEED, backend: "cpu+onednn" })(oob)).toBe(oob)
  })
})
