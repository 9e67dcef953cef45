/**
 * ONNX export of cairn's ResNet-D (`buildResNet`): the eval-mode graph of `ResNet.forward(x,
 * false)` as an opset-17 ONNX model, NCHW like timm's, with the model's current weights.
 *
 * - input `input`: float32 [N, inChans, H, W] (N symbolic; H and W fixed by the options), output
 *   `logits`: float32 [N, numClasses], no softmax.
 * - initializers: every state_dict entry but `num_batches_tracked`, named and ordered as timm's
 *   `state_dict()`, in PyTorch layout (`toTorchLayout`: conv OIHW, `fc.weight` [out, in], used by
 *   Gemm with transB=1).
 * - nodes: Conv (explicit symmetric pads, as ops.ts' conv2d), BatchNormalization (inference form,
 *   epsilon 1e-5: ops.ts' eval batch norm), Relu, MaxPool 3x3/2 pad 1 (ONNX pads max pooling with
 *   -inf, like PyTorch), AveragePool 2x2/2 ceil_mode=1 count_include_pad=0 (`avgPool2x2Ceil`), Add,
 *   GlobalAveragePool, Flatten, Gemm.
 *
 * Node and value names follow timm's module paths (`conv1.0`, `layer2.0.downsample.0`, ...), so a
 * graph viewer reads like the PyTorch model.
 */
import { OnnxExportError } from "../ml-errors.js"
import type { ImgSize } from "../model/model-config.js"
import { BATCH_NORM_EPS } from "../model/ops.js"
import { type NamedTensor, RESNET_STAGE_DEPTHS, type ResNet, toTorchLayout } from "../model/resnet.js"
import { encodeOnnxModel, OnnxAttributeType, OnnxDataType, type OnnxAttribute, type OnnxNode, type OnnxTensor, type OnnxValueInfo } from "./onnx-proto.js"

/** ONNX opset and IR version written (IR 8 is the one that goes with opset 17). */
export const ONNX_OPSET = 17
export const ONNX_IR_VERSION = 8
export const ONNX_INPUT_NAME = "input"
export const ONNX_OUTPUT_NAME = "logits"
/** The symbolic batch dimension. */
export const ONNX_BATCH_DIM = "N"

/*
 * Strides of the ResNet-D graph. resnet.ts keeps these private (STEM_STRIDE, STAGE_STRIDES,
 * MAX_POOL), so they are restated here; the export test compares ONNX Runtime's logits with
 * `forward` at an odd input size, where any difference in stride, padding or pooling shows.
 */
const STEM_STRIDES: ReadonlyArray<number> = [2, 1, 1]
const STAGE_STRIDES: ReadonlyArray<number> = [1, 2, 2, 2]
const MAX_POOL = { kernel: 3, stride: 2, padding: 1 } as const
const SHORTCUT_POOL = { kernel: 2, stride: 2 } as const

export interface ResNetOnnxOptions {
  /** Side of the square input, fixed in the input's declared shape (ONNX Runtime rejects other sizes). */
  readonly imgSize: ImgSize
  /** ModelProto.producer_name; default "cairn". */
  readonly producer?: string
}

const intsAttr = (name: string, ints: ReadonlyArray<number>): OnnxAttribute => ({ name, type: OnnxAttributeType.INTS, ints })
const intAttr = (name: string, i: number): OnnxAttribute => ({ name, type: OnnxAttributeType.INT, i })
const floatAttr = (name: string, f: number): OnnxAttribute => ({ name, type: OnnxAttributeType.FLOAT, f })

/** True where a Float32Array's memory is little-endian (then its bytes are ONNX's raw_data as is). */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** float32 values as ONNX raw_data: fixed-width little-endian. */
function float32RawData(values: Float32Array): Uint8Array {
  if (HOST_LITTLE_ENDIAN) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
  const bytes = new Uint8Array(values.length * 4)
  const view = new DataView(bytes.buffer)
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true)
  return bytes
}

const tensorValueInfo = (name: string, dims: ReadonlyArray<number | string>): OnnxValueInfo => ({
  name,
  type: {
    tensor_type: {
      elem_type: OnnxDataType.FLOAT,
      shape: { dim: dims.map((d) => (typeof d === "number" ? { dim_value: d } : { dim_param: d })) },
    },
  },
})

