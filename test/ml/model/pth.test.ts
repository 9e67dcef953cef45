/**
 * PyTorch checkpoints (`torch.save`'s zip format) read by the allow-list unpickler, against files
 * made by torch 1.13 itself (test/golden/gen_pth.py -> test/fixtures/ml/pth/): every dtype and view
 * a state dict may hold, the seed's own layout (a wrapper's `model.` prefix) giving the same
 * predictions as the same weights in safetensors, and pickles that would run code refused by name
 * without running anything.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as tf from "@tensorflow/tfjs"
import { Effect, Either, Exit } from "effect"
import { unzipSync, zipSync } from "fflate"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { loadCheckpoint } from "../../../src/ml/model/checkpoint.js"
import { readStateDict, unwrapStateDict } from "../../../src/ml/model/state-dict.js"
import type { PthError } from "../../../src/ml/ml-errors.js"
import { parsePth, readPth } from "../../../src/ml/model/pth.js"
import { buildResNet } from "../../../src/ml/model/resnet.js"
import { tensorToBigInt64, tensorToFloat32 } from "../../../src/ml/model/safetensors.js"
import { readTorchPickle } from "../../../src/ml/model/torch-pickle.js"

const FIXTURES = path.resolve(__dirname, "../../fixtures/ml/pth")
const fixture = (name: string) => path.join(FIXTURES, name)
/** What the refused pickles' payloads create when Python unpickles them (gen_pth.py checks they do). */
const MARKER = "/tmp/cairn-pth-os-system-marker"
/** The narrow resnet18d of the fixtures (cairn's ResNet `width`, gen_pth.py's WIDTH). */
const TINY = { variant: "resnet18d", inChans: 1, numClasses: 6, width: 1 / 16 } as const
const IMG = 32

let dir = ""
beforeAll(async () => {
  await tf.setBackend("cpu")
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-pth-"))
})
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const failure = <E>(exit: Exit.Exit<unknown, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const e = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  if (e === undefined) throw new Error(`unexpected cause ${String(exit.cause)}`)
  return e
}

/** gen_pth.py's seq(n): float32(((i * 7919) % 1000 - 500) / 37). */
const seq = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => (((i * 7919) % 1000) - 500) / 37)

/** The logits of the tiny model loaded from `file`, on gen_pth.py's input (NCHW with one channel = NHWC). */
const logitsFrom = async (file: string, seed: number): Promise<Float32Array> => {
  const model = buildResNet(TINY, seed)
  try {
    await Effect.runPromise(loadCheckpoint(model, file))
    const input = Float32Array.from(seq(2 * IMG * IMG), (v) => v / 10)
    return tf.tidy(() => model.forward(tf.tensor4d(input, [2, IMG, IMG, 1]), false).dataSync() as Float32Array)
  } finally {
    model.dispose()
  }
}

