/**
 * Models are checked before use (issue 24): a fold model with 5 or 7 outputs, 3 input channels or
 * another input name fails naming its file with expected vs found, on ONNX Runtime and on TF.js,
 * instead of a silently wrong average (5) or `RangeError: offset is out of bounds` (7). Weights
 * holding NaN, and losses that become NaN, are errors saying so (not `cannot hash ... NaN` later).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as tf from "@tensorflow/tfjs"
import { Effect, Either, Exit, Option } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { RandomState } from "../../../../src/data/random-state.js"
import { saveCheckpoint, stateDictTensors } from "../../../../src/ml/model/checkpoint.js"
import { memoryWindow, type WindowSource } from "../../../../src/ml/input/window-dataset.js"
import { Predictor } from "../../../../src/ml/engine.js"
import { CheckpointMismatch, LossNotFinite, type MlError, ModelIoMismatch, renameFiles, SafetensorsError } from "../../../../src/ml/ml-errors.js"
import { resnetToOnnx } from "../../../../src/ml/export/export-resnet.js"
import { checkOnnxBatchOutput } from "../../../../src/ml/engines/onnxruntime/model-io.js"
import { onnxRuntimePredictor } from "../../../../src/ml/engines/onnxruntime/onnx-engine.js"
import { decodeOnnxModel, encodeOnnxModel } from "../../../../src/ml/export/onnx-proto.js"
import { evaluateCheckpoint, type PredictConfig, predictCheckpoints } from "../../../../src/ml/predict/predict.js"
import { assignFromTorchLayout, buildResNet, type ResNetConfig } from "../../../../src/ml/model/resnet.js"
import { writeSafetensors } from "../../../../src/ml/model/safetensors.js"
import { trainFold } from "../../../../src/ml/train/train-fold.js"
import type { TrainableModel } from "../../../../src/ml/model/model-config.js"
import { GOLDEN_TRANSFORM } from "../../input/golden-transform.js"
import { frozenModel, SYN_CLASSES, syntheticDataset } from "../../train/train-helpers.js"
import { ImgSize } from "../../../../src/ml/model/model-config.js"

const SIZE = 32
const WIDTH = 0.25
const CONFIG: PredictConfig = {
  variant: "resnet18d",
  inChans: 1,
  numClasses: 6,
  width: WIDTH,
  imgSize: ImgSize.make(SIZE),
  batchSize: 2,
  transform: GOLDEN_TRANSFORM,
}

let dir = ""
beforeAll(async () => {
  await tf.setBackend("cpu")
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-model-io-"))
})
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

/** Three positive 48x36 windows (an odd count: the last batch is partial). */
const windows = (): Array<WindowSource> => {
  const rs = new RandomState(5)
  return Array.from({ length: 3 }, (_, i) =>
    memoryWindow(`w${i}`, { data: Float32Array.from({ length: 48 * 36 }, () => Math.exp(rs.standardNormal())), height: 48, width: 36, order: "C" }),
  )
}

const failure = (exit: Exit.Exit<unknown, MlError>): MlError => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const e = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  if (e === undefined) throw new Error(`expected a typed failure, got ${String(exit.cause)}`)
  return e
}

const resnet = (over: Partial<ResNetConfig>) => buildResNet({ variant: "resnet18d", inChans: 1, numClasses: 6, width: WIDTH, ...over }, 3)

/** A model of `over` as an ONNX file, optionally edited; the file's path. */
const onnxFile = (name: string, over: Partial<ResNetConfig>, edit: (bytes: Uint8Array) => Uint8Array = (b) => b): string => {
  const model = resnet(over)
  const file = path.join(dir, name)
  fs.writeFileSync(file, edit(resnetToOnnx(model, { imgSize: ImgSize.make(SIZE) })))
  model.dispose()
  return file
}

const predictOnnx = (file: string) =>
  Effect.runPromiseExit(Effect.flatMap(Predictor, (p) => p.predict(CONFIG, [file], windows())).pipe(Effect.provide(onnxRuntimePredictor({ threads: 1 }))))

