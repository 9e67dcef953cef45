/**
 * ONNX export of the ResNet-D models: the bytes decode back with the schema (opset, initializers in
 * state_dict order and PyTorch layout, input/output names and shapes), and ONNX Runtime's logits
 * equal `forward(x, false)` on the TF.js cpu backend. The models are perturbed first (random BN
 * running stats, BN weights and biases: with timm's init every block's last BN is zero and the
 * running stats are the identity, which would hide a mis-wired residual branch or BN), and run at
 * 40x36, odd after the max pool (10x9), so the ceil-mode shortcut pools see partial windows. Error
 * measure: max |onnx - tfjs| / max |tfjs|. Negative controls check that a wrong pooling attribute
 * is caught by the same comparison.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as tf from "@tensorflow/tfjs"
import { Either, Schema } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import { RandomState } from "../../../src/data/random-state.js"
import { ImgSize } from "../../../src/ml/model/model-config.js"
import { OnnxRuntimeError } from "../../../src/ml/ml-errors.js"
import { ONNX_IR_VERSION, ONNX_OPSET, resnetToOnnx } from "../../../src/ml/export/export-resnet.js"
import { decodeOnnxModel, encodeOnnxModel, type OnnxModel, type OnnxNode } from "../../../src/ml/export/onnx-proto.js"
import { loadOnnxSession, onnxRuntimeVersion, runOnnx } from "../../../src/ml/engines/onnxruntime/onnx-runtime.js"
import { assignFromTorchLayout, buildResNet, type ResNet, type ResNetConfig, toTorchLayout } from "../../../src/ml/model/resnet.js"

/** The square input's side (the model config's `imgSize`). */
const IMG_SIZE = ImgSize.make(40)
const BATCH = 3
const IN_CHANS = 1
const NUM_CLASSES = 6
/** max |diff| relative to max |logit| */
const LOGITS_TOL = 1e-5

beforeAll(async () => {
  await tf.setBackend("cpu")
})

/** BN stats and affine parameters away from their init, from a seeded generator; convs and fc keep their (random) init. */
function perturbBatchNorms(model: ResNet, seed: number): void {
  const rs = new RandomState(seed)
  for (const t of model.tensors) {
    if (t.layout !== "vector" || t.name.startsWith("fc.")) continue
    const z = Array.from({ length: t.torchShape[0]! }, () => rs.standardNormal())
    const values = t.name.endsWith(".running_var")
      ? z.map((v) => 0.5 + Math.abs(v))
      : t.name.endsWith(".running_mean")
        ? z.map((v) => 0.2 * v)
        : t.name.endsWith(".weight")
          ? z.map((v) => 1 + 0.3 * v)
          : z.map((v) => 0.2 * v)
    assignFromTorchLayout(t, values)
  }
}

function buildPerturbed(config: ResNetConfig, seed: number): ResNet {
  const model = buildResNet(config, seed)
  perturbBatchNorms(model, seed + 1)
  return model
}

/** N images of `IN_CHANS` = 1 channel: NHWC [N, H, W, 1] and NCHW [N, 1, H, W] are the same memory. */
function randomImages(seed: number): Float32Array {
  const rs = new RandomState(seed)
  return Float32Array.from({ length: BATCH * IN_CHANS * IMG_SIZE * IMG_SIZE }, () => rs.standardNormal())
}

function tfjsLogits(model: ResNet, images: Float32Array): Float32Array {
  const x = tf.tensor4d(images, [BATCH, IMG_SIZE, IMG_SIZE, IN_CHANS])
  const y = model.forward(x, false)
  const values = Float32Array.from(y.dataSync())
  x.dispose()
  y.dispose()
  return values
}

async function onnxLogits(bytes: Uint8Array, images: Float32Array): Promise<Float32Array> {
  const session = await loadOnnxSession(bytes, { threads: 1 })
  try {
    return await runOnnx(session, images, [BATCH, IN_CHANS, IMG_SIZE, IMG_SIZE])
  } finally {
    await session.release()
  }
}

function relMaxDiff(actual: Float32Array, expected: Float32Array): { maxDiff: number; maxAbs: number; rel: number } {
  let maxDiff = 0
  let maxAbs = 0
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i]! - expected[i]!))
    maxAbs = Math.max(maxAbs, Math.abs(expected[i]!))
  }
  return { maxDiff, maxAbs, rel: maxDiff / maxAbs }
}

/** The model with one node's attributes changed (a deliberately wrong export). */
function withNodeAttrs(bytes: Uint8Array, opType: string, change: Record<string, ReadonlyArray<number> | number>): Uint8Array {
  const model = decodeOnnxModel(bytes)
  const node = (n: OnnxNode): OnnxNode =>
    n.op_type !== opType
      ? n
      : {
          ...n,
          attribute: (n.attribute ?? []).map((a) => {
            const v = change[a.name]
            if (v === undefined) return a
            return typeof v === "number" ? { ...a, i: v } : { ...a, ints: v }
          }),
        }
  const changed: OnnxModel = { ...model, graph: { ...model.graph, node: model.graph.node.map(node) } }
  return encodeOnnxModel(changed)
}