describe("reading torch.save's zip archives (torch 1.13)", () => {
  it("reads every dtype and view a state dict may hold, in C order", async () => {
    const expected = JSON.parse(fs.readFileSync(fixture("dtypes.json"), "utf8")) as Record<string, { shape: Array<number>; values: Array<number> }>
    const state = await Effect.runPromise(readPth(fixture("dtypes.pth")))
    expect([...state.tensors.keys()]).toEqual(Object.keys(expected))
    const dtypes = Object.fromEntries([...state.tensors].map(([k, t]) => [k, t.dtype]))
    expect(dtypes).toEqual({
      half: "F16",
      bf16: "BF16",
      f64: "F64",
      i64: "I64",
      i32: "I32",
      scalar: "F32",
      transposed: "F32",
      view_a: "F32",
      view_b: "F32",
      param: "F32",
    })
    for (const [name, t] of state.tensors) {
      expect(t.shape, name).toEqual(expected[name]!.shape)
      if (name === "i64") expect([...tensorToBigInt64(t)!]).toEqual([-5n, 0n, 1234567890123n])
      else expect([...tensorToFloat32(t)], name).toEqual(expected[name]!.values.map((v) => Math.fround(v)))
    }
  })

  it("the seed's best_model_fold{k}.pth (model. prefix) holds the same tensors as the safetensors of the same weights", async () => {
    const pth = await Effect.runPromise(readStateDict(fixture("tiny-resnet18d.pth")))
    const st = await Effect.runPromise(readStateDict(fixture("tiny-resnet18d.safetensors")))
    const raw = await Effect.runPromise(readPth(fixture("tiny-resnet18d.pth")))
    expect([...raw.tensors.keys()].every((k) => k.startsWith("model."))).toBe(true)
    expect([...pth.tensors.keys()].sort()).toEqual([...st.tensors.keys()].sort())
    for (const [name, t] of pth.tensors) {
      const s = st.tensors.get(name)!
      expect([t.dtype, t.shape], name).toEqual([s.dtype, s.shape])
      expect(Buffer.from(t.bytes).equals(Buffer.from(s.bytes)), name).toBe(true)
    }
  })

  it("predictions from the .pth equal those from the same weights in safetensors, and torch's own", async () => {
    const fromPth = await logitsFrom(fixture("tiny-resnet18d.pth"), 1)
    const fromSafetensors = await logitsFrom(fixture("tiny-resnet18d.safetensors"), 2)
    const torch = (JSON.parse(fs.readFileSync(fixture("tiny-resnet18d-logits.json"), "utf8")) as { logits: Array<number> }).logits
    expect(fromPth).toHaveLength(2 * 6)
    for (let i = 0; i < fromPth.length; i++) {
      expect(Math.abs(fromPth[i]! - fromSafetensors[i]!)).toBeLessThanOrEqual(1e-6)
      expect(Math.abs(fromPth[i]! - torch[i]!)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(torch[i]!)))
    }
  })

  it("keeps the checks of given weights: a .pth made for another model fails naming the file and tensor", async () => {
    const wider = buildResNet({ ...TINY, width: 1 / 8 }, 1)
    const exit = await Effect.runPromiseExit(loadCheckpoint(wider, fixture("tiny-resnet18d.pth")))
    wider.dispose()
    expect(failure(exit).message).toBe(
      `checkpoint ${fixture("tiny-resnet18d.pth")}, tensor conv1.0.weight (shape): the file has shape [2, 1, 3, 3], the model [4, 1, 3, 3]`,
    )
  })
})

describe("pickles that name anything but tensors and ordered dicts are refused, and nothing runs", () => {
  const refused = async (name: string): Promise<PthError> => {
    const existed = fs.existsSync(MARKER)
    const exit = await Effect.runPromiseExit(readPth(fixture(name)))
    // Nothing ran: the payload's file was not created (when it was not there before).
    if (!existed) expect(fs.existsSync(MARKER)).toBe(false)
    const error = failure(exit)
    expect(error._tag).toBe("PthError")
    return error
  }

  it("os.system (protocol 2, by hand)", async () => {
    const e = await refused("os-system.pth")
    expect(e.global).toBe("os.system")
    expect(e.message).toBe(
      `${fixture("os-system.pth")}: pickle names os.system, which a checkpoint may not: only tensors and ordered dicts are read (as torch.load(weights_only=True))`,
    )
  })

  it("builtins.eval, after an OrderedDict that was allowed", async () => {
    expect((await refused("builtins-eval.pth")).global).toBe("builtins.eval")
  })

  it("posix.system through STACK_GLOBAL (what Python's pickler writes for a __reduce__ at protocol 4)", async () => {
    expect((await refused("posix-system.pth")).global).toBe("posix.system")
  })

  it("a whole pickled module (torch.save(model)) names its class", async () => {
    const e = await refused("whole-model.pth")
    expect(e.global).toBe("__main__.HMSHBACSpecModel")
    // Also through the checkpoint loader, as training and inference read it.
    const model = buildResNet(TINY, 1)
    const exit = await Effect.runPromiseExit(loadCheckpoint(model, fixture("whole-model.pth")))
    model.dispose()
    expect(failure(exit).message).toContain("pickle names __main__.HMSHBACSpecModel, which a checkpoint may not")
  })

  it("opcodes that build objects are refused, named", () => {
    // INST collections.OrderedDict: allowed name, but INST builds an instance directly.
    const inst = readTorchPickle(Uint8Array.from(Buffer.from("\x80\x02(icollections\nOrderedDict\n.", "latin1")))
    expect(Either.isLeft(inst) && inst.left).toEqual({ global: "", detail: "INST at byte 3" })
    // INST of anything else names it.
    const instOs = readTorchPickle(Uint8Array.from(Buffer.from("\x80\x02(ios\nsystem\n.", "latin1")))
    expect(Either.isLeft(instOs) && instOs.left.global).toBe("os.system")
    // OBJ (0x6f) and EXT1 (0x82): not read.
    const obj = readTorchPickle(Uint8Array.of(0x80, 0x02, 0x28, 0x6f))
    expect(Either.isLeft(obj) && obj.left.detail).toBe("opcode OBJ at byte 3 is not read")
    const ext = readTorchPickle(Uint8Array.of(0x80, 0x02, 0x82, 0x01, 0x2e))
    expect(Either.isLeft(ext) && ext.left.detail).toBe("opcode EXT1 at byte 2 is not read")
    // REDUCE of an allowed storage type: not a function a checkpoint calls.
    const call = readTorchPickle(Uint8Array.from(Buffer.from("\x80\x02ctorch\nFloatStorage\n)R.", "latin1")))
    expect(Either.isLeft(call) && call.left.detail).toBe("torch.FloatStorage is called")
  })
})

