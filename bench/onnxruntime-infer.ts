/**
 * ONNX Runtime's inference speed for the bench (bench/train.ts): the ResNet-D (random init, eval
 * mode) written by `resnetToOnnx` and run on onnxruntime-node's CPU provider with `threads`
 * intra-op threads, over random NCHW batches, `warmup` untimed runs then `steps` timed ones.
 */
import * as tf from "@tensorflow/tfjs"
import { buildResNet, type ResNetVariant } from "../src/ml/model/resnet.js"
import { resnetToOnnx } from "../src/ml/export/export-resnet.js"
import { loadOnnxSession, onnxRuntimeVersion, runOnnx } from "../src/ml/engines/onnxruntime/onnx-runtime.js"
import { ImgSize } from "../src/ml/model/model-config.js"

export interface OnnxRuntimeInfer {
  readonly version: string
  readonly threads: number
  readonly batch: number
  readonly inferImagesPerSecond: number
  readonly medianStepMs: number
}

export async function measureOnnxRuntime(options: {
  readonly variant: ResNetVariant
  readonly classes: number
  readonly inChans: number
  readonly size: number
  readonly batch: number
  readonly steps: number
  readonly warmup: number
  readonly threads: number
}): Promise<OnnxRuntimeInfer> {
  const { size, batch, inChans } = options
  await tf.setBackend("cpu")
  const model = buildResNet({ variant: options.variant, inChans, numClasses: options.classes }, 0)
  const bytes = resnetToOnnx(model, { imgSize: ImgSize.make(size) })
  model.dispose()
  const session = await loadOnnxSession(bytes, { threads: options.threads })
  try {
    const images = Float32Array.from({ length: batch * inChans * size * size }, (_, i) => Math.sin(i * 12.9898) * 0.5)
    const shape = [batch, inChans, size, size] as const
    for (let i = 0; i < options.warmup; i++) await runOnnx(session, images, shape)
    const ms: Array<number> = []
    for (let i = 0; i < options.steps; i++) {
      const t0 = performance.now()
      await runOnnx(session, images, shape)
      ms.push(performance.now() - t0)
    }
    const total = ms.reduce((a, b) => a + b, 0)
    return {
      version: await onnxRuntimeVersion(),
      threads: options.threads,
      batch,
      inferImagesPerSecond: Math.round(((batch * options.steps) / (total / 1000)) * 100) / 100,
      medianStepMs: Math.round(ms.sort((a, b) => a - b)[Math.floor(ms.length / 2)]!),
    }
  } finally {
    await session.release()
  }
}
