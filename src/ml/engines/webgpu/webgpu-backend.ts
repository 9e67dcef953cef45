/**
 * TF.js' WebGPU backend (`@tensorflow/tfjs-backend-webgpu`) on Dawn, registered as "webgpu" with
 * cairn's training kernels (kernels.ts). `initWebgpuBackend` opens the device (dawn.ts), installs
 * WebGPU's globals, registers a backend factory over that device and makes it current.
 *
 * The package registers a factory of its own when it loads, if `navigator.gpu` exists then: that
 * one asks for an adapter without a feature level (none answers on GL-only drivers) and with
 * WebGPU's default limits. So `navigator.gpu` is installed only after the import, and the factory
 * here, over the device Dawn already opened, replaces any that was registered.
 *
 * In Node there is no synchronous read-back on this backend (TF.js reads through an
 * OffscreenCanvas): `dataSync()` throws `WebgpuSyncRead` (unless the values were already read),
 * `await data()` works.
 *
 * A WebGPU validation error does not throw: the command is dropped and its output keeps whatever
 * the buffer held. Dawn prints it on stderr; `webgpuDeviceErrors()` keeps them, so that a test can
 * tell a silent wrong answer from a right one.
 */
import * as tf from "@tensorflow/tfjs"
import { Data, Effect } from "effect"
import { describeAdapter, TFJS_WEBGPU_PACKAGE, WebgpuUnavailable } from "./adapter.js"
import { type Dawn, type DawnDevice, initDawn } from "./dawn.js"
import { registerWebgpuKernels } from "./webgpu-kernels.js"
import { stepTooLarge, type WebgpuTensorTooLarge } from "./limits.js"

/** The TF.js backend name. */
export const WEBGPU_TF_NAME = "webgpu"

/**
 * Below cpu (1) and wasm (2): TF.js picks the highest-priority backend itself when none was set,
 * and cairn always sets one.
 */
const FACTORY_PRIORITY = 0

interface TfjsWebgpuModule {
  readonly WebGPUBackend: new (device: DawnDevice, adapterInfo?: { vendor: string; architecture: string }) => tf.KernelBackend
}

/** `dataSync()` (or `arraySync()`, `bufferSync()`) of a tensor that lives on the GPU. */
export class WebgpuSyncRead extends Data.TaggedError("WebgpuSyncRead")<{ readonly cause: unknown }> {
  override get message(): string {
    return `a webgpu tensor cannot be read synchronously in Node (TF.js reads through an OffscreenCanvas, which Node lacks): use await data() (${String(this.cause)})`
  }
}

/** Validation and out-of-memory errors the device reported, oldest first (at most `MAX_KEPT_ERRORS`). */
const deviceErrors: Array<string> = []
const MAX_KEPT_ERRORS = 100

/** The device's uncaptured errors since the backend was set up on this thread (see the module comment). */
export const webgpuDeviceErrors = (): ReadonlyArray<string> => deviceErrors

/** TF.js' backend over the device, with a `readSync` that says what to do instead. */
const makeBackend = (pkg: TfjsWebgpuModule, dawn: Dawn): tf.KernelBackend => {
  const backend = new pkg.WebGPUBackend(dawn.device, dawn.gpuAdapter.info)
  const readSync = backend.readSync.bind(backend)
  backend.readSync = (dataId) => {
    try {
      return readSync(dataId)
    } catch (cause) {
      throw new WebgpuSyncRead({ cause })
    }
  }
  return backend
}

/** The backend up and current, and the device under it. */
export interface WebgpuBackend {
  readonly dawn: Dawn
}

/**
 * `navigator.gpu` and the WebGPU constants (GPUBufferUsage...) as TF.js reads them. Node 21+ has a
 * `navigator` of its own: `gpu` is added to it then.
 */
const installGlobals = (dawn: Dawn): void => {
  Object.assign(globalThis, dawn.globals)
  const g = globalThis as { navigator?: object }
  if (g.navigator === undefined) Object.defineProperty(globalThis, "navigator", { value: {}, configurable: true, writable: true })
  Object.defineProperty(g.navigator, "gpu", { value: dawn.gpu, configurable: true, writable: true })
}

let current: WebgpuBackend | undefined

/** Opens Dawn (once per thread) and makes "webgpu" TF.js' current backend. */
export const initWebgpuBackend = (options: { readonly allowSoftware: boolean }): Effect.Effect<WebgpuBackend, WebgpuUnavailable> =>
  Effect.gen(function* () {
    if (current !== undefined) {
      if (current.dawn.adapter.software && !options.allowSoftware) {
        return yield* new WebgpuUnavailable({ reason: "software-only", detail: `${current.dawn.adapter.device} is not allowed here` })
      }
    } else {
      const dawn = yield* initDawn(options)
      const pkg = yield* Effect.tryPromise({
        // Literal (code closures list it), typed here (its types pull in WebGPU's DOM globals).
        try: () => import("@tensorflow/tfjs-backend-webgpu" as string) as Promise<TfjsWebgpuModule>,
        catch: (cause) => new WebgpuUnavailable({ reason: "package-missing", detail: `${TFJS_WEBGPU_PACKAGE}: ${String(cause)}`, cause }),
      })
      installGlobals(dawn)
      dawn.device.addEventListener("uncapturederror", (event) => {
        if (deviceErrors.length < MAX_KEPT_ERRORS) deviceErrors.push(event.error.message)
      })
      if (tf.findBackendFactory(WEBGPU_TF_NAME) !== null) tf.removeBackend(WEBGPU_TF_NAME)
      tf.registerBackend(WEBGPU_TF_NAME, () => makeBackend(pkg, dawn), FACTORY_PRIORITY)
      registerWebgpuKernels()
      current = { dawn }
    }
    const ready = current
    yield* Effect.tryPromise({
      try: async () => {
        if (!(await tf.setBackend(WEBGPU_TF_NAME))) throw new Error("tf.setBackend returned false")
        await tf.ready()
      },
      catch: (cause) => new WebgpuUnavailable({ reason: "device-failed", detail: `TF.js backend initialisation: ${String(cause)}`, cause }),
    })
    return ready
  })

/** The device under the webgpu backend, once `initWebgpuBackend` has opened it on this thread. */
export const currentWebgpu = (): WebgpuBackend | undefined => current

/**
 * Refuses a training step whose largest tensor the device cannot hold in one buffer (limits.ts),
 * when "webgpu" is TF.js' current backend; on any other backend every step passes.
 */
export const ensureWebgpuStepFits = (config: Parameters<typeof stepTooLarge>[0], imgSize: number, batch: number): Effect.Effect<void, WebgpuTensorTooLarge> =>
  Effect.suspend(() => {
    if (current === undefined || tf.getBackend() !== WEBGPU_TF_NAME) return Effect.void
    const refusal = stepTooLarge(config, imgSize, batch, current.dawn.limits, describeAdapter(current.dawn.adapter))
    return refusal === undefined ? Effect.void : Effect.fail(refusal)
  })