describe("files that are not a torch.save archive of a state dict", () => {
  it("a file that is not a zip (torch < 1.6 or a renamed safetensors) says how to re-save it", () => {
    const bytes = fs.readFileSync(fixture("tiny-resnet18d.safetensors"))
    const r = parsePth(new Uint8Array(bytes), "best_model_fold0.pth")
    expect(Either.isLeft(r) && r.left.message).toMatch(/^best_model_fold0\.pth: not a zip archive: .* torch\.save\(torch\.load\(f, map_location='cpu'\), f\)/)
  })

  it("a compressed record is refused before it is inflated", () => {
    const zip = zipSync({ "a/data.pkl": new Uint8Array(1000), "a/version": Uint8Array.of(0x33) }, { level: 9 })
    const r = parsePth(zip, "x.pth")
    expect(Either.isLeft(r) && r.left.message).toMatch(/^x\.pth: record a\/(data\.pkl|version) is compressed/)
  })

  it("a dict holding something besides tensors asks for the state dict alone", () => {
    // {"epoch": 3}: what a training loop's checkpoint dict holds besides the weights.
    const pickle = Uint8Array.from(Buffer.from("\x80\x02}X\x05\x00\x00\x00epochK\x03s.", "latin1"))
    const zip = zipSync({ "ckpt/data.pkl": pickle }, { level: 0 })
    const r = parsePth(zip, "ckpt.pth")
    expect(Either.isLeft(r) && r.left.message).toBe(
      "ckpt.pth: state dict entry epoch is an int, not a tensor: save the model's state dict alone, torch.save(model.state_dict(), f)",
    )
  })

  it("a storage shorter than its tensor needs, or missing, names the tensor", () => {
    const entries = (storage: Uint8Array | undefined) => {
      const bytes = fs.readFileSync(fixture("dtypes.pth"))
      const r = parsePth(new Uint8Array(bytes), "d.pth")
      expect(Either.isRight(r)).toBe(true)
      // Rebuild the archive with storage 0 (the "half" tensor's) replaced.
      const files = unzipSync(new Uint8Array(bytes))
      if (storage === undefined) delete files["dtypes/data/0"]
      else files["dtypes/data/0"] = new Uint8Array(storage)
      return parsePth(zipSync(files, { level: 0 }), "d.pth")
    }
    const short = entries(new Uint8Array(3))
    expect(Either.isLeft(short) && short.left.message).toBe("d.pth: tensor half: storage dtypes/data/0 has 3 bytes, its 7 F16 elements need 14")
    const missing = entries(undefined)
    expect(Either.isLeft(missing) && missing.left.message).toBe("d.pth: tensor half: its storage dtypes/data/0 is not in the archive")
  })

  it("a pickle cut short is refused, not a crash", () => {
    const r = readTorchPickle(Uint8Array.from(Buffer.from("\x80\x02ccollections\nOrderedDict\n)R(X\x05\x00\x00", "latin1")))
    expect(Either.isLeft(r) && r.left.detail).toMatch(/^the pickle is cut short or malformed/)
  })
})

it("a wrapper prefix is dropped only when every name has it", async () => {
  const state = await Effect.runPromise(readPth(fixture("dtypes.pth")))
  const mixed = { metadata: undefined, tensors: new Map([...state.tensors].map(([k, t], i) => [i === 0 ? k : `model.${k}`, t])) }
  expect([...unwrapStateDict(mixed).tensors.keys()]).toEqual([...mixed.tensors.keys()])
  const wrapped = { metadata: undefined, tensors: new Map([...state.tensors].map(([k, t]) => [`module.model.${k}`, t])) }
  expect([...unwrapStateDict(wrapped).tensors.keys()]).toEqual([...state.tensors.keys()])
})
