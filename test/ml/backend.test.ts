/**
 * Backend resolution: "auto" picks the first usable of tfjs-node-gpu, tfjs-node, wasm, cpu and agrees
 * with the cheap probe; an explicitly requested backend that is missing fails with BackendUnavailable;
 * wasm comes with cairn's training kernels.
 */
import { createRequire } from "node:module"
import * as tf from "@tensorflow/tfjs"
import { Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import { engineIdentity } from "../../src/ml/engine.js"
import { loadOnednn } from "../../src/ml/native/onednn.js"
import { tfjsEngine, tfjsIdentity } from "../../src/ml/tfjs-engine.js"
import { BACKEND_ORDER, BackendUnavailable, nvidiaGpuPresent, probeBackend, resolveBackend, resolveBackendPromise } from "../../src/ml/backend.js"
import { webgpuForAuto } from "../../src/ml/backend-probe.js"
import { CHANNEL_MOMENTS } from "../../src/ml/kernels/batch-norm.js"

const require_ = createRequire(import.meta.url)
const installed = (pkg: string): boolean => {
  try {
    require_.resolve(pkg)
    return true
  } catch (error) {
    if ((error as { code?: string }).code === "MODULE_NOT_FOUND") return false
    throw error
  }
}

describe("backend resolution", () => {
  it("the probe follows the documented order from what is installed, without touching TF.js", () => {
    const expected = installed("@tensorflow/tfjs-node-gpu") && nvidiaGpuPresent()
      ? "tensorflow-gpu"
      : webgpuForAuto()
        ? "webgpu"
        : installed("@tensorflow/tfjs-node")
        ? "tensorflow"
        : loadOnednn().available
          ? "wasm+onednn"
          : "wasm"
    expect(probeBackend()).toBe(expected)
    expect(BACKEND_ORDER).toEqual(["tensorflow-gpu", "webgpu", "tensorflow", "wasm+onednn", "wasm", "cpu"])
  })

  it("auto resolves to the probed backend; on wasm the training kernels are registered", async () => {
    const resolved = await resolveBackendPromise("auto")
    expect(resolved.name).toBe(probeBackend())
    if (resolved.name === "wasm" || resolved.name === "wasm+onednn") {
      expect(tf.getBackend()).toBe("wasm")
      expect(resolved.detail).toMatch(/tfjs-backend-wasm 4\.22\.0/)
      expect(tf.getKernel("Conv2DBackpropFilter", "wasm")).toBeDefined()
      expect(tf.getKernel(CHANNEL_MOMENTS, "wasm")).toBeDefined()
      // and it trains: a conv gradient exists (TF.js' wasm backend has no Conv2DBackpropFilter of its own)
      const g = tf.grad((w: tf.Tensor) => tf.sum(tf.conv2d(tf.ones([1, 5, 5, 2]) as tf.Tensor4D, w as tf.Tensor4D, 1, "same")))(tf.ones([3, 3, 2, 4]))
      expect(g.shape).toEqual([3, 3, 2, 4])
      expect(g.dataSync()[0]).toBe(16) // corner tap: 4 x 4 positions of ones
    }
  })

  it("an explicitly requested backend that is not installed fails with BackendUnavailable naming the package", async () => {
    for (const name of ["tensorflow", "tensorflow-gpu"] as const) {
      const result = await Effect.runPromise(Effect.either(resolveBackend(name)))
      if (installed(name === "tensorflow" ? "@tensorflow/tfjs-node" : "@tensorflow/tfjs-node-gpu") && (name === "tensorflow" || nvidiaGpuPresent())) continue
      expect(Either.isLeft(result)).toBe(true)
      if (Either.isLeft(result)) {
        expect(result.left).toBeInstanceOf(BackendUnavailable)
        expect(result.left.message).toContain(name === "tensorflow" ? "@tensorflow/tfjs-node" : "@tensorflow/tfjs-node-gpu")
      }
    }
  })

  it("cpu and wasm can be requested explicitly and switched between", async () => {
    expect((await resolveBackendPromise("cpu")).name).toBe("cpu")
    expect(tf.getBackend()).toBe("cpu")
    expect(tf.getKernel(CHANNEL_MOMENTS, "cpu")).toBeDefined()
    expect((await resolveBackendPromise("wasm")).name).toBe("wasm")
    expect(tf.getBackend()).toBe("wasm")
  })
})

describe("engine identity with the oneDNN kernels", () => {
  const onednn = loadOnednn()
  it.runIf(onednn.available)("names the library's version, its instruction set, threads and platform; threads change it", () => {
    const one = tfjsIdentity("wasm+onednn", 1)
    const two = tfjsIdentity("wasm+onednn", 2)
    const version = onednn.available ? onednn.info.version : ""
    expect(one.backend).toBe(`wasm+onednn-${version}`)
    expect(one.versions).toMatch(/@cairn\/onednn@\d+\.\d+\.\d+ sources:[0-9a-f]{16} onednn@\S+ isa:\S+ threads:1 /)
    expect(one.versions).toContain(`${process.platform}-${process.arch}`)
    expect(two).not.toEqual(one)
    // Plain wasm is unchanged by threads (its kernels have none).
    expect(tfjsIdentity("wasm", 2)).toEqual(tfjsIdentity("wasm", 1))
  })

  it("an unavailable addon makes 'auto' say why, outside the key; an explicit backend has no notice", async () => {
    const { Effect } = await import("effect")
    const auto = await Effect.runPromise(engineIdentity(tfjsEngine({ backend: "auto" })))
    const wasm = await Effect.runPromise(engineIdentity(tfjsEngine({ backend: "wasm" })))
    expect(wasm.notice).toBeUndefined()
    if (onednn.available) expect(auto).toMatchObject({ backend: expect.stringMatching(/^wasm\+onednn-/) })
    else expect(auto.notice).toBe(`native kernels unavailable: ${onednn.reason}`)
  })
})