describe("ONNX Runtime's predictor checks each model before use", () => {
  it("a model with the 6 outputs runs", async () => {
    const exit = await predictOnnx(onnxFile("six.onnx", {}))
    expect(Exit.isSuccess(exit) && exit.value.mean.length).toBe(3 * 6)
  })

  for (const classes of [5, 7]) {
    it(`a model with ${classes} outputs fails naming its file, expected [batch, 6] vs found [N, ${classes}]`, async () => {
      const file = onnxFile(`classes-${classes}.onnx`, { numClasses: classes })
      const e = failure(await predictOnnx(file))
      expect(e).toBeInstanceOf(ModelIoMismatch)
      expect(e.message).toBe(
        `model ${file}: its output is "logits" float32 [N, ${classes}], expected one float32 tensor [batch, 6] (one logit per class): ` +
          "it was made for another task or configuration; use a model trained with this one",
      )
    })
  }

  it("a model taking 3 channels, or naming its input otherwise, fails on its input", async () => {
    const rgb = onnxFile("rgb.onnx", { inChans: 3 })
    const e = failure(await predictOnnx(rgb))
    expect(e.message).toContain(`model ${rgb}: its input is "input" float32 [N, 3, 32, 32], expected one float32 tensor "input" [N, 1, 32, 32]`)
    const renamed = onnxFile("renamed.onnx", {}, (bytes) => {
      const m = decodeOnnxModel(bytes)
      const rename = (n: string) => (n === "input" ? "x" : n)
      return encodeOnnxModel({
        ...m,
        graph: {
          ...m.graph,
          input: m.graph.input.map((v) => ({ ...v, name: rename(v.name) })),
          node: m.graph.node.map((n) => ({ ...n, input: n.input.map(rename) })),
        },
      })
    })
    expect(failure(await predictOnnx(renamed)).message).toContain(`model ${renamed}: its input is "x" float32 [N, 1, 32, 32]`)
  })

  it("a model that declares its class dimension free is still caught (ONNX Runtime infers [N, 5])", async () => {
    const file = onnxFile("free-classes.onnx", { numClasses: 5 }, (bytes) => {
      const m = decodeOnnxModel(bytes)
      const out = m.graph.output[0]!
      const dims = out.type.tensor_type.shape.dim
      const freed = { ...out, type: { tensor_type: { ...out.type.tensor_type, shape: { dim: [dims[0]!, { dim_param: "C" }] } } } }
      return encodeOnnxModel({ ...m, graph: { ...m.graph, output: [freed] } })
    })
    const e = failure(await predictOnnx(file))
    expect(e).toBeInstanceOf(ModelIoMismatch)
    expect(e.message).toContain(`model ${file}: its output is "logits" float32 [N, 5], expected one float32 tensor [batch, 6]`)
  })

  it("each batch's output is checked too, where the metadata could not tell", () => {
    expect(Either.isRight(checkOnnxBatchOutput(new Float32Array(12), 2, "m.onnx", 6))).toBe(true)
    const e = Either.getLeft(checkOnnxBatchOutput(new Float32Array(10), 2, "m.onnx", 6))
    expect(Option.getOrThrow(e).message).toContain("model m.onnx: its output is 10 values for a batch of 2 ([2, 5]), expected [batch, 6]")
  })
})

describe("TF.js checks each checkpoint before use", () => {
  const checkpoint = async (name: string, over: Partial<ResNetConfig>) => {
    const model = resnet(over)
    const file = path.join(dir, name)
    await Effect.runPromise(saveCheckpoint(model, file))
    model.dispose()
    return file
  }

  it("a checkpoint with 5 outputs or 3 input channels fails naming its file, before any tensor is compared", async () => {
    const five = await checkpoint("five.safetensors", { numClasses: 5 })
    const e = failure(await Effect.runPromiseExit(predictCheckpoints(CONFIG, [five], windows())))
    expect(e).toBeInstanceOf(ModelIoMismatch)
    expect(e.message).toMatch(
      new RegExp(`^model ${five}: its output is \\[batch, 5\\] \\(fc\\.weight \\[5, \\d+\\]\\), expected \\[batch, 6\\] \\(one logit per class\\)`),
    )
    const rgb = await checkpoint("rgb.safetensors", { inChans: 3 })
    const e2 = failure(await Effect.runPromiseExit(predictCheckpoints(CONFIG, [rgb], windows())))
    expect(e2.message).toMatch(
      new RegExp(`^model ${rgb}: its input is \\[N, H, W, 3\\] \\(conv1\\.0\\.weight \\[\\d+, 3, 3, 3\\]\\), expected \\[N, H, W, 1\\]`),
    )
  })

  it("a checkpoint holding NaN weights is refused naming the file and tensor (not a NaN loss hashed later)", async () => {
    const model = resnet({})
    const file = path.join(dir, "nan.safetensors")
    const tensors = stateDictTensors(model).map((t) => (t.dtype === "F32" ? { ...t, data: new Float32Array(t.data.length).fill(Number.NaN) } : t))
    await Effect.runPromise(writeSafetensors(file, tensors))
    model.dispose()
    const data = { windows: windows(), labels: new Float32Array(3 * 6).fill(1 / 6), classes: 6 }
    const e = failure(await Effect.runPromiseExit(evaluateCheckpoint({ ...CONFIG, loss: "kl" }, file, data)))
    expect(e).toBeInstanceOf(CheckpointMismatch)
    expect(e.message).toMatch(new RegExp(`^checkpoint ${file}, tensor conv1\\.0\\.weight \\(values\\): (\\d+) of \\1 values are NaN or infinite`))
  })

  it("finite weights whose outputs overflow give a LossNotFinite naming the checkpoint", async () => {
    const model = resnet({})
    const fcWeight = model.tensors.find((t) => t.name === "fc.weight")!
    const fcBias = model.tensors.find((t) => t.name === "fc.bias")!
    assignFromTorchLayout(fcWeight, new Float32Array(fcWeight.torchShape.reduce((a, b) => a * b, 1)))
    assignFromTorchLayout(
      fcBias,
      Float32Array.from({ length: 6 }, (_, k) => (k % 2 === 0 ? 3e38 : -3e38)),
    )
    const file = path.join(dir, "overflow.safetensors")
    await Effect.runPromise(saveCheckpoint(model, file))
    model.dispose()
    const data = { windows: windows(), labels: new Float32Array(3 * 6).fill(1 / 6), classes: 6 }
    const e = failure(await Effect.runPromiseExit(evaluateCheckpoint({ ...CONFIG, loss: "kl" }, file, data)))
    expect(e).toBeInstanceOf(LossNotFinite)
    expect(e.message).toMatch(new RegExp(`^checkpoint ${file}: its validation loss is (NaN|Infinity): the model's outputs are not finite`))
  })
})

