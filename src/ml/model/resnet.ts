/**
 * ResNet-D (timm's `resnet18d` / `resnet34d`) as a pure builder over TF.js variables, NHWC.
 *
 * Architecture (timm `ResNet(BasicBlock, layers, stem_type='deep', stem_width=32, avg_down=True)`):
 * deep stem conv3x3/2 (32) -> BN -> ReLU -> conv3x3 (32) -> BN -> ReLU -> conv3x3 (64) -> BN -> ReLU
 * -> maxpool 3x3/2 pad 1; four stages of BasicBlocks (widths 64/128/256/512, first block of stages
 * 2-4 with stride 2); a block's shortcut is AvgPool 2x2/2 (ceil, padding not counted) -> conv1x1 ->
 * BN where stride or width changes; global average pool; linear head.
 *
 * `width` scales every channel width (stem and stages; default 1 = timm's): a narrow ResNet-D for
 * small problems and tests, with the same names (its checkpoints fit only models of its width).
 *
 * Names, order and torch shapes of `tensors` are those of timm's `state_dict()`, so checkpoints map
 * one to one. Initialisation follows timm's `ResNet.init_weights` in distribution, drawn from numpy's
 * legacy `RandomState(seed)` in state_dict order (each tensor in its PyTorch layout): convolutions
 * kaiming_normal_(mode='fan_out', nonlinearity='relu'), BN weight 1 / bias 0 with the last BN of every
 * block zeroed (`zero_init_last=True`, timm's default), running mean 0 / var 1, linear weight and bias
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's default `nn.Linear` init).
 */
import * as tf from "@tensorflow/tfjs"
import { RandomState } from "../../data/random-state.js"
import { addRelu, avgPool2x2Ceil, batchNorm, type BatchNormState, conv2d, globalAvgPool, linear, maxPool2d, OpShapeError } from "./ops.js"

export type ResNetVariant = "resnet18d" | "resnet34d"

export interface ResNetConfig {
  readonly variant: ResNetVariant
  readonly inChans: number
  readonly numClasses: number
  /** Multiplies every channel width (rounded, at least 1); default 1: timm's model. */
  readonly width?: number
}

/** One entry of timm's state_dict, in state_dict order. */
export interface NamedTensor {
  /** timm name, e.g. "conv1.0.weight", "bn1.running_mean", "layer1.0.downsample.2.weight", "fc.bias" */
  readonly name: string
  /** counter = num_batches_tracked (int64 in PyTorch) */
  readonly kind: "param" | "buffer" | "counter"
  /** TF.js layout: conv HWIO, linear [in, out], vectors [C]; counter: scalar int32 */
  readonly variable: tf.Variable
  /** how to convert to PyTorch layout (OIHW / [out, in]) */
  readonly layout: "conv" | "linear" | "vector" | "scalar"
  readonly torchShape: ReadonlyArray<number>
}

export interface ResNet {
  readonly config: ResNetConfig
  /** every state_dict entry, timm order and names */
  readonly tensors: ReadonlyArray<NamedTensor>
  /** the "param" ones, in state_dict order (= model.parameters() order) */
  readonly trainable: ReadonlyArray<tf.Variable>
  /** x: NHWC [B, H, W, inChans] float32. training=true uses batch stats and updates running stats + counters. */
  forward(x: tf.Tensor4D, training: boolean): tf.Tensor2D
  dispose(): void
}

/** BasicBlocks per stage. */
export const RESNET_STAGE_DEPTHS: Readonly<Record<ResNetVariant, ReadonlyArray<number>>> = {
  resnet18d: [2, 2, 2, 2],
  resnet34d: [3, 4, 6, 3],
}
export const RESNET_STAGE_WIDTHS: ReadonlyArray<number> = [64, 128, 256, 512]
/** Output widths of the three deep-stem convolutions (timm stem_width=32). */
export const DEEP_STEM_WIDTHS: ReadonlyArray<number> = [32, 32, 64]
export const CONV_KERNEL = 3
export const STEM_STRIDE = 2
export const STAGE_STRIDES: ReadonlyArray<number> = [1, 2, 2, 2]
export const MAX_POOL = { kernel: 3, stride: 2, padding: 1 } as const
/** kaiming_normal_ gain for ReLU: sqrt(2). */
const RELU_GAIN_SQUARED = 2

