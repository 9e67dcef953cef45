/**
 * cairn's native kernels (the oneDNN addon, engines/onednn/onednn-kernels.ts) over a TF.js backend that already has
 * kernels of the same names: "wasm" (backend `wasm+onednn`, tensors on the wasm heap) and "cpu"
 * (backend `cpu+onednn`, tensors as JS TypedArrays whose backing stores live outside V8's heap, so
 * that the only memory limit is the machine's). Either way the addon reads and writes the tensors in
 * place (engines/wasm/heap.ts).
 *
 * The replaced kernels are registered switchable, once per host: `useNativeKernels(host, addon)`
 * routes them to the addon on this thread, `useNativeKernels(host, undefined)` back to the host's
 * own kernels (`wasm` / `wasm+onednn`, and `cpu` / `cpu+onednn`, share one TF.js backend each).
 * Kernels only the addon has (`NATIVE_ONLY_KERNEL_NAMES`) are registered only while it is in use:
 * their callers take them where the backend has them, else compose element-wise ops.
 */
import * as tf from "@tensorflow/tfjs"
import { Data } from "effect"
import { FUSED_ADAMW } from "../../train/adamw.js"
import { BATCH_NORM_BACKWARD, CHANNEL_AFFINE } from "../wasm/batch-norm.js"
import { CPU_ELEMENTWISE_KERNEL_NAMES, cpuElementwiseKernels } from "./elementwise.js"
import { batchNormApplyKernels, fusedAdamwKernel, type NativeKernel, ONEDNN_KERNEL_NAMES, onednnKernels } from "./onednn-kernels.js"
import type { OnednnAddon } from "./onednn-addon.js"

/** The TF.js backends the native kernels run over. */
export type NativeHost = "wasm" | "cpu"

export class NativeHostKernelMissing extends Data.TaggedError("NativeHostKernelMissing")<{ readonly host: NativeHost; readonly kernelName: string }> {
  override get message(): string {
    return `${this.host} kernel ${this.kernelName} is not registered: initialise TF.js' ${this.host} backend (and, for wasm, registerWasmTrainingKernels()) before the native kernels`
  }
}

/** The kernels replaced on each host (their host kernels are the fallbacks). */
const SWITCHED: Readonly<Record<NativeHost, ReadonlyArray<string>>> = {
  wasm: ONEDNN_KERNEL_NAMES,
  // TF.js' cpu kernels are single-threaded JS: the element-wise ops a training step spends its time
  // in are native too there (the wasm backend's own are SIMD C++).
  cpu: [...ONEDNN_KERNEL_NAMES, ...CPU_ELEMENTWISE_KERNEL_NAMES],
}

/** Registered only while the addon is in use (no host counterpart). */
const NATIVE_ONLY_KERNEL_NAMES = [FUSED_ADAMW, CHANNEL_AFFINE, BATCH_NORM_BACKWARD] as const

interface HostState {
  addon: OnednnAddon | undefined
  kernels: ReadonlyMap<string, NativeKernel> | undefined
}

const hosts = new Map<NativeHost, HostState>()

/** Wraps the host's kernels of `SWITCHED[host]` in the switch (idempotent). */
export function registerSwitchableKernels(host: NativeHost): void {
  if (hosts.has(host)) return
  const state: HostState = { addon: undefined, kernels: undefined }
  const originals = SWITCHED[host].map((name) => {
    const original = tf.getKernel(name, host)
    if (original === undefined) throw new NativeHostKernelMissing({ host, kernelName: name })
    return original
  })
  for (const original of originals) {
    const { kernelName: name, kernelFunc: fallback } = original
    tf.unregisterKernel(name, host)
    const kernelFunc: tf.KernelFunc = (args) => {
      const native = state.kernels?.get(name)
      return native === undefined ? fallback(args) : native(args as Parameters<NativeKernel>[0], fallback)
    }
    tf.registerKernel({ ...original, kernelFunc })
  }
  hosts.set(host, state)
}

/**
 * Routes the switched kernels of `host` to the addon (with an OpenMP team of `threads` on this
 * thread) or back to the host's own (`undefined`). Registers the switch first when needed: after
 * the host backend is initialised and the batch-norm host kernels registered (ops.ts).
 */
export function useNativeKernels(host: NativeHost, addon: OnednnAddon | undefined, threads = 1): void {
  // The host's own kernels are in place until the switch is first wanted.
  if (addon === undefined && !hosts.has(host)) return
  registerSwitchableKernels(host)
  const state = hosts.get(host)!
  if (addon !== undefined) addon.setThreads(threads)
  if (addon === state.addon) return
  state.addon = addon
  state.kernels = addon === undefined ? undefined : new Map([...onednnKernels(addon), ...(host === "cpu" ? cpuElementwiseKernels(addon) : [])])
  for (const name of NATIVE_ONLY_KERNEL_NAMES) {
    if (tf.getKernel(name, host) !== undefined) tf.unregisterKernel(name, host)
  }
  if (addon !== undefined) {
    for (const { name, func } of [{ name: FUSED_ADAMW, func: fusedAdamwKernel(addon) }, ...batchNormApplyKernels(addon)]) {
      tf.registerKernel({ kernelName: name, backendName: host, kernelFunc: func })
    }
  }
}
