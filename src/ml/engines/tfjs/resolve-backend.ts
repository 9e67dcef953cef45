/**
 * TF.js backend resolution. "auto" tries, in order:
 *
 *   1. `@tensorflow/tfjs-node-gpu` — if the package is importable and an NVIDIA GPU answers,
 *   2. `webgpu` (`@tensorflow/tfjs-backend-webgpu` on Dawn, webgpu/) — if a hardware adapter answers
 *      (a software one such as llvmpipe only when `webgpu` is asked for by name, or with
 *      CAIRN_WEBGPU_ALLOW_SOFTWARE=1),
 *   3. `@tensorflow/tfjs-node`,
 *   4. `cpu+onednn`: TF.js' cpu backend (tensors as JS TypedArrays, outside V8's heap: no memory
 *      limit but the machine's) with its convolutions, batch norm, pooling gradients, AdamW and
 *      heavy element-wise ops on cairn's oneDNN addon (`@cairn/onednn`, built at install where
 *      libdnnl is found), multithreaded, in place,
 *   5. `wasm` (`@tensorflow/tfjs-backend-wasm`, SIMD; cairn's training kernels are registered),
 *   6. `cpu` (pure JS; far too slow to train conv nets, last resort).
 *
 * `wasm+onednn` (the same addon over the wasm backend, whose tensors share one 32-bit heap of at
 * most 4 GiB) is taken by name only: wherever it loads, `cpu+onednn` does too.
 *
 * The native packages are optional dependencies loaded with dynamic `import()`, so their absence is
 * no error for "auto"; asking for one explicitly fails with `BackendUnavailable`. `probeBackend()`
 * answers which backend "auto" would pick without loading or initialising TF.js (cache keys of
 * training stages include it: results differ in the last bits between backends).
 */
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { BackendUnavailable } from "../../ml-errors.js"
import { registerHostKernels } from "../../model/ops.js"
import { loadOnednn } from "../onednn/onednn-addon.js"
import { registerWasmTrainingKernels, useOnednnKernels } from "../wasm/wasm-kernels.js"
import { useNativeKernels } from "../onednn/native-kernels.js"
import { DAWN_PACKAGE, describeAdapter } from "../webgpu/adapter.js"
import { initWebgpuBackend } from "../webgpu/webgpu-backend.js"
import { installFreeingBackward } from "../../train/freeing-backward.js"
import { installLeanGradients } from "../../train/lean-gradients.js"
import {
  AUTO_ORDER,
  BACKEND_PACKAGES as PACKAGES,
  type BackendName,
  type BackendRequest,
  NVIDIA_GPUS_DIR,
  nvidiaGpuPresent,
  packageVersion,
  resolvable,
  tensorflowBindingPresent,
  usesOnednn,
  webgpuForAuto,
  webgpuSoftwareAllowed,
} from "./backend-probe.js"

export { AUTO_ORDER, BACKEND_ORDER, type BackendName, type BackendRequest, nvidiaGpuPresent, probeBackend } from "./backend-probe.js"
export { BackendUnavailable } from "../../ml-errors.js"

export interface ResolvedBackend {
  readonly name: BackendName
  /** Human-readable: package, version and mode (e.g. SIMD / threads for wasm). */
  readonly detail: string
}

const fail = (requested: BackendRequest, backend: BackendName, reason: string) => Effect.fail(new BackendUnavailable({ requested, backend, reason }))

/**
 * Imports a backend's package. The specifiers are literal (typed as strings: the optional packages
 * may be absent) so that code closures list them with their installed versions.
 */
const loadPackage = (backend: BackendName): Promise<unknown> => {
  switch (backend) {
    case "tensorflow-gpu":
      return import("@tensorflow/tfjs-node-gpu" as string)
    case "tensorflow":
      return import("@tensorflow/tfjs-node" as string)
    case "webgpu":
      // Not reached (tryWebgpu imports it once Dawn is up); `as string`: its types declare WebGPU's DOM globals.
      return import("@tensorflow/tfjs-backend-webgpu" as string)
    case "wasm+onednn":
    case "wasm":
      return import("@tensorflow/tfjs-backend-wasm")
    case "cpu+onednn":
    case "cpu":
      return Promise.resolve(tf)
  }
}

const importPackage = (requested: BackendRequest, backend: BackendName) =>
  Effect.tryPromise({
    try: () => loadPackage(backend),
    catch: (error) => new BackendUnavailable({ requested, backend, reason: `import failed: ${String(error)}` }),
  })

const activate = (requested: BackendRequest, backend: BackendName) =>
  Effect.tryPromise({
    try: async () => {
      const ok = await tf.setBackend(PACKAGES[backend].tfName)
      await tf.ready()
      return ok
    },
    catch: (error) => new BackendUnavailable({ requested, backend, reason: `initialisation failed: ${String(error)}` }),
  }).pipe(Effect.flatMap((ok) => (ok ? Effect.void : fail(requested, backend, "tf.setBackend returned false"))))

export interface BackendOptions {
  /** OpenMP threads of the oneDNN kernels ("cpu+onednn", "wasm+onednn"; default 1). */
  readonly threads?: number
}

