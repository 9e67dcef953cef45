import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as tf from "@tensorflow/tfjs"
import { Effect, Either, Exit } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { adaptInputConv, checkpointFileName, loadCheckpoint, loadPretrained, saveCheckpoint, stateDictTensors } from "../../../src/ml/model/checkpoint.js"
import { buildResNet, type ResNet, toTorchLayout } from "../../../src/ml/model/resnet.js"
import { readSafetensors, serializeSafetensors, writeSafetensors } from "../../../src/ml/model/safetensors.js"

let dir = ""
beforeAll(async () => {
  await tf.setBackend("cpu")
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-ckpt-"))
})
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const values = (model: ResNet): Map<string, Float32Array> => new Map(model.tensors.map((t) => [t.name, toTorchLayout(t)]))

/** Bitwise equality of float arrays (vitest's deep equality is far too slow for millions of values). */
const sameBits = (a: Float32Array, b: Float32Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))

const failure = <E>(exit: Exit.Exit<unknown, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const e = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  if (e === undefined) throw new Error(`unexpected cause ${String(exit.cause)}`)
  return e
}

describe("checkpoints (timm state dicts in safetensors)", () => {
  it("names the seed's file per fold", () => {
    expect(checkpointFileName(3)).toBe("best_model_fold3.safetensors")
  })

  it("saves every state_dict entry in PyTorch layout with int64 counters, and loads it back", async () => {
    const a = buildResNet({ variant: "resnet18d", inChans: 1, numClasses: 6 }, 1)
    const b = buildResNet({ variant: "resnet18d", inChans: 1, numClasses: 6 }, 2)
    // make the counters and running stats non-trivial
    tf.tidy(() => {
      a.forward(tf.randomNormal([2, 32, 32, 1], 0, 1, "float32", 3), true)
    })
    const file = path.join(dir, checkpointFileName(0))
    await Effect.runPromise(saveCheckpoint(a, file))
    const stored = await Effect.runPromise(readSafetensors(file))
    expect(stored.metadata).toEqual({ format: "pt" })
    expect(stored.tensors.size).toBe(a.tensors.length)
    const conv = stored.tensors.get("conv1.0.weight")!
    expect(conv.dtype).toBe("F32")
    expect(conv.shape).toEqual([32, 1, 3, 3])
    expect(stored.tensors.get("fc.weight")!.shape).toEqual([6, 512])
    const counter = stored.tensors.get("bn1.num_batches_tracked")!
    expect(counter.dtype).toBe("I64")
    expect(counter.shape).toEqual([])
    expect(new BigInt64Array(counter.bytes.slice().buffer)[0]).toBe(1n)

    const before = values(b)
    expect(sameBits(before.get("conv1.0.weight")!, values(a).get("conv1.0.weight")!)).toBe(false)
    await Effect.runPromise(loadCheckpoint(b, file))
    const want = values(a)
    for (const [name, v] of values(b)) expect(sameBits(v, want.get(name)!), name).toBe(true)
    // the same bytes again when saved from the loaded model
    const again = Either.getOrThrow(serializeSafetensors(stateDictTensors(b), { format: "pt" }))
    expect(Buffer.from(again).equals(fs.readFileSync(file))).toBe(true)
    a.dispose()
    b.dispose()
  })

  it("is strict: missing, unexpected and mis-shaped tensors are tagged errors naming the tensor", async () => {
    const model = buildResNet({ variant: "resnet18d", inChans: 1, numClasses: 6 }, 1)
    const full = stateDictTensors(model)
    const missingFile = path.join(dir, "missing.safetensors")
    await Effect.runPromise(
      writeSafetensors(
        missingFile,
        full.filter((t) => t.name !== "layer2.0.bn1.running_var"),
      ),
    )
    const e1 = failure(await Effect.runPromiseExit(loadCheckpoint(model, missingFile)))
    expect(e1._tag).toBe("CheckpointMismatch")
    expect(e1.message).toContain(`checkpoint ${missingFile}, tensor layer2.0.bn1.running_var (missing)`)

    const extraFile = path.join(dir, "extra.safetensors")
    await Effect.runPromise(writeSafetensors(extraFile, [...full, { name: "head.extra", dtype: "F32", shape: [1], data: new Float32Array(1) }]))
    expect(failure(await Effect.runPromiseExit(loadCheckpoint(model, extraFile))).message).toContain("tensor head.extra (unexpected)")

    const five = buildResNet({ variant: "resnet18d", inChans: 1, numClasses: 5 }, 1)
    const fiveFile = path.join(dir, "five.safetensors")
    await Effect.runPromise(saveCheckpoint(five, fiveFile))
    const before = values(model).get("conv1.0.weight")!
    const e3 = failure(await Effect.runPromiseExit(loadCheckpoint(model, fiveFile)))
    // The model's output is compared first, as the user knows it: [batch, classes].
    expect(e3._tag).toBe("ModelIoMismatch")
    expect(e3.message).toContain(`model ${fiveFile}: its output is [batch, 5] (fc.weight [5, 512]), expected [batch, 6] (one logit per class)`)
    // A model that does not say what it takes and gives gets the tensor-by-tensor check.
    const e3b = failure(await Effect.runPromiseExit(loadCheckpoint({ tensors: model.tensors }, fiveFile)))
    expect(e3b.message).toContain("tensor fc.weight (shape): the file has shape [5, 512], the model [6, 512]")
    // nothing was assigned
    expect(sameBits(values(model).get("conv1.0.weight")!, before)).toBe(true)
    const e4 = failure(await Effect.runPromiseExit(loadCheckpoint(model, path.join(dir, "nope.safetensors"))))
    expect(e4._tag).toBe("SafetensorsError")
    model.dispose()
    five.dispose()
  })

  it("loads ImageNet-style weights like timm: RGB first conv summed, 1000-class head dropped", async () => {
    const imagenet = buildResNet({ variant: "resnet18d", inChans: 3, numClasses: 1000 }, 11)
    const file = path.join(dir, "imagenet.safetensors")
    await Effect.runPromise(saveCheckpoint(imagenet, file))
    const model = buildResNet({ variant: "resnet18d", inChans: 1, numClasses: 6 }, 12)
    const fcBefore = values(model).get("fc.weight")!
    const report = await Effect.runPromise(loadPretrained(model, file))
    expect(report.adapted).toEqual(["conv1.0.weight"])
    expect(report.kept).toEqual(["fc.weight", "fc.bias"])
    const src = values(imagenet)
    const got = values(model)
    const rgb = src.get("conv1.0.weight")!
    const mono = got.get("conv1.0.weight")!
    expect(mono.length).toBe(32 * 9)
    for (let o = 0; o < 32; o++)
      for (let p = 0; p < 9; p++) {
        const s = Math.fround(Math.fround(rgb[o * 27 + p]! + rgb[o * 27 + 9 + p]!) + rgb[o * 27 + 18 + p]!)
        expect(mono[o * 9 + p]).toBe(s)
      }
    expect(sameBits(got.get("fc.weight")!, fcBefore)).toBe(true)
    for (const [name, v] of got) {
      if (name.startsWith("fc.") || name === "conv1.0.weight") continue
      expect(sameBits(v, src.get(name)!), name).toBe(true)
    }
    imagenet.dispose()
    model.dispose()
  })

  it("adapts input convs for other channel counts like timm", () => {
    const w = Float32Array.from({ length: 2 * 3 * 1 * 1 }, (_, i) => i + 1)
    const four = adaptInputConv(4, w, [2, 3, 1, 1])!
    expect(four.shape).toEqual([2, 4, 1, 1])
    const s = Math.fround(3 / 4)
    expect(Array.from(four.values)).toEqual([1, 2, 3, 1, 4, 5, 6, 4].map((v) => Math.fround(v * s)))
    expect(adaptInputConv(2, new Float32Array(2 * 4), [2, 4, 1, 1])).toBeUndefined()
  })
})