/** Appends nodes in topological order; each node's one output is named after its module path. */
class GraphWriter {
  readonly nodes: Array<OnnxNode> = []
  constructor(
    private readonly modelName: string,
    private readonly tensors: ReadonlyMap<string, NamedTensor>,
  ) {}

  /** The name of a state_dict entry, checked to exist (the graph only references the model's tensors). */
  private param(name: string): NamedTensor {
    const t = this.tensors.get(name)
    if (t === undefined) throw new OnnxExportError({ model: this.modelName, detail: `the model has no tensor ${name}` })
    return t
  }

  private node(opType: string, name: string, input: ReadonlyArray<string>, attribute: ReadonlyArray<OnnxAttribute> = [], output = name): string {
    this.nodes.push({ op_type: opType, name, input, output: [output], attribute })
    return output
  }

  /** PyTorch `Conv2d(bias=False)` with `padding = kernel // 2`, as resnet.ts builds every convolution. */
  conv(x: string, module: string, stride: number): string {
    const weight = this.param(`${module}.weight`)
    const [, , kh, kw] = weight.torchShape
    if (weight.layout !== "conv" || kh === undefined || kw === undefined) {
      throw new OnnxExportError({ model: this.modelName, detail: `${weight.name} is not a convolution weight (torch shape [${weight.torchShape.join(", ")}])` })
    }
    const [ph, pw] = [Math.floor(kh / 2), Math.floor(kw / 2)]
    return this.node(
      "Conv",
      module,
      [x, weight.name],
      [
        intsAttr("kernel_shape", [kh, kw]),
        intsAttr("strides", [stride, stride]),
        intsAttr("pads", [ph, pw, ph, pw]),
        intsAttr("dilations", [1, 1]),
        intAttr("group", 1),
      ],
    )
  }

  /** Eval-mode BatchNorm2d: running stats, eps 1e-5 (opset 15+: one output unless training_mode). */
  batchNorm(x: string, module: string): string {
    const inputs = ["weight", "bias", "running_mean", "running_var"].map((p) => this.param(`${module}.${p}`).name)
    return this.node("BatchNormalization", module, [x, ...inputs], [floatAttr("epsilon", BATCH_NORM_EPS), intAttr("training_mode", 0)])
  }

  relu(x: string, module: string): string {
    return this.node("Relu", module, [x])
  }

  add(a: string, b: string, name: string): string {
    return this.node("Add", name, [a, b])
  }

  maxPool(x: string, module: string): string {
    const { kernel: k, stride: s, padding: p } = MAX_POOL
    return this.node(
      "MaxPool",
      module,
      [x],
      [intsAttr("kernel_shape", [k, k]), intsAttr("strides", [s, s]), intsAttr("pads", [p, p, p, p]), intAttr("ceil_mode", 0)],
    )
  }

  /** `AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)`: a trailing odd row/column is averaged alone. */
  shortcutPool(x: string, module: string): string {
    const { kernel: k, stride: s } = SHORTCUT_POOL
    return this.node(
      "AveragePool",
      module,
      [x],
      [intsAttr("kernel_shape", [k, k]), intsAttr("strides", [s, s]), intsAttr("pads", [0, 0, 0, 0]), intAttr("ceil_mode", 1), intAttr("count_include_pad", 0)],
    )
  }

  /** Global average pool, flatten to [N, C], then `fc`: Gemm(x, fc.weight [out, in], fc.bias, transB=1). */
  head(x: string, output: string): string {
    const pooled = this.node("GlobalAveragePool", "global_pool", [x])
    const flat = this.node("Flatten", "global_pool.flatten", [pooled], [intAttr("axis", 1)])
    const weight = this.param("fc.weight").name
    const bias = this.param("fc.bias").name
    return this.node("Gemm", "fc", [flat, weight, bias], [floatAttr("alpha", 1), floatAttr("beta", 1), intAttr("transA", 0), intAttr("transB", 1)], output)
  }

  has(name: string): boolean {
    return this.tensors.has(name)
  }
}