const CASES: ReadonlyArray<ResNetConfig> = [
  { variant: "resnet18d", inChans: IN_CHANS, numClasses: NUM_CLASSES, width: 0.25 },
  { variant: "resnet34d", inChans: IN_CHANS, numClasses: NUM_CLASSES, width: 0.25 },
]

describe("resnetToOnnx: the written model", () => {
  it("decodes back with the schema: opset 17, IR 8, initializers = the state_dict without counters, in PyTorch layout", () => {
    const model = buildPerturbed(CASES[0]!, 3)
    try {
      const decoded = decodeOnnxModel(resnetToOnnx(model, { imgSize: IMG_SIZE, producer: "cairn-test" }))
      expect(decoded.ir_version).toBe(ONNX_IR_VERSION)
      expect(ONNX_IR_VERSION).toBe(8)
      expect(decoded.opset_import.map((o) => [o.domain ?? "", o.version])).toEqual([["", ONNX_OPSET]])
      expect(ONNX_OPSET).toBe(17)
      expect(decoded.producer_name).toBe("cairn-test")

      const exported = model.tensors.filter((t) => t.kind !== "counter")
      const init = decoded.graph.initializer
      expect(init.map((t) => t.name)).toEqual(exported.map((t) => t.name))
      expect(init.some((t) => t.name.endsWith("num_batches_tracked"))).toBe(false)
      expect(init.map((t) => t.name).slice(0, 2)).toEqual(["conv1.0.weight", "conv1.1.weight"])
      expect(init.map((t) => t.name)).toContain("layer2.0.downsample.2.running_var")
      init.forEach((t, i) => {
        const source = exported[i]!
        expect(t.dims, t.name).toEqual([...source.torchShape])
        expect(t.data_type, t.name).toBe(1)
        // Bit for bit (a byte comparison: a deep toEqual of the typed arrays takes seconds).
        const torch = toTorchLayout(source)
        const raw = Buffer.from(t.raw_data!)
        expect(raw.equals(Buffer.from(torch.buffer, torch.byteOffset, torch.byteLength)), t.name).toBe(true)
      })
      const fc = init.find((t) => t.name === "fc.weight")!
      expect(fc.dims).toEqual([NUM_CLASSES, 128])

      const dims = (v: (typeof decoded.graph.input)[number]) => v.type.tensor_type.shape.dim
      expect(decoded.graph.input.map((v) => v.name)).toEqual(["input"])
      expect(dims(decoded.graph.input[0]!)).toEqual([{ dim_param: "N" }, { dim_value: IN_CHANS }, { dim_value: IMG_SIZE }, { dim_value: IMG_SIZE }])
      expect(decoded.graph.input[0]!.type.tensor_type.elem_type).toBe(1)
      expect(decoded.graph.output.map((v) => v.name)).toEqual(["logits"])
      expect(dims(decoded.graph.output[0]!)).toEqual([{ dim_param: "N" }, { dim_value: NUM_CLASSES }])

      const count = (op: string) => decoded.graph.node.filter((n) => n.op_type === op).length
      const convs = exported.filter((t) => t.layout === "conv").length
      expect(count("Conv")).toBe(convs)
      expect(count("BatchNormalization")).toBe(convs)
      expect(count("AveragePool")).toBe(3)
      expect(count("MaxPool")).toBe(1)
      expect(count("Add")).toBe(8)
      expect(count("Gemm")).toBe(1)
      const ops = new Set(decoded.graph.node.map((n) => n.op_type))
      expect([...ops].sort()).toEqual(["Add", "AveragePool", "BatchNormalization", "Conv", "Flatten", "Gemm", "GlobalAveragePool", "MaxPool", "Relu"])
      const gemm = decoded.graph.node.at(-1)!
      expect(gemm.output).toEqual(["logits"])
      expect(gemm.attribute?.find((a) => a.name === "transB")?.i).toBe(1)
    } finally {
      model.dispose()
    }
  })

  // The reference implementation's checker (Debian: python3-onnx) where python3 imports onnx.
  const onnxPython =
    spawnSync("python3", ["-c", "import onnx"]).status === 0
      ? "python3"
      : spawnSync("/usr/bin/python3", ["-c", "import onnx"]).status === 0
        ? "/usr/bin/python3"
        : undefined
  it.skipIf(onnxPython === undefined)("passes the onnx package's full checker and strict shape inference (logits [N, 6])", () => {
    const model = buildPerturbed(CASES[1]!, 4)
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-onnx-check-"))
    try {
      const file = path.join(dir, "model.onnx")
      fs.writeFileSync(file, resnetToOnnx(model, { imgSize: IMG_SIZE }))
      const script = [
        "import onnx, sys",
        "m = onnx.load(sys.argv[1])",
        "onnx.checker.check_model(m, full_check=True)",
        "out = onnx.shape_inference.infer_shapes(m, strict_mode=True).graph.output[0]",
        "print([d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim])",
      ].join("\n")
      const run = spawnSync(onnxPython!, ["-c", script, file], { encoding: "utf8" })
      expect(run.stderr).toBe("")
      expect(run.stdout.trim()).toBe(`['N', ${NUM_CLASSES}]`)
    } finally {
      model.dispose()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("takes its input size as an ImgSize, which refuses 0 and 3.5 where the value enters", () => {
    expect(() => ImgSize.make(0)).toThrow(/Expected a positive number, actual 0/)
    expect(() => ImgSize.make(3.5)).toThrow(/Expected an integer, actual 3.5/)
    expect(Either.isLeft(Schema.decodeUnknownEither(ImgSize)(-4))).toBe(true)
    expect(Schema.decodeUnknownSync(ImgSize)(IMG_SIZE)).toBe(IMG_SIZE)
  })
})

describe("resnetToOnnx in ONNX Runtime", () => {
  it("reports the onnxruntime-node version", async () => {
    expect(await onnxRuntimeVersion()).toMatch(/^\d+\.\d+\.\d+/)
  })

  for (const [index, config] of CASES.entries()) {
    it(`${config.variant} width ${config.width}, ${BATCH}x${IN_CHANS}x${IMG_SIZE}x${IMG_SIZE}: logits equal forward(x, false) within ${LOGITS_TOL}`, async () => {
      const model = buildPerturbed(config, 10 + index)
      try {
        const images = randomImages(100 + index)
        const expected = tfjsLogits(model, images)
        const actual = await onnxLogits(resnetToOnnx(model, { imgSize: IMG_SIZE }), images)
        expect(actual.length).toBe(BATCH * NUM_CLASSES)
        const { maxDiff, maxAbs, rel } = relMaxDiff(actual, expected)
        console.log(
          `${config.variant} w${config.width}: max |diff| ${maxDiff.toExponential(3)}, max |logit| ${maxAbs.toFixed(4)}, relative ${rel.toExponential(3)}`,
        )
        expect(rel, `max |diff| ${maxDiff} / max |logit| ${maxAbs} = ${rel}`).toBeLessThanOrEqual(LOGITS_TOL)
      } finally {
        model.dispose()
      }
    })
  }

  describe("negative controls: a wrong export is caught", () => {
    const config = CASES[0]!
    let model: ResNet
    let images: Float32Array
    let expected: Float32Array
    let bytes: Uint8Array
    beforeAll(() => {
      model = buildPerturbed(config, 10)
      images = randomImages(100)
      expected = tfjsLogits(model, images)
      bytes = resnetToOnnx(model, { imgSize: IMG_SIZE })
      return () => model.dispose()
    })

    // count_include_pad alone changes nothing here: with pads 0 the ceil-mode overhang is not padding
    // (in ONNX Runtime as in PyTorch). The bug to catch is padding the odd edge and averaging the
    // zeros in (the same output shape, a different value in every partial window).
    it("a shortcut pool that pads the odd edge and counts the zeros moves the logits", async () => {
      const wrong = withNodeAttrs(bytes, "AveragePool", { pads: [0, 0, 1, 1], ceil_mode: 0, count_include_pad: 1 })
      const { rel } = relMaxDiff(await onnxLogits(wrong, images), expected)
      expect(rel).toBeGreaterThan(100 * LOGITS_TOL)
    })

    it("a max pool without padding moves the logits", async () => {
      const { rel } = relMaxDiff(await onnxLogits(withNodeAttrs(bytes, "MaxPool", { pads: [0, 0, 0, 0] }), images), expected)
      expect(rel).toBeGreaterThan(100 * LOGITS_TOL)
    })

    it("a floor-mode shortcut pool does not fit the strided branch (10x9 -> 5x4 vs 5x5)", async () => {
      await expect(onnxLogits(withNodeAttrs(bytes, "AveragePool", { ceil_mode: 0 }), images)).rejects.toThrow(OnnxRuntimeError)
    })

    it("a runOnnx input that does not fill its shape is a tagged error", async () => {
      const session = await loadOnnxSession(bytes, { threads: 1 })
      try {
        await expect(runOnnx(session, images.subarray(1), [BATCH, IN_CHANS, IMG_SIZE, IMG_SIZE])).rejects.toThrow(OnnxRuntimeError)
      } finally {
        await session.release()
      }
    })
  })
})
