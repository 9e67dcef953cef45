/**
 * The ResNet-D builder against timm (golden values from test/golden/gen_resnet.py): state_dict
 * layout and parameter counts, timm's initialisation (in distribution; bit-identical per seed), and
 * a full forward/backward of resnet18d with fixed weights in eval and train mode on the wasm backend
 * with cairn's kernels. Error measure: relative L2 error ||a - b|| / ||b|| (ops-testing.ts).
 */
import * as tf from "@tensorflow/tfjs"
import "@tensorflow/tfjs-backend-wasm"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { RandomState } from "../../../src/data/random-state.js"
import { resolveBackendPromise } from "../../../src/ml/engines/tfjs/resolve-backend.js"
import { OpShapeError } from "../../../src/ml/model/ops.js"
import { assignFromTorchLayout, buildResNet, type NamedTensor, type ResNet, toTorchLayout } from "../../../src/ml/model/resnet.js"
import { expectRelClose, relativeError } from "./ops-testing.js"
import { RESNET_GOLDEN } from "./resnet-golden.js"

const LOGITS_TOL = 1e-4
const GRAD_TOL = 1e-4

const numel = (shape: ReadonlyArray<number>): number => shape.reduce((a, b) => a * b, 1)

/** The generator's `fill`: deterministic weights for state_dict entry i, in PyTorch layout. */
function goldenValues(t: NamedTensor, index: number): Float32Array | undefined {
  if (t.kind === "counter") return undefined
  const shape = t.torchShape
  const rs = new RandomState(RESNET_GOLDEN.forward.weightSeed + index)
  const z = Array.from({ length: numel(shape) }, () => rs.standardNormal())
  let v: Array<number>
  if (shape.length === 4) {
    const s = Math.sqrt(2 / (shape[1]! * shape[2]! * shape[3]!))
    v = z.map((x) => x * s)
  } else if (t.name === "fc.weight") {
    const s = Math.sqrt(1 / shape[1]!)
    v = z.map((x) => x * s)
  } else if (t.name.endsWith("running_var")) v = z.map((x) => 1 + 0.1 * Math.abs(x))
  else if (t.name.endsWith(".weight")) v = z.map((x) => 1 + 0.1 * x)
  else v = z.map((x) => 0.1 * x)
  return Float32Array.from(v)
}

const byName = (model: ResNet, name: string): NamedTensor => {
  const t = model.tensors.find((e) => e.name === name)
  if (t === undefined) throw new Error(`no tensor ${name}`)
  return t
}

beforeAll(async () => {
  const resolved = await resolveBackendPromise("wasm")
  expect(resolved.name).toBe("wasm")
})

describe("state_dict layout", () => {
  for (const variant of ["resnet18d", "resnet34d"] as const) {
    it(`${variant}: names, order, kinds and torch shapes are timm's; parameter count`, () => {
      const model = buildResNet({ variant, inChans: 1, numClasses: 6 }, 0)
      try {
        const actual = model.tensors.map((t) => [t.name, t.kind, [...t.torchShape]])
        expect(actual).toEqual(RESNET_GOLDEN.layouts[variant])
        const params = model.trainable.reduce((a, v) => a + v.size, 0)
        expect(params).toBe(RESNET_GOLDEN.paramCounts[variant])
        // resnet34d(in_chans=1, num_classes=6) has 21,306,406 parameters
        if (variant === "resnet34d") expect(params).toBe(21_306_406)
        // TF.js layouts: conv HWIO, linear [in, out].
        for (const t of model.tensors) {
          const [o, i, h, w] = t.torchShape
          if (t.layout === "conv") expect(t.variable.shape).toEqual([h, w, i, o])
          else if (t.layout === "linear") expect(t.variable.shape).toEqual([i, o])
          else expect(t.variable.shape).toEqual([...t.torchShape])
          expect(t.variable.dtype).toBe(t.kind === "counter" ? "int32" : "float32")
          expect(t.variable.trainable).toBe(t.kind === "param")
        }
        expect(model.trainable).toEqual(model.tensors.filter((t) => t.kind === "param").map((t) => t.variable))
      } finally {
        model.dispose()
      }
    })
  }
})