// Local only (needs python3 with torch, timm, safetensors): CAIRN_TORCH=1 npx vitest run test/ml/model/checkpoint.test.ts
describe.runIf(process.env["CAIRN_TORCH"] === "1")("timm round-trip through python", () => {
  const script = fileURLToPathSafe(new URL("../../golden/timm_roundtrip.py", import.meta.url))
  for (const variant of ["resnet18d", "resnet34d"] as const) {
    it(`${variant}: timm loads ours strictly and computes the same logits; we load timm's`, async () => {
      const model = buildResNet({ variant, inChans: 1, numClasses: 6 }, 5)
      tf.tidy(() => {
        model.forward(tf.randomNormal([2, 64, 64, 1], 0, 1, "float32", 9), true)
      })
      const ours = path.join(dir, `${variant}-ours.safetensors`)
      const theirs = path.join(dir, `${variant}-theirs.safetensors`)
      const input = tf.randomNormal([2, 64, 64, 1], 0, 1, "float32", 4) as tf.Tensor4D
      const inputFile = path.join(dir, `${variant}-input.f32`)
      fs.writeFileSync(inputFile, Buffer.from(input.dataSync().buffer))
      await Effect.runPromise(saveCheckpoint(model, ours))
      const out = execFileSync("python3", [script, variant, ours, theirs, inputFile], { encoding: "utf8" })
      const result = JSON.parse(out) as { logits: Array<number> }
      const logits = tf.tidy(() => model.forward(input, false).dataSync())
      result.logits.forEach((v, i) => expect(Math.abs(logits[i]! - v)).toBeLessThan(1e-3 * Math.max(1, Math.abs(v))))
      // timm's file: every tensor + 0.5 and the counters + 7, saved by safetensors.torch
      const reloaded = buildResNet({ variant, inChans: 1, numClasses: 6 }, 6)
      await Effect.runPromise(loadCheckpoint(reloaded, theirs))
      const a = values(model)
      for (const t of reloaded.tensors) {
        const got = toTorchLayout(t)
        const want = a.get(t.name)!
        const delta = t.kind === "counter" ? 7 : 0.5
        let worst = 0
        for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - Math.fround(want[i]! + delta)))
        expect(worst, t.name).toBe(0)
      }
      model.dispose()
      reloaded.dispose()
      input.dispose()
    })
  }
})