/**
 * webgpu: Dawn's device, then TF.js' backend over it (engines/webgpu/webgpu-backend.ts). "auto" only tries it when
 * the child-process probe found an adapter it may take, so that Dawn is not loaded here for nothing.
 */
const tryWebgpu = (requested: BackendRequest): Effect.Effect<ResolvedBackend, BackendUnavailable> => {
  if (requested === "auto" && !webgpuForAuto()) return fail(requested, "webgpu", "no adapter that backend=auto takes answers")
  const { pkg } = PACKAGES.webgpu
  return initWebgpuBackend({ allowSoftware: webgpuSoftwareAllowed(requested) }).pipe(
    Effect.mapError((error) => new BackendUnavailable({ requested, backend: "webgpu", reason: error.message })),
    Effect.map(
      ({ dawn }): ResolvedBackend => ({
        name: "webgpu",
        detail: `${pkg}@${packageVersion(pkg)} on ${DAWN_PACKAGE}@${dawn.dawnVersion}, ${describeAdapter(dawn.adapter)}`,
      }),
    ),
  )
}

/** Loads and initialises one backend (no fallback). */
const tryBackend = (requested: BackendRequest, backend: BackendName, options: BackendOptions): Effect.Effect<ResolvedBackend, BackendUnavailable> =>
  Effect.gen(function* () {
    if (backend === "webgpu") return yield* tryWebgpu(requested)
    const { pkg } = PACKAGES[backend]
    const onednn = usesOnednn(backend) ? loadOnednn() : undefined
    if (onednn?.available === false) return yield* fail(requested, backend, `native kernels unavailable: ${onednn.reason}`)
    if (!resolvable(pkg)) return yield* fail(requested, backend, "package not installed")
    if ((backend === "tensorflow" || backend === "tensorflow-gpu") && !tensorflowBindingPresent(pkg)) {
      return yield* fail(requested, backend, "installed without its native binding (lib/napi-v*/tfjs_binding.node: its install downloads it)")
    }
    if (backend === "tensorflow-gpu" && !nvidiaGpuPresent()) {
      return yield* fail(requested, backend, `no NVIDIA GPU answers (${NVIDIA_GPUS_DIR} empty or absent)`)
    }
    if (PACKAGES[backend].tfName !== "cpu") yield* importPackage(requested, backend)
    yield* activate(requested, backend)
    registerHostKernels()
    let detail = `${pkg} ${packageVersion(pkg)}`
    if (backend === "wasm" || backend === "wasm+onednn") {
      registerWasmTrainingKernels()
      const wasmPkg = PACKAGES.wasm.pkg
      const simd = tf.env().getBool("WASM_HAS_SIMD_SUPPORT")
      const threads = tf.env().getBool("WASM_HAS_MULTITHREAD_SUPPORT")
      detail = `${wasmPkg} ${packageVersion(wasmPkg)} (${simd ? "SIMD" : "no SIMD"}, ${threads ? "multi-threaded" : "single-threaded"}, cairn training kernels)`
      if (onednn?.available === true) {
        const n = options.threads ?? 1
        useOnednnKernels(onednn.addon, n)
        detail += ` + oneDNN ${onednn.info.version} kernels (${onednn.info.isa}, ${n} thread${n === 1 ? "" : "s"})`
      } else {
        useOnednnKernels(undefined)
      }
    }
    if (backend === "cpu" || backend === "cpu+onednn") {
      if (onednn?.available === true) {
        const n = options.threads ?? 1
        useNativeKernels("cpu", onednn.addon, n)
        detail = `${PACKAGES.cpu.pkg} ${packageVersion(PACKAGES.cpu.pkg)} cpu backend + oneDNN ${onednn.info.version} kernels (${onednn.info.isa}, ${n} OpenMP thread${n === 1 ? "" : "s"})`
      } else {
        useNativeKernels("cpu", undefined)
      }
    }
    return { name: backend, detail }
  })

/**
 * Initialises the requested backend, or the first that works in `AUTO_ORDER` for "auto", and
 * makes it TF.js' current backend.
 */
export function resolveBackend(requested: BackendRequest, options: BackendOptions = {}): Effect.Effect<ResolvedBackend, BackendUnavailable> {
  // Every backend's training steps take the backward pass that frees as it goes (freeing-backward.ts),
  // and gradients that save no more than they need (train/lean-gradients.ts).
  const ready = Effect.tap(
    Effect.sync(() => {
      installFreeingBackward()
      installLeanGradients()
    }),
  )
  if (requested !== "auto") return ready(tryBackend(requested, requested, options))
  const [first, ...rest] = AUTO_ORDER
  let attempt = tryBackend(requested, first!, options)
  for (const next of rest) attempt = attempt.pipe(Effect.orElse(() => tryBackend(requested, next, options)))
  return ready(attempt)
}

/** `resolveBackend` for Promise-based callers (worker threads, scripts). */
export const resolveBackendPromise = (requested: BackendRequest, options: BackendOptions = {}): Promise<ResolvedBackend> =>
  Effect.runPromise(resolveBackend(requested, options))
