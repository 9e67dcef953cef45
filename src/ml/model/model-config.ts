/**
 * The model a config builds (architecture, input and output sizes, the per-window transform), what
 * building it needs of the config, and the batch loader options it implies: shared by training,
 * prediction, ONNX export and the ONNX Runtime engine.
 */
import { Either, Schema } from "effect"
import { TrainConfigError } from "../ml-errors.js"
import type { ImageTransform } from "../input/preprocess.js"
import type { ResNet, ResNetConfig, ResNetVariant } from "./resnet.js"

/**
 * Side of the square model input, in pixels: every window is resized to imgSize x imgSize. A
 * positive integer, checked once where the value enters (a stage's param, `ImgSize.make`): the
 * brand is how the rest of the code knows it was.
 */
export const ImgSize = Schema.Int.pipe(Schema.positive(), Schema.brand("ImgSize"))
export type ImgSize = typeof ImgSize.Type

/** The model a config builds: its architecture and input/output sizes. */
export interface ModelConfig {
  readonly variant: ResNetVariant
  /** Channels of the input images. */
  readonly inChans: number
  readonly numClasses: number
  /** Channel-width multiplier of the ResNet (default 1). */
  readonly width?: number
  /** Side of the square model input: every window is resized to imgSize x imgSize. */
  readonly imgSize: ImgSize
  /** Per-channel transform of every window before the resize. */
  readonly transform: ImageTransform
}
/** What a training loop needs of a model: the ResNet interface (tests pass smaller models). */
export type TrainableModel = ResNet

/** Checks what building a model needs of a config. */
export const checkModelConfig = (config: ModelConfig): Either.Either<void, TrainConfigError> => {
  const positiveInt: ReadonlyArray<keyof ModelConfig> = ["inChans", "numClasses"]
  for (const field of positiveInt) {
    const v = config[field]
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
      return Either.left(new TrainConfigError({ field, value: String(v), detail: "must be a positive integer" }))
    }
  }
  if (config.width !== undefined && !(Number.isFinite(config.width) && config.width > 0)) {
    return Either.left(new TrainConfigError({ field: "width", value: String(config.width), detail: "must be a positive finite number" }))
  }
  return Either.right(undefined)
}

/** The ResNet a config builds. */
export const resNetConfigOf = (config: ModelConfig): ResNetConfig => ({
  variant: config.variant,
  inChans: config.inChans,
  numClasses: config.numClasses,
  ...(config.width === undefined ? {} : { width: config.width }),
})

/** The batch loader options of a model config (and a fold's window checks). */
export const loaderOptions = (config: ModelConfig, data: { readonly windowShape?: readonly [number, number]; readonly cacheBytes?: number } = {}) => ({
  imgSize: config.imgSize,
  channels: config.inChans,
  transform: config.transform,
  ...(data.windowShape === undefined ? {} : { windowShape: data.windowShape }),
  ...(data.cacheBytes === undefined ? {} : { cacheBytes: data.cacheBytes }),
})