describe.runIf(process.env["CAIRN_TORCH"] === "1")("loadPretrained against timm's own load_pretrained", () => {
  it("adapts a timm ImageNet checkpoint exactly as timm does (resnet18d)", async () => {
    const script = fileURLToPathSafe(new URL("../../golden/timm_pretrained.py", import.meta.url))
    const imagenet = path.join(dir, "timm-imagenet.safetensors")
    const adapted = path.join(dir, "timm-adapted.safetensors")
    execFileSync("python3", [script, "resnet18d", imagenet, adapted], { encoding: "utf8" })
    const model = buildResNet({ variant: "resnet18d", inChans: 1, numClasses: 6 }, 3)
    const report = await Effect.runPromise(loadPretrained(model, imagenet))
    expect(report.kept).toEqual(["fc.weight", "fc.bias"])
    const want = await Effect.runPromise(readSafetensors(adapted))
    for (const t of model.tensors) {
      if (t.name.startsWith("fc.")) continue
      const stored = want.tensors.get(t.name)!
      const expected =
        t.kind === "counter" ? Float32Array.of(Number(new BigInt64Array(stored.bytes.slice().buffer)[0])) : new Float32Array(stored.bytes.slice().buffer)
      expect(sameBits(toTorchLayout(t), expected), t.name).toBe(true)
    }
    model.dispose()
  })
})

function fileURLToPathSafe(url: URL): string {
  return decodeURIComponent(url.pathname)
}