describe("initialisation (timm ResNet.init_weights, drawn from RandomState(seed))", () => {
  let a: ResNet
  let b: ResNet
  let c: ResNet
  beforeAll(() => {
    a = buildResNet({ variant: "resnet18d", inChans: 1, numClasses: 6 }, 42)
    b = buildResNet({ variant: "resnet18d", inChans: 1, numClasses: 6 }, 42)
    c = buildResNet({ variant: "resnet18d", inChans: 1, numClasses: 6 }, 43)
  })
  afterAll(() => {
    for (const m of [a, b, c]) m.dispose()
  })

  it("same seed gives bit-identical weights, another seed other weights", () => {
    a.tensors.forEach((t, i) => {
      expect(Buffer.from(t.variable.dataSync().buffer).equals(Buffer.from(b.tensors[i]!.variable.dataSync().buffer)), t.name).toBe(true)
    })
    expect(Array.from(byName(a, "layer1.0.conv1.weight").variable.dataSync())).not.toEqual(Array.from(byName(c, "layer1.0.conv1.weight").variable.dataSync()))
  })

  it("convolutions are kaiming_normal_(fan_out, relu), drawn in PyTorch (OIHW) order", () => {
    const conv = byName(a, "layer4.1.conv1.weight") // [512, 512, 3, 3]
    const values = toTorchLayout(conv)
    const fanOut = 512 * 3 * 3
    const std = Math.sqrt(2 / fanOut)
    const mean = values.reduce((s, v) => s + v, 0) / values.length
    const sd = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length)
    expect(Math.abs(mean)).toBeLessThan(0.01 * std)
    expect(Math.abs(sd / std - 1)).toBeLessThan(0.005)
    // The very first draws of the seed are conv1.0.weight's first entries (torch layout).
    const first = toTorchLayout(byName(a, "conv1.0.weight"))
    const rs = new RandomState(42)
    const stemStd = Math.sqrt(2 / (32 * 3 * 3))
    for (let i = 0; i < 5; i++) expect(first[i]).toBe(Math.fround(rs.standardNormal() * stemStd))
  })

  it("BN weight 1 / bias 0, the last BN of every block zeroed (zero_init_last), running stats 0/1, counters 0", () => {
    for (const t of a.tensors) {
      const v = Array.from(t.variable.dataSync())
      if (t.kind === "counter") expect(v).toEqual([0])
      else if (t.name.endsWith("running_mean")) expect(v.every((x) => x === 0)).toBe(true)
      else if (t.name.endsWith("running_var")) expect(v.every((x) => x === 1)).toBe(true)
      else if (t.layout === "vector" && t.name.endsWith(".bias") && t.name !== "fc.bias")
        expect(
          v.every((x) => x === 0),
          t.name,
        ).toBe(true)
      else if (t.layout === "vector" && t.name.endsWith(".weight")) {
        const zero = /^layer\d\.\d+\.bn2\.weight$/.test(t.name)
        expect(
          v.every((x) => x === (zero ? 0 : 1)),
          t.name,
        ).toBe(true)
      }
    }
  })

  it("linear weight and bias are U(-1/sqrt(fan_in), 1/sqrt(fan_in))", () => {
    const bound = 1 / Math.sqrt(512)
    const w = Array.from(byName(a, "fc.weight").variable.dataSync())
    const bias = Array.from(byName(a, "fc.bias").variable.dataSync())
    for (const v of [...w, ...bias]) expect(Math.abs(v)).toBeLessThanOrEqual(bound)
    const sd = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length)
    expect(Math.abs(sd / (bound / Math.sqrt(3)) - 1)).toBeLessThan(0.05)
  })
})

