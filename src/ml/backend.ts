/**
 * TF.js backend resolution. "auto" tries, in order:
 *
 *   1. `@tensorflow/tfjs-node-gpu` — if the package is importable and an NVIDIA GPU answers,
 *   2. `@tensorflow/tfjs-node`,
 *   3. `wasm` (`@tensorflow/tfjs-backend-wasm`, SIMD; cairn's training kernels are registered),
 *   4. `cpu` (pure JS; far too slow to train conv nets, last resort).
 *
 * The native packages are optional dependencies loaded with dynamic `import()`, so their absence is
 * no error for "auto"; asking for one explicitly fails with `BackendUnavailable`. `probeBackend()`
 * answers which backend "auto" would pick without loading or initialising TF.js (cache keys of
 * training stages include it: results differ in the last bits between backends).
 */
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { BackendUnavailable } from "./errors.js"
import { registerHostKernels } from "./ops.js"
import { registerWasmTrainingKernels } from "./wasm-kernels.js"
import {
  BACKEND_ORDER,
  BACKEND_PACKAGES as PACKAGES,
  type BackendName,
  type BackendRequest,
  NVIDIA_GPUS_DIR,
  nvidiaGpuPresent,
  packageVersion,
  resolvable,
} from "./backend-probe.js"

export { BACKEND_ORDER, type BackendName, type BackendRequest, nvidiaGpuPresent, probeBackend } from "./backend-probe.js"
export { BackendUnavailable } from "./errors.js"

export interface ResolvedBackend {
  readonly name: BackendName
  /** Human-readable: package, version and mode (e.g. SIMD / threads for wasm). */
  readonly detail: string
}

const fail = (requested: BackendRequest, backend: BackendName, reason: string) =>
  Effect.fail(new BackendUnavailable({ requested, backend, reason }))

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
    case "wasm":
      return import("@tensorflow/tfjs-backend-wasm")
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

/** Loads and initialises one backend (no fallback). */
const tryBackend = (requested: BackendRequest, backend: BackendName): Effect.Effect<ResolvedBackend, BackendUnavailable> =>
  Effect.gen(function* () {
    const { pkg } = PACKAGES[backend]
    if (!resolvable(pkg)) return yield* fail(requested, backend, "package not installed")
    if (backend === "tensorflow-gpu" && !nvidiaGpuPresent()) {
      return yield* fail(requested, backend, `no NVIDIA GPU answers (${NVIDIA_GPUS_DIR} empty or absent)`)
    }
    if (backend !== "cpu") yield* importPackage(requested, backend)
    yield* activate(requested, backend)
    registerHostKernels()
    let detail = `${pkg} ${packageVersion(pkg)}`
    if (backend === "wasm") {
      registerWasmTrainingKernels()
      const simd = tf.env().getBool("WASM_HAS_SIMD_SUPPORT")
      const threads = tf.env().getBool("WASM_HAS_MULTITHREAD_SUPPORT")
      detail += ` (${simd ? "SIMD" : "no SIMD"}, ${threads ? "multi-threaded" : "single-threaded"}, cairn training kernels)`
    }
    return { name: backend, detail }
  })

/**
 * Initialises the requested backend, or the first that works in `BACKEND_ORDER` for "auto", and
 * makes it TF.js' current backend.
 */
export function resolveBackend(requested: BackendRequest): Effect.Effect<ResolvedBackend, BackendUnavailable> {
  if (requested !== "auto") return tryBackend(requested, requested)
  const [first, ...rest] = BACKEND_ORDER
  let attempt = tryBackend(requested, first!)
  for (const next of rest) attempt = attempt.pipe(Effect.orElse(() => tryBackend(requested, next)))
  return attempt
}

/** `resolveBackend` for Promise-based callers (worker threads, scripts). */
export const resolveBackendPromise = (requested: BackendRequest): Promise<ResolvedBackend> =>
  Effect.runPromise(resolveBackend(requested))