interface Conv {
  readonly weight: tf.Variable<tf.Rank.R4>
  readonly stride: number
  readonly padding: number
}

interface Block {
  readonly conv1: Conv
  readonly bn1: BatchNormState
  readonly conv2: Conv
  readonly bn2: BatchNormState
  readonly downsample?: { readonly pool: boolean; readonly conv: Conv; readonly bn: BatchNormState }
}

/** Collects the model's tensors in state_dict order while drawing their initial values. */
class Builder {
  readonly tensors: Array<NamedTensor> = []
  constructor(private readonly rs: RandomState) {}

  private add(name: string, kind: NamedTensor["kind"], layout: NamedTensor["layout"], torchShape: Array<number>, variable: tf.Variable): void {
    this.tensors.push({ name, kind, layout, torchShape, variable })
  }

  conv(name: string, inC: number, outC: number, k: number, stride: number): Conv {
    const std = Math.sqrt(RELU_GAIN_SQUARED / (outC * k * k))
    const torch = new Float32Array(outC * inC * k * k)
    for (let i = 0; i < torch.length; i++) torch[i] = this.rs.standardNormal() * std
    const weight = tf.tidy(() => tf.variable(tf.tensor4d(convTorchToTf(torch, [outC, inC, k, k]), [k, k, inC, outC]), true))
    this.add(`${name}.weight`, "param", "conv", [outC, inC, k, k], weight)
    return { weight, stride, padding: Math.floor(k / 2) }
  }

  bn(name: string, c: number, gamma: number): BatchNormState {
    const [weight, bias, runningMean, runningVar, numBatchesTracked] = tf.tidy(() => [
      tf.variable(tf.fill([c], gamma) as tf.Tensor1D, true),
      tf.variable(tf.zeros([c]) as tf.Tensor1D, true),
      tf.variable(tf.zeros([c]) as tf.Tensor1D, false),
      tf.variable(tf.ones([c]) as tf.Tensor1D, false),
      tf.variable(tf.scalar(0, "int32"), false),
    ]) as [tf.Variable<tf.Rank.R1>, tf.Variable<tf.Rank.R1>, tf.Variable<tf.Rank.R1>, tf.Variable<tf.Rank.R1>, tf.Variable<tf.Rank.R0>]
    this.add(`${name}.weight`, "param", "vector", [c], weight)
    this.add(`${name}.bias`, "param", "vector", [c], bias)
    this.add(`${name}.running_mean`, "buffer", "vector", [c], runningMean)
    this.add(`${name}.running_var`, "buffer", "vector", [c], runningVar)
    this.add(`${name}.num_batches_tracked`, "counter", "scalar", [], numBatchesTracked)
    return { weight, bias, runningMean, runningVar, numBatchesTracked }
  }

  linear(name: string, inF: number, outF: number): { weight: tf.Variable<tf.Rank.R2>; bias: tf.Variable<tf.Rank.R1> } {
    const bound = 1 / Math.sqrt(inF)
    const uniform = (): number => -bound + 2 * bound * this.rs.randomSample()
    const torch = new Float32Array(outF * inF)
    for (let i = 0; i < torch.length; i++) torch[i] = uniform()
    const b = new Float32Array(outF)
    for (let i = 0; i < outF; i++) b[i] = uniform()
    const weight = tf.tidy(() => tf.variable(tf.tensor2d(linearTorchToTf(torch, [outF, inF]), [inF, outF]), true))
    const bias = tf.tidy(() => tf.variable(tf.tensor1d(b), true))
    this.add(`${name}.weight`, "param", "linear", [outF, inF], weight)
    this.add(`${name}.bias`, "param", "vector", [outF], bias)
    return { weight, bias }
  }
}

