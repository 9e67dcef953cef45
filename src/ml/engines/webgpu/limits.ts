/**
 * Whether a training step fits a WebGPU device's buffer limits, decided from shapes alone (pure: no
 * Dawn, no TF.js backend), so that a step too large for the adapter is refused before it runs.
 *
 * TF.js' WebGPU backend keeps every tensor in one GPUBuffer and binds it whole as a storage buffer,
 * so the largest tensor of a step must fit both `maxBufferSize` and `maxStorageBufferBindingSize`.
 * Past them nothing throws: createBuffer or the bind group fails validation, the command is dropped
 * and the step computes garbage (backend.ts). WebGPU's defaults (256 MiB and 128 MiB) are below the
 * seed's step (resnet34d at 512 px batch 32: the stem's 64-channel 256x256 activation is 512 MiB),
 * which is why dawn.ts asks for the adapter's own limits; this module checks that they are enough.
 *
 * In a ResNet-D step the largest tensors are the stem's activations and their gradients (same
 * shapes), at half the image size and the stem's widest channel count.
 */
import { Data } from "effect"
import {
  CONV_KERNEL,
  DEEP_STEM_WIDTHS,
  MAX_POOL,
  RESNET_STAGE_DEPTHS,
  RESNET_STAGE_WIDTHS,
  type ResNetConfig,
  STAGE_STRIDES,
  STEM_STRIDE,
  scaledWidth,
} from "../../model/resnet.js"

/** The two limits a TF.js tensor's buffer must fit (GPUSupportedLimits names). */
export interface WebgpuBufferLimits {
  readonly maxBufferSize: number
  readonly maxStorageBufferBindingSize: number
}

/** WebGPU's default limits: what a device gets when none are asked for. */
export const WEBGPU_DEFAULT_BUFFER_LIMITS: WebgpuBufferLimits = { maxBufferSize: 256 * 1024 ** 2, maxStorageBufferBindingSize: 128 * 1024 ** 2 }

/** TF.js keeps float32 activations and gradients. */
const BYTES_PER_ELEMENT = 4

/** One tensor a step holds: what it is (timm's module name and what of it) and its NHWC shape. */
export interface StepTensor {
  readonly name: string
  readonly shape: ReadonlyArray<number>
}

export const tensorBytes = (shape: ReadonlyArray<number>): number => shape.reduce((a, b) => a * b, 1) * BYTES_PER_ELEMENT

/** Output size of a k x k window with padding p and stride s over n (PyTorch's floor rule). */
const windowOut = (n: number, kernel: number, stride: number, padding: number): number => Math.floor((n + 2 * padding - kernel) / stride) + 1

/** What of the model the step's size depends on. */
export type StepModel = Pick<ResNetConfig, "variant" | "inChans" | "numClasses" | "width">

/**
 * The tensors of a ResNet-D training step at `imgSize` and `batch`, in forward order: the input,
 * every convolution's weight (HWIO) and output (NHWC; its batch norm's and ReLU's have the same
 * shape), the max pool's and shortcut pools' outputs, the head's weight. The backward pass's
 * gradients and AdamW's moments have these same shapes. Narrow models' largest can be a weight.
 */
export const resnetStepTensors = (config: StepModel, imgSize: number, batch: number): Array<StepTensor> => {
  const scaled = (c: number) => scaledWidth(c, config.width)
  const pad = Math.floor(CONV_KERNEL / 2)
  const out: Array<StepTensor> = [{ name: "input", shape: [batch, imgSize, imgSize, config.inChans] }]
  let size = imgSize
  let channels = config.inChans
  DEEP_STEM_WIDTHS.forEach((width, i) => {
    if (i === 0) size = windowOut(size, CONV_KERNEL, STEM_STRIDE, pad)
    out.push({ name: `conv1.${3 * i}.weight`, shape: [CONV_KERNEL, CONV_KERNEL, channels, scaled(width)] })
    out.push({ name: `conv1.${3 * i} output`, shape: [batch, size, size, scaled(width)] })
    channels = scaled(width)
  })
  size = windowOut(size, MAX_POOL.kernel, MAX_POOL.stride, MAX_POOL.padding)
  out.push({ name: "maxpool output", shape: [batch, size, size, channels] })
  RESNET_STAGE_DEPTHS[config.variant].forEach((depth, stage) => {
    const planes = scaled(RESNET_STAGE_WIDTHS[stage]!)
    for (let i = 0; i < depth; i++) {
      const stride = i === 0 ? STAGE_STRIDES[stage]! : 1
      const prefix = `layer${stage + 1}.${i}`
      if (stride !== 1) out.push({ name: `${prefix}.downsample.0 output`, shape: [batch, Math.ceil(size / 2), Math.ceil(size / 2), channels] })
      if (stride !== 1 || channels !== planes) out.push({ name: `${prefix}.downsample.1.weight`, shape: [1, 1, channels, planes] })
      size = windowOut(size, CONV_KERNEL, stride, pad)
      out.push({ name: `${prefix}.conv1.weight`, shape: [CONV_KERNEL, CONV_KERNEL, channels, planes] })
      out.push({ name: `${prefix}.conv1 output`, shape: [batch, size, size, planes] })
      out.push({ name: `${prefix}.conv2.weight`, shape: [CONV_KERNEL, CONV_KERNEL, planes, planes] })
      out.push({ name: `${prefix}.conv2 output`, shape: [batch, size, size, planes] })
      channels = planes
    }
  })
  out.push({ name: "fc.weight", shape: [channels, config.numClasses] })
  return out
}

