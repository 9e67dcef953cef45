/**
 * Backend resolution: "auto" picks the first usable of tfjs-node-gpu, webgpu, tfjs-node, cpu+onednn,
 * wasm, cpu and agrees with the cheap probe; an explicitly requested backend that is missing fails
 * with BackendUnavailable; wasm comes with cairn's training kernels, cpu+onednn with the native ones
 * (and plain cpu, on the same TF.js backend, without them).
 */
import * as tf from "@tensorflow/tfjs"
import { Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import { engineIdentity } from "../../../../src/ml/engine.js"
import { loadOnednn } from "../../../../src/ml/engines/onednn/onednn-addon.js"
import { tfjsEngine, tfjsIdentity } from "../../../../src/ml/engines/tfjs/tfjs-engine.js"
import { FUSED_ADAMW } from "../../../../src/ml/train/adamw.js"
import {
  AUTO_ORDER,
  BACKEND_ORDER,
  BackendUnavailable,
  nvidiaGpuPresent,
  probeBackend,
  resolveBackend,
  resolveBackendPromise,
} from "../../../../src/ml/engines/tfjs/resolve-backend.js"
import { backendStatuses, tensorflowBindingPresent, webgpuForAuto } from "../../../../src/ml/engines/tfjs/backend-probe.js"
import { CHANNEL_MOMENTS } from "../../../../src/ml/engines/wasm/batch-norm.js"

describe("backend resolution", () => {
  it("the probe follows the documented order from what is installed, without touching TF.js", () => {
    const expected =
      tensorflowBindingPresent("@tensorflow/tfjs-node-gpu") && nvidiaGpuPresent()
        ? "tensorflow-gpu"
        : webgpuForAuto()
          ? "webgpu"
          : tensorflowBindingPresent("@tensorflow/tfjs-node")
            ? "tensorflow"
            : loadOnednn().available
              ? "cpu+onednn"
              : "wasm"
    expect(probeBackend()).toBe(expected)
    expect(BACKEND_ORDER).toEqual(["tensorflow-gpu", "webgpu", "tensorflow", "cpu+onednn", "wasm+onednn", "wasm", "cpu"])
    // wasm+onednn by name only: it loads wherever cpu+onednn does, slower and within 4 GiB.
    expect(AUTO_ORDER).toEqual(BACKEND_ORDER.filter((b) => b !== "wasm+onednn"))
  })

  it("auto resolves to the probed backend; on wasm the training kernels are registered, on cpu+onednn the native ones", async () => {
    const resolved = await resolveBackendPromise("auto")
    expect(resolved.name).toBe(probeBackend())
    if (resolved.name === "cpu+onednn") {
      expect(tf.getBackend()).toBe("cpu")
      expect(resolved.detail).toMatch(/cpu backend \+ oneDNN \S+ kernels/)
      expect(tf.getKernel(FUSED_ADAMW, "cpu")).toBeDefined()
    }
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
      if (
        tensorflowBindingPresent(name === "tensorflow" ? "@tensorflow/tfjs-node" : "@tensorflow/tfjs-node-gpu") &&
        (name === "tensorflow" || nvidiaGpuPresent())
      )
        continue
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
    // Plain cpu is TF.js' own kernels, even after cpu+onednn ran on the same TF.js backend.
    if (loadOnednn().available) {
      expect((await resolveBackendPromise("cpu+onednn")).name).toBe("cpu+onednn")
      expect(tf.getBackend()).toBe("cpu")
      expect(tf.getKernel(FUSED_ADAMW, "cpu")).toBeDefined()
      expect((await resolveBackendPromise("cpu")).name).toBe("cpu")
      expect(tf.getKernel(FUSED_ADAMW, "cpu")).toBeUndefined()
    }
    expect((await resolveBackendPromise("wasm")).name).toBe("wasm")
    expect(tf.getBackend()).toBe("wasm")
  })
})

describe("lean gradients (train/lean-gradients.ts)", () => {
  it("ReLU's gradient saves the output instead of the input, with TF.js' own bits (NaN, -0, infinities)", async () => {
    await resolveBackendPromise("cpu")
    const x = tf.tensor1d([1.5, -2, 0, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-30, -1e-30])
    const dy = tf.tensor1d([0.5, 2, 3, -4, 5, 6, 7, 8, -9])
    const viaOwn = tf.mul(dy, tf.cast(tf.step(x), "float32")).dataSync()
    const grad = tf
      .grad((xi: tf.Tensor) => tf.sum(tf.mul(tf.relu(xi), dy)))(x)
      .dataSync()
    expect(Array.from(grad)).toEqual(Array.from(viaOwn))
    const config = tf.getGradient("Relu")!
    expect(config.outputsToSave).toEqual([true])
    expect(config.inputsToSave ?? []).toEqual([])
  })
})

describe("cairn doctor's list", () => {
  it("has every backend, cpu+onednn with oneDNN's version and ISA where the addon loads, else why not", () => {
    const statuses = backendStatuses()
    expect(statuses.map((b) => b.backend)).toEqual([...BACKEND_ORDER])
    const native = statuses.find((b) => b.backend === "cpu+onednn")!
    const onednn = loadOnednn()
    if (onednn.available)
      expect(native).toEqual({ backend: "cpu+onednn", available: true, detail: expect.stringContaining(`oneDNN ${onednn.info.version} (${onednn.info.isa}`) })
    else expect(native).toEqual({ backend: "cpu+onednn", available: false, detail: `native kernels unavailable: ${onednn.reason}` })
  })
})

describe("engine identity with the oneDNN kernels", () => {
  const onednn = loadOnednn()
  it.runIf(onednn.available).each(["cpu+onednn", "wasm+onednn"] as const)(
    "%s names the library's version, its instruction set, threads and platform; threads change it",
    (backend) => {
      const one = tfjsIdentity(backend, 1)
      const two = tfjsIdentity(backend, 2)
      const version = onednn.available ? onednn.info.version : ""
      expect(one.backend).toBe(`${backend}-${version}`)
      expect(one.versions).toMatch(/@cairn\/onednn@\d+\.\d+\.\d+ sources:[0-9a-f]{16} onednn@\S+ isa:\S+ threads:1 /)
      expect(one.versions).toContain(`${process.platform}-${process.arch}`)
      expect(two).not.toEqual(one)
      // The two engines on the same addon are different engines (their results differ in the last bits).
      expect(tfjsIdentity(backend === "cpu+onednn" ? "wasm+onednn" : "cpu+onednn", 1).backend).not.toBe(one.backend)
      // Plain wasm is unchanged by threads (its kernels have none).
      expect(tfjsIdentity("wasm", 2)).toEqual(tfjsIdentity("wasm", 1))
    },
  )

  it("an unavailable addon makes 'auto' say why, outside the key; an explicit backend has no notice", async () => {
    const { Effect } = await import("effect")
    const auto = await Effect.runPromise(engineIdentity(tfjsEngine({ backend: "auto" })))
    const wasm = await Effect.runPromise(engineIdentity(tfjsEngine({ backend: "wasm" })))
    expect(wasm.notice).toBeUndefined()
    if (onednn.available) expect(auto).toMatchObject({ backend: expect.stringMatching(/^cpu\+onednn-/) })
    else expect(auto.notice).toBe(`native kernels unavailable: ${onednn.reason}`)
  })
})