/** OIHW -> HWIO. */
export function convTorchToTf(torch: Float32Array, [o, i, h, w]: ReadonlyArray<number>): Float32Array {
  const O = o!,
    I = i!,
    H = h!,
    W = w!
  const out = new Float32Array(torch.length)
  for (let a = 0; a < O; a++)
    for (let b = 0; b < I; b++)
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[((y * W + x) * I + b) * O + a] = torch[((a * I + b) * H + y) * W + x]!
  return out
}

/** HWIO -> OIHW. */
export function convTfToTorch(tfValues: Float32Array, [o, i, h, w]: ReadonlyArray<number>): Float32Array {
  const O = o!,
    I = i!,
    H = h!,
    W = w!
  const out = new Float32Array(tfValues.length)
  for (let a = 0; a < O; a++)
    for (let b = 0; b < I; b++)
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[((a * I + b) * H + y) * W + x] = tfValues[((y * W + x) * I + b) * O + a]!
  return out
}

/** [out, in] -> [in, out] (and back: the same transpose with the shape swapped). */
export function linearTorchToTf(torch: Float32Array, [o, i]: ReadonlyArray<number>): Float32Array {
  const O = o!,
    I = i!
  const out = new Float32Array(torch.length)
  for (let a = 0; a < O; a++) for (let b = 0; b < I; b++) out[b * O + a] = torch[a * I + b]!
  return out
}

export function linearTfToTorch(tfValues: Float32Array, [o, i]: ReadonlyArray<number>): Float32Array {
  const O = o!,
    I = i!
  const out = new Float32Array(tfValues.length)
  for (let a = 0; a < O; a++) for (let b = 0; b < I; b++) out[a * I + b] = tfValues[b * O + a]!
  return out
}

/**
 * A state_dict entry's values in PyTorch layout (float32; the counter as a float), from `tfValues`
 * (its TF.js-layout values, read beforehand with `readStateValues` where the backend allows no
 * synchronous read: webgpu) or read synchronously from the variable.
 */
export function toTorchLayout(t: NamedTensor, tfValues?: ArrayLike<number>): Float32Array {
  const values = Float32Array.from(tfValues ?? t.variable.dataSync())
  switch (t.layout) {
    case "conv":
      return convTfToTorch(values, t.torchShape)
    case "linear":
      return linearTfToTorch(values, t.torchShape)
    case "vector":
    case "scalar":
      return values
  }
}

/** Every state_dict entry's TF.js-layout values by name, read asynchronously (any backend). */
export async function readStateValues(tensors: ReadonlyArray<NamedTensor>): Promise<ReadonlyMap<string, Float32Array>> {
  const values = await Promise.all(tensors.map((t) => t.variable.data()))
  return new Map(tensors.map((t, i) => [t.name, Float32Array.from(values[i]!)]))
}

/** Sets a state_dict entry from values in PyTorch layout (e.g. read from a timm checkpoint). */
export function assignFromTorchLayout(t: NamedTensor, torch: ArrayLike<number>): void {
  const expected = t.torchShape.reduce((a, b) => a * b, 1)
  if (torch.length !== expected) {
    throw new OpShapeError({ op: `assign ${t.name}`, expected: `${expected} values for torch shape [${t.torchShape.join(", ")}]`, shape: [torch.length] })
  }
  const values = Float32Array.from(torch)
  const tfValues = t.layout === "conv" ? convTorchToTf(values, t.torchShape) : t.layout === "linear" ? linearTorchToTf(values, t.torchShape) : values
  tf.tidy(() => t.variable.assign(tf.tensor(tfValues, t.variable.shape, t.variable.dtype)))
}

/** A channel width scaled by `width` (rounded, at least 1). */
export const scaledWidth = (channels: number, width = 1): number => Math.max(1, Math.round(channels * width))