describe("a loss that becomes NaN stops the fold saying where and what to do", () => {
  const train = syntheticDataset(8, 1)
  const val = syntheticDataset(4, 2)
  const config = {
    variant: "resnet18d" as const,
    inChans: 1,
    numClasses: SYN_CLASSES,
    imgSize: ImgSize.make(16),
    batchSize: 4,
    epochs: 2,
    lr: 1e-3,
    weightDecay: 0,
    patience: 5,
    seed: 1,
    loss: "kl" as const,
    schedule: { kind: "constant" as const },
    transform: GOLDEN_TRANSFORM,
  }
  /** frozenModel, whose logits turn NaN in training mode or in eval mode. */
  const nanIn =
    (mode: "training" | "eval") =>
    (c: ResNetConfig): TrainableModel => {
      const m = frozenModel(c)
      return {
        ...m,
        forward: (x, training) => (training === (mode === "training") ? tf.tidy(() => tf.mul(m.forward(x, training), Number.NaN)) : m.forward(x, training)),
      }
    }

  it("a NaN training loss: fold, epoch, step, lr and the way out", async () => {
    const exit = await Effect.runPromiseExit(
      trainFold(config, { fold: 0, train, val, outputDir: path.join(dir, "nan-train") }, { buildModel: nanIn("training") }),
    )
    const e = failure(exit)
    expect(e).toBeInstanceOf(LossNotFinite)
    expect(e.message).toBe(
      "fold 0: the training loss became NaN at epoch 1 step 1 (lr 0.001): training diverged; lower lr, or check the inputs and labels for extreme values",
    )
  })

  it("a NaN validation loss says so (it used to pass unseen, or end as 'never improved')", async () => {
    const exit = await Effect.runPromiseExit(trainFold(config, { fold: 3, train, val, outputDir: path.join(dir, "nan-val") }, { buildModel: nanIn("eval") }))
    const e = failure(exit)
    expect(e).toBeInstanceOf(LossNotFinite)
    expect(e.message).toMatch(/^fold 3: the validation loss became NaN at epoch 1 \(lr 0\.001 at its last step\): training diverged; lower lr/)
  })
})

describe("renameFiles", () => {
  it("shows a working copy's or the store's path as the user's name, keeping the error's tag", () => {
    const tmp = "/cache/tmp/15850-train_fold-0-x/best_model_fold0.safetensors"
    const e = new SafetensorsError({ file: tmp, tensor: "", detail: `cannot open ${tmp}` })
    const renamed = renameFiles(e, new Map([[tmp, "best_model_fold0.safetensors (output of train/fold-0)"]]))
    expect(renamed).toBeInstanceOf(SafetensorsError)
    expect(renamed.message).toBe(
      "safetensors best_model_fold0.safetensors (output of train/fold-0): cannot open best_model_fold0.safetensors (output of train/fold-0)",
    )
    expect(renameFiles(e, new Map([["/elsewhere", "x"]]))).toBe(e)
  })
})