/** The step's largest tensor (the first of equal ones). */
export const largestTensor = (tensors: ReadonlyArray<StepTensor>): StepTensor =>
  tensors.reduce((best, t) => (tensorBytes(t.shape) > tensorBytes(best.shape) ? t : best))

/** The tighter of the two limits, and its name. */
export const bindingLimit = (limits: WebgpuBufferLimits): { readonly name: keyof WebgpuBufferLimits; readonly bytes: number } =>
  limits.maxStorageBufferBindingSize <= limits.maxBufferSize
    ? { name: "maxStorageBufferBindingSize", bytes: limits.maxStorageBufferBindingSize }
    : { name: "maxBufferSize", bytes: limits.maxBufferSize }

const MIB = 1024 ** 2
const mib = (bytes: number): string => `${(bytes / MIB).toFixed(bytes < 10 * MIB ? 1 : 0)} MiB`

/** A training step holds a tensor larger than the WebGPU adapter lets one buffer be. */
export class WebgpuTensorTooLarge extends Data.TaggedError("WebgpuTensorTooLarge")<{
  readonly model: string
  readonly imgSize: number
  readonly batch: number
  readonly tensor: string
  readonly shape: ReadonlyArray<number>
  readonly bytes: number
  readonly limitName: keyof WebgpuBufferLimits
  readonly limit: number
  readonly adapter: string
  /** The largest batch that fits at this image size (0: not even one image). */
  readonly maxBatch: number
  /** The largest image size that fits at this batch (0: none). */
  readonly maxImgSize: number
}> {
  override get message(): string {
    const ways = [
      ...(this.maxBatch > 0 ? [`batch ${this.maxBatch} or less at ${this.imgSize} px`] : []),
      ...(this.maxImgSize > 0 ? [`image size ${this.maxImgSize} px or less at batch ${this.batch}`] : []),
      "a CPU backend (backend=wasm or the native engine)",
    ]
    return (
      `${this.model} at ${this.imgSize} px batch ${this.batch} holds ${this.tensor} [${this.shape.join(", ")}] = ${mib(this.bytes)} (${this.bytes} bytes) in one buffer; ` +
      `the WebGPU adapter ${this.adapter} allows at most ${mib(this.limit)} (${this.limitName} ${this.limit}): use ${ways.join(", or ")}`
    )
  }
}

/** The largest tensor's bytes of a step at this size and batch. */
const largestBytes = (config: StepModel, imgSize: number, batch: number): number => tensorBytes(largestTensor(resnetStepTensors(config, imgSize, batch)).shape)

/**
 * Whether a training step of `config` at `imgSize` and `batch` fits `limits`: undefined when it
 * does, else the refusal, with the largest batch and image size that would fit.
 */
export const stepTooLarge = (
  config: StepModel,
  imgSize: number,
  batch: number,
  limits: WebgpuBufferLimits,
  adapter: string,
): WebgpuTensorTooLarge | undefined => {
  const largest = largestTensor(resnetStepTensors(config, imgSize, batch))
  const bytes = tensorBytes(largest.shape)
  const limit = bindingLimit(limits)
  if (bytes <= limit.bytes) return undefined
  // Every tensor's size is proportional to the batch.
  const maxBatch = Math.floor(limit.bytes / largestBytes(config, imgSize, 1))
  let maxImgSize = imgSize
  while (maxImgSize > 0 && largestBytes(config, maxImgSize, batch) > limit.bytes) maxImgSize -= 1
  return new WebgpuTensorTooLarge({
    model: config.width === undefined || config.width === 1 ? config.variant : `${config.variant} (width ${config.width})`,
    imgSize,
    batch,
    tensor: largest.name,
    shape: largest.shape,
    bytes,
    limitName: limit.name,
    limit: limit.bytes,
    adapter,
    maxBatch,
    maxImgSize,
  })
}