export function buildResNet(config: ResNetConfig, seed: number): ResNet {
  if (config.width !== undefined && !(Number.isFinite(config.width) && config.width > 0)) {
    throw new OpShapeError({ op: `${config.variant} width`, expected: "a positive finite width multiplier", shape: [config.width] })
  }
  const depths = RESNET_STAGE_DEPTHS[config.variant]
  const rs = new RandomState(seed)
  const b = new Builder(rs)
  const scaled = (channels: number) => scaledWidth(channels, config.width)

  const [s0, s1, s2] = DEEP_STEM_WIDTHS.map(scaled) as [number, number, number]
  const stemConvs = [b.conv("conv1.0", config.inChans, s0, CONV_KERNEL, STEM_STRIDE)]
  const stemBns = [b.bn("conv1.1", s0, 1)]
  stemConvs.push(b.conv("conv1.3", s0, s1, CONV_KERNEL, 1))
  stemBns.push(b.bn("conv1.4", s1, 1))
  stemConvs.push(b.conv("conv1.6", s1, s2, CONV_KERNEL, 1))
  stemBns.push(b.bn("bn1", s2, 1))

  const blocks: Array<Block> = []
  let inplanes = s2
  depths.forEach((depth, stage) => {
    const planes = scaled(RESNET_STAGE_WIDTHS[stage]!)
    for (let i = 0; i < depth; i++) {
      const stride = i === 0 ? STAGE_STRIDES[stage]! : 1
      const prefix = `layer${stage + 1}.${i}`
      const conv1 = b.conv(`${prefix}.conv1`, inplanes, planes, CONV_KERNEL, stride)
      const bn1 = b.bn(`${prefix}.bn1`, planes, 1)
      const conv2 = b.conv(`${prefix}.conv2`, planes, planes, CONV_KERNEL, 1)
      const bn2 = b.bn(`${prefix}.bn2`, planes, 0)
      let downsample: Block["downsample"]
      if (stride !== 1 || inplanes !== planes) {
        const conv = b.conv(`${prefix}.downsample.1`, inplanes, planes, 1, 1)
        const bn = b.bn(`${prefix}.downsample.2`, planes, 1)
        downsample = { pool: stride !== 1, conv, bn }
      }
      blocks.push(downsample === undefined ? { conv1, bn1, conv2, bn2 } : { conv1, bn1, conv2, bn2, downsample })
      inplanes = planes
    }
  })
  const fc = b.linear("fc", inplanes, config.numClasses)

  const tensors = b.tensors
  const trainable = tensors.filter((t) => t.kind === "param").map((t) => t.variable)

  const convBn = (x: tf.Tensor4D, conv: Conv, bn: BatchNormState, training: boolean, relu: boolean): tf.Tensor4D =>
    batchNorm(conv2d(x, conv.weight, conv.stride, conv.padding), bn, training, { relu })

  const forward = (x: tf.Tensor4D, training: boolean): tf.Tensor2D => {
    if (x.rank !== 4 || x.shape[3] !== config.inChans) {
      throw new OpShapeError({ op: `${config.variant}.forward`, expected: `[B, H, W, ${config.inChans}]`, shape: x.shape })
    }
    return tf.tidy(() => {
      let h = x
      for (let i = 0; i < stemConvs.length; i++) h = convBn(h, stemConvs[i]!, stemBns[i]!, training, true)
      h = maxPool2d(h, MAX_POOL.kernel, MAX_POOL.stride, MAX_POOL.padding)
      for (const block of blocks) {
        // A tidy per block frees, as the forward pass goes, what no gradient keeps (the last batch
        // norms' outputs, which addRelu does not save): the step's peak is the forward pass' end.
        const input = h
        h = tf.tidy(() => {
          const out = convBn(convBn(input, block.conv1, block.bn1, training, true), block.conv2, block.bn2, training, false)
          let shortcut = input
          if (block.downsample !== undefined) {
            const ds = block.downsample
            shortcut = convBn(ds.pool ? avgPool2x2Ceil(input) : input, ds.conv, ds.bn, training, false)
          }
          return addRelu(out, shortcut)
        })
      }
      return linear(globalAvgPool(h), fc.weight, fc.bias)
    })
  }

  return {
    config,
    tensors,
    trainable,
    forward,
    dispose: () => {
      for (const t of tensors) t.variable.dispose()
    },
  }
}