/** The nodes of `forward(x, false)`, walking the architecture the way `buildResNet` builds it. */
function resnetNodes(model: ResNet, graph: GraphWriter): void {
  const { variant } = model.config
  // The stem: conv1.{0,3,6} with BN conv1.1, conv1.4 and bn1, each followed by ReLU (conv1.2, conv1.5, act1).
  const stem = [
    { conv: "conv1.0", bn: "conv1.1", act: "conv1.2" },
    { conv: "conv1.3", bn: "conv1.4", act: "conv1.5" },
    { conv: "conv1.6", bn: "bn1", act: "act1" },
  ]
  let h = ONNX_INPUT_NAME
  stem.forEach((s, i) => {
    h = graph.relu(graph.batchNorm(graph.conv(h, s.conv, STEM_STRIDES[i]!), s.bn), s.act)
  })
  h = graph.maxPool(h, "maxpool")

  RESNET_STAGE_DEPTHS[variant].forEach((depth, stage) => {
    for (let i = 0; i < depth; i++) {
      const stride = i === 0 ? STAGE_STRIDES[stage]! : 1
      const block = `layer${stage + 1}.${i}`
      const a = graph.relu(graph.batchNorm(graph.conv(h, `${block}.conv1`, stride), `${block}.bn1`), `${block}.act1`)
      const out = graph.batchNorm(graph.conv(a, `${block}.conv2`, 1), `${block}.bn2`)
      let shortcut = h
      // resnet.ts adds a downsample where the stride or the width changes; its tensors say which blocks have one.
      if (graph.has(`${block}.downsample.1.weight`)) {
        const pooled = stride === 1 ? h : graph.shortcutPool(h, `${block}.downsample.0`)
        shortcut = graph.batchNorm(graph.conv(pooled, `${block}.downsample.1`, 1), `${block}.downsample.2`)
      } else if (stride !== 1) {
        throw new OnnxExportError({ model: variant, detail: `block ${block} has stride ${stride} but no downsample` })
      }
      h = graph.relu(graph.add(out, shortcut, `${block}.add`), `${block}.act2`)
    }
  })
  graph.head(h, ONNX_OUTPUT_NAME)
}

/**
 * Writes `model` (its current weights, eval mode) as the bytes of an `.onnx` file; `values` are its
 * TF.js-layout values by name (`readStateValues`, where the backend allows no synchronous read),
 * else read from the variables.
 */
export function resnetToOnnx(model: ResNet, options: ResNetOnnxOptions, values?: ReadonlyMap<string, Float32Array>): Uint8Array {
  const { variant, inChans, numClasses, width } = model.config
  const name = width === undefined || width === 1 ? variant : `${variant} (width ${width})`
  const exported = model.tensors.filter((t) => t.kind !== "counter")
  const graph = new GraphWriter(name, new Map(exported.map((t) => [t.name, t])))
  resnetNodes(model, graph)

  const used = new Set(graph.nodes.flatMap((n) => n.input))
  const unused = exported.filter((t) => !used.has(t.name)).map((t) => t.name)
  if (unused.length > 0) throw new OnnxExportError({ model: name, detail: `tensors not used by the graph: ${unused.join(", ")}` })

  const initializer: Array<OnnxTensor> = exported.map((t) => ({
    name: t.name,
    dims: t.torchShape,
    data_type: OnnxDataType.FLOAT,
    raw_data: float32RawData(toTorchLayout(t, values?.get(t.name))),
  }))

  return encodeOnnxModel({
    ir_version: ONNX_IR_VERSION,
    opset_import: [{ domain: "", version: ONNX_OPSET }],
    producer_name: options.producer ?? "cairn",
    doc_string: `${name}, ${inChans} input channel(s), ${numClasses} classes, ${options.imgSize}x${options.imgSize}; eval mode, logits (no softmax)`,
    graph: {
      name: variant,
      node: graph.nodes,
      initializer,
      input: [tensorValueInfo(ONNX_INPUT_NAME, [ONNX_BATCH_DIM, inChans, options.imgSize, options.imgSize])],
      output: [tensorValueInfo(ONNX_OUTPUT_NAME, [ONNX_BATCH_DIM, numClasses])],
    },
  })
}
