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
import { existsSync, readdirSync } from "node:fs"
import { createRequire } from "node:module"
import * as tf from "@tensorflow/tfjs"
import { Data, Effect } from "effect"
import { registerHostKernels } from "./ops.js"
import { registerWasmTrainingKernels } from "./wasm-kernels.js"

export type BackendName = "tensorflow-gpu" | "tensorflow" | "wasm" | "cpu"
export type BackendRequest = "auto" | BackendName

/** The resolution order of "auto". */
export const BACKEND_ORDER: ReadonlyArray<BackendName> = ["tensorflow-gpu", "tensorflow", "wasm", "cpu"]

/** Package providing each backend, and the TF.js backend name it registers. */
const PACKAGES: Readonly<Record<BackendName, { readonly pkg: string; readonly tfName: string }>> = {
  "tensorflow-gpu": { pkg: "@tensorflow/tfjs-node-gpu", tfName: "tensorflow" },
  tensorflow: { pkg: "@tensorflow/tfjs-node", tfName: "tensorflow" },
  wasm: { pkg: "@tensorflow/tfjs-backend-wasm", tfName: "wasm" },
  cpu: { pkg: "@tensorflow/tfjs", tfName: "cpu" },
}

/** Where the NVIDIA kernel driver lists the GPUs it answers for. */
const NVIDIA_GPUS_DIR = "/proc/driver/nvidia/gpus"

export interface ResolvedBackend {
  readonly name: BackendName
  /** Human-readable: package, version and mode (e.g. SIMD / threads for wasm). */
  readonly detail: string
}

export class BackendUnavailable extends Data.TaggedError("BackendUnavailable")<{
  readonly requested: BackendRequest
  readonly backend: BackendName
  readonly reason: string
}> {
  override get message(): string {
    const via = this.requested === this.backend ? "" : ` (while resolving "${this.requested}")`
    return `TF.js backend ${this.backend} (${PACKAGES[this.backend].pkg}) is unavailable${via}: ${this.reason}`
  }
}

const require_ = createRequire(import.meta.url)

const resolvable = (pkg: string): boolean => {
  try {
    require_.resolve(pkg)
    return true
  } catch (error) {
    if ((error as { code?: string }).code === "MODULE_NOT_FOUND") return false
    throw error
  }
}

/** True when the NVIDIA driver reports at least one GPU. */
export function nvidiaGpuPresent(): boolean {
  if (!existsSync(NVIDIA_GPUS_DIR)) return false
  return readdirSync(NVIDIA_GPUS_DIR).length > 0
}

/** Which backend "auto" would pick, from installed packages and the GPU driver only (TF.js untouched). */
export function probeBackend(): BackendName {
  if (resolvable(PACKAGES["tensorflow-gpu"].pkg) && nvidiaGpuPresent()) return "tensorflow-gpu"
  if (resolvable(PACKAGES.tensorflow.pkg)) return "tensorflow"
  if (resolvable(PACKAGES.wasm.pkg)) return "wasm"
  return "cpu"
}

const fail = (requested: BackendRequest, backend: BackendName, reason: string) =>
  Effect.fail(new BackendUnavailable({ requested, backend, reason }))

const importPackage = (requested: BackendRequest, backend: BackendName) =>
  Effect.tryPromise({
    try: () => import(PACKAGES[backend].pkg) as Promise<unknown>,
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

const packageVersion = (pkg: string): string => {
  const version = (require_(`${pkg}/package.json`) as { version?: string }).version
  return version ?? "unknown version"
}

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
