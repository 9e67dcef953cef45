/**
 * The WebGPU step-size check (src/ml/engines/webgpu/limits.ts) without a GPU: the shapes it predicts for a
 * ResNet-D step against the tensors a real step makes (cpu backend, under tf.profile), and the
 * refusal at the seed's size (resnet34d, 512 px, batch 32) under WebGPU's default limits and
 * llvmpipe's. The device-level half (the limits a device is granted, a buffer over them refused)
 * is in webgpu.test.ts.
 */
import * as tf from "@tensorflow/tfjs"
import { describe, expect, it } from "vitest"
import { AdamW } from "../../../../src/ml/train/adamw.js"
import { klDivLossWithLogits } from "../../../../src/ml/train/loss.js"
import { buildResNet, type ResNetConfig } from "../../../../src/ml/model/resnet.js"
import {
  bindingLimit,
  largestTensor,
  resnetStepTensors,
  stepTooLarge,
  tensorBytes,
  WEBGPU_DEFAULT_BUFFER_LIMITS,
  WebgpuTensorTooLarge,
} from "../../../../src/ml/engines/webgpu/limits.js"

const SEED = { variant: "resnet34d", inChans: 1, numClasses: 6 } as const
/** What Mesa 22.3's llvmpipe grants through Dawn's OpenGL ES backend (seen in webgpu.test.ts). */
const LLVMPIPE = { maxBufferSize: 2 ** 31, maxStorageBufferBindingSize: 2 ** 27 }
/** A discrete GPU's (Dawn on Vulkan allows 4 GiB buffers on NVIDIA's driver). */
const LARGE = { maxBufferSize: 2 ** 32, maxStorageBufferBindingSize: 2 ** 32 - 4 }

describe("the largest tensor of a ResNet-D training step", () => {
  it("is the stem's 64-channel activation at half the image size: 512 MiB at the seed's 512 px batch 32", () => {
    const largest = largestTensor(resnetStepTensors(SEED, 512, 32))
    expect(largest).toEqual({ name: "conv1.6 output", shape: [32, 256, 256, 64] })
    expect(tensorBytes(largest.shape)).toBe(536_870_912)
  })

  // The prediction against a real step: forward, loss, gradients and AdamW, every kernel's outputs.
  for (const [config, size, batch] of [
    [{ variant: "resnet18d", inChans: 1, numClasses: 3, width: 0.25 }, 37, 2],
    [{ variant: "resnet34d", inChans: 3, numClasses: 3, width: 0.125 }, 40, 1],
  ] as const) {
    it(`matches the tensors a ${config.variant} step makes on the cpu backend (${size} px, batch ${batch}, ${config.inChans} channels)`, async () => {
      await tf.setBackend("cpu")
      const model = buildResNet(config as ResNetConfig, 0)
      const optimizer = new AdamW(model.trainable)
      try {
        const info = await tf.profile(() => {
          const loss = tf.tidy(() => {
            const x = tf.randomNormal([batch, size, size, config.inChans], 0, 1, "float32", 1) as tf.Tensor4D
            const y = tf.softmax(tf.randomNormal([batch, config.numClasses], 0, 1, "float32", 2)) as tf.Tensor2D
            const { value, grads } = tf.variableGrads(() => klDivLossWithLogits(model.forward(x, true), y), model.trainable as Array<tf.Variable>)
            optimizer.step(model.trainable.map((v) => grads[v.name]!))
            return value
          })
          loss.dispose()
        })
        const seen = info.kernels.flatMap((k) => k.outputShapes.map((s) => JSON.stringify(s)))
        const predicted = resnetStepTensors(config, size, batch)
        for (const t of predicted) expect(seen, t.name).toContain(JSON.stringify(t.shape))
        const largestSeen = Math.max(...info.kernels.flatMap((k) => k.outputShapes.map((s) => tensorBytes(s))))
        expect(largestSeen).toBe(tensorBytes(largestTensor(predicted).shape))
      } finally {
        optimizer.dispose()
        model.dispose()
      }
    }, 120_000)
  }
})

describe("stepTooLarge", () => {
  it("refuses the seed's step under WebGPU's default limits, naming the tensor, the limit, the adapter and the way out", () => {
    const refusal = stepTooLarge(SEED, 512, 32, WEBGPU_DEFAULT_BUFFER_LIMITS, "some adapter")
    expect(refusal).toBeInstanceOf(WebgpuTensorTooLarge)
    expect(refusal?.message).toBe(
      "resnet34d at 512 px batch 32 holds conv1.6 output [32, 256, 256, 64] = 512 MiB (536870912 bytes) in one buffer; " +
        "the WebGPU adapter some adapter allows at most 128 MiB (maxStorageBufferBindingSize 134217728): " +
        "use batch 8 or less at 512 px, or image size 256 px or less at batch 32, or a CPU backend (backend=wasm or the native engine)",
    )
  })

  it("refuses it on llvmpipe (2 GiB buffers, 128 MiB bindings) and takes the largest sizes it names", () => {
    const refusal = stepTooLarge(SEED, 512, 32, LLVMPIPE, "llvmpipe")
    expect(refusal?.limitName).toBe("maxStorageBufferBindingSize")
    expect([refusal?.maxBatch, refusal?.maxImgSize]).toEqual([8, 256])
    expect(stepTooLarge(SEED, 512, 8, LLVMPIPE, "llvmpipe")).toBeUndefined()
    expect(stepTooLarge(SEED, 512, 9, LLVMPIPE, "llvmpipe")).toBeInstanceOf(WebgpuTensorTooLarge)
    expect(stepTooLarge(SEED, 256, 32, LLVMPIPE, "llvmpipe")).toBeUndefined()
    expect(stepTooLarge(SEED, 257, 32, LLVMPIPE, "llvmpipe")?.maxImgSize).toBe(256)
  })

  it("takes the seed's step where the adapter allows 4 GiB buffers, and names maxBufferSize when it is the tighter", () => {
    expect(stepTooLarge(SEED, 512, 32, LARGE, "gpu")).toBeUndefined()
    expect(bindingLimit({ maxBufferSize: 2 ** 28, maxStorageBufferBindingSize: 2 ** 30 })).toEqual({ name: "maxBufferSize", bytes: 2 ** 28 })
    // Not even one image fits: no batch to suggest.
    const none = stepTooLarge(SEED, 4096, 1, LLVMPIPE, "llvmpipe")
    expect(none?.maxBatch).toBe(0)
    expect(none?.message).toContain("use image size 1448 px or less at batch 1, or a CPU backend")
  })
})
