/**
 * Training kernels for TF.js' `wasm` backend.
 *
 * The wasm backend ships fast XNNPACK forward convolutions but no `Conv2DBackpropFilter`, a scalar
 * `Conv2DBackpropInput`, and re-packs every new filter after a slow scalar transpose. Registered here
 * (see `engines/wasm/conv.ts` for the maths):
 *
 * - `Conv2D`: the backend's XNNPACK convolution, or im2col + XNNPACK GEMM for wide, spatially small
 *   layers (no filter transpose).
 * - `Conv2DBackpropFilter`: im2col^T @ dy as XNNPACK GEMMs (the default: faster for every ResNet
 *   layer measured), or a convolution of x (batch/channel swapped) by dy with dilation = stride.
 * - `Conv2DBackpropInput`: one stride-1 convolution of dy per stride phase (flipped, in/out-swapped
 *   taps), interleaved into dx; each on either engine, as the forward.
 * - `MaxPoolGrad`: one pass that routes dy to the first maximum of each window (TF.js' wasm kernel
 *   re-scans every window for every output).
 * - `Identity`: shares the data instead of copying it (TF.js clones every tensor saved for the
 *   backward pass through Identity: the copy doubled the memory of a training step).
 * - The batch-norm host kernels of `ops.ts` (`engines/wasm/batch-norm.ts`).
 *
 * `registerWasmTrainingKernels()` is idempotent and needs `@tensorflow/tfjs-backend-wasm` imported
 * (it registers the base kernels we build on); it works before or after the backend is initialised.
 *
 * The kernels oneDNN provides (`engines/onednn/onednn-kernels.ts`) are registered switchable (native-kernels.ts):
 * `useOnednnKernels(addon)` routes them to the native addon on this thread, `useOnednnKernels(undefined)`
 * back to the wasm kernels above (the "wasm+onednn" and "wasm" backends share TF.js' wasm backend).
 */
import * as tf from "@tensorflow/tfjs"
import { Data } from "effect"
import type { OnednnAddon } from "../onednn/onednn-addon.js"
import { captureBaseKernels, CONV_KERNELS } from "./conv.js"
import { POOL_KERNELS, WRAPPED_KERNELS } from "./pool.js"
import { registerHostKernels } from "../../model/ops.js"
import { registerSwitchableKernels, useNativeKernels } from "../onednn/native-kernels.js"

export const WASM_BACKEND = "wasm" as const

export class WasmKernelMissing extends Data.TaggedError("WasmKernelMissing")<{ readonly kernelName: string }> {
  override get message(): string {
    return `wasm kernel ${this.kernelName} is not registered: import "@tensorflow/tfjs-backend-wasm" before registerWasmTrainingKernels()`
  }
}

let registered = false

export function registerWasmTrainingKernels(): void {
  if (registered) return
  captureBaseKernels((name) => {
    const config = tf.getKernel(name, WASM_BACKEND)
    if (config === undefined) throw new WasmKernelMissing({ kernelName: name })
    return config.kernelFunc
  })
  const wrapped = WRAPPED_KERNELS.map(({ name, wrap }) => {
    const original = tf.getKernel(name, WASM_BACKEND)
    if (original === undefined) throw new WasmKernelMissing({ kernelName: name })
    return { name, func: wrap(original.kernelFunc) }
  })
  for (const { name, func } of [...CONV_KERNELS, ...POOL_KERNELS, ...wrapped]) {
    const original = tf.getKernel(name, WASM_BACKEND)
    if (original !== undefined) tf.unregisterKernel(name, WASM_BACKEND)
    // Keep the original's setup: it binds the wasm functions our kernels fall back to (and runs when
    // the backend initialises after this registration).
    const config: tf.KernelConfig = { kernelName: name, backendName: WASM_BACKEND, kernelFunc: func }
    if (original?.setupFunc !== undefined) config.setupFunc = original.setupFunc
    if (original?.disposeFunc !== undefined) config.disposeFunc = original.disposeFunc
    tf.registerKernel(config)
  }
  registerHostKernels()
  registerSwitchableKernels(WASM_BACKEND)
  registered = true
}

/**
 * Routes the convolution and batch-norm kernels of the wasm backend to oneDNN (`addon`, with an
 * OpenMP team of `threads`) or back to the wasm kernels (`undefined`); registers cairn's wasm
 * training kernels first (the switch wraps them).
 */
export function useOnednnKernels(addon: OnednnAddon | undefined, threads = 1): void {
  registerWasmTrainingKernels()
  useNativeKernels(WASM_BACKEND, addon, threads)
}

export { type ConvOp, type ConvPath, type ConvStrategy, planConv, setConvStrategy } from "./conv.js"