describe("forward and backward match timm (resnet18d, 3x1x64x64, fixed weights)", () => {
  const g = RESNET_GOLDEN.forward
  let model: ResNet
  let x: tf.Tensor4D
  beforeAll(() => {
    model = buildResNet({ variant: "resnet18d", inChans: 1, numClasses: 6 }, 0)
    model.tensors.forEach((t, i) => {
      const values = goldenValues(t, i)
      if (values !== undefined) assignFromTorchLayout(t, values)
    })
    const [n, c, h, w] = g.input as [number, number, number, number]
    const rs = new RandomState(g.inputSeed)
    const nchw = Float32Array.from({ length: n * c * h * w }, () => rs.standardNormal())
    x = tf.tidy(() => tf.transpose(tf.tensor4d(nchw, [n, c, h, w]), [0, 2, 3, 1]))
  })
  afterAll(() => {
    model.dispose()
    x.dispose()
  })

  it("eval mode logits (running stats)", () => {
    const logits = model.forward(x, false)
    expect(logits.shape).toEqual([3, 6])
    expectRelClose(logits.dataSync(), g.logitsEval, LOGITS_TOL, "eval logits")
    logits.dispose()
    expect(byName(model, "bn1.num_batches_tracked").variable.dataSync()[0]).toBe(0)
  })

  it("train mode inside tf.variableGrads: logits, running stats, counters and gradients", () => {
    const rs = new RandomState(g.cotangentSeed)
    const r = tf.tensor2d(
      Float32Array.from({ length: 18 }, () => rs.standardNormal()),
      [3, 6],
    )
    let logits: tf.Tensor | undefined
    const trainable = model.trainable as Array<tf.Variable>
    const { value, grads } = tf.variableGrads(() => {
      const y = model.forward(x, true)
      logits = tf.keep(y.clone())
      return tf.sum(tf.mul(y, r)) as tf.Scalar
    }, trainable)
    expectRelClose(logits!.dataSync(), g.logitsTrain, LOGITS_TOL, "train logits")

    for (const [name, values] of Object.entries(g.buffersAfterTrain)) {
      expectRelClose(byName(model, name).variable.dataSync(), values, 1e-5, name)
    }
    for (const t of model.tensors.filter((e) => e.kind === "counter")) {
      expect(t.variable.dataSync()[0], t.name).toBe(g.numBatchesTracked)
    }

    const paramNames = model.tensors.filter((t) => t.kind === "param").map((t) => t.name)
    expect(g.gradNorms.map(([n]) => n)).toEqual(paramNames)
    const norms = model.tensors
      .filter((t) => t.kind === "param")
      .map((t) => Math.sqrt(Array.from(grads[t.variable.name]!.dataSync()).reduce((s, v) => s + v * v, 0)))
    g.gradNorms.forEach(([name, expected], i) => {
      expect(Math.abs(norms[i]! - (expected as number)) / (expected as number), `grad norm of ${name}`).toBeLessThanOrEqual(GRAD_TOL)
    })
    for (const [name, values] of Object.entries(g.grads)) {
      expectRelClose(grads[byName(model, name).variable.name]!.dataSync(), values, GRAD_TOL, `grad of ${name}`)
    }
    tf.dispose([value, r, logits!, ...Object.values(grads)])
  })

  it("rejects an input with the wrong channel count, naming the shape", () => {
    const bad = tf.zeros([1, 8, 8, 3]) as tf.Tensor4D
    expect(() => model.forward(bad, false)).toThrow(OpShapeError)
    expect(() => model.forward(bad, false)).toThrow("[1, 8, 8, 3]")
    bad.dispose()
  })
})

describe("layout conversion and disposal", () => {
  it("toTorchLayout / assignFromTorchLayout round-trip every entry; wrong sizes are rejected", () => {
    const a = buildResNet({ variant: "resnet18d", inChans: 2, numClasses: 3 }, 5)
    const b = buildResNet({ variant: "resnet18d", inChans: 2, numClasses: 3 }, 6)
    try {
      a.tensors.forEach((t, i) => assignFromTorchLayout(b.tensors[i]!, toTorchLayout(t)))
      a.tensors.forEach((t, i) => expect(relativeError(b.tensors[i]!.variable.dataSync(), t.variable.dataSync()), t.name).toBe(0))
      expect(() => assignFromTorchLayout(b.tensors[0]!, new Float32Array(3))).toThrow(OpShapeError)
    } finally {
      a.dispose()
      b.dispose()
    }
  })

  it("dispose releases every tensor the model made; forward leaks nothing", () => {
    const before = tf.memory().numTensors
    const model = buildResNet({ variant: "resnet18d", inChans: 1, numClasses: 6 }, 1)
    const x = tf.ones([2, 32, 32, 1]) as tf.Tensor4D
    const mid = tf.memory().numTensors
    model.forward(x, true).dispose()
    model.forward(x, false).dispose()
    expect(tf.memory().numTensors).toBe(mid)
    x.dispose()
    model.dispose()
    expect(tf.memory().numTensors).toBe(before)
  })
})
