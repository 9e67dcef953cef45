/**
 * Which TF.js backend "auto" picks, answered without loading TF.js: from the installed packages,
 * whether cairn's oneDNN addon loads, the GPU driver's device list and, where a GPU device node
 * exists, which WebGPU adapter Dawn gives (asked in a child process, engines/webgpu/probe.ts). Cheap enough
 * for a cache key's engine hook; the paths it inspects are `BACKEND_PROBE_INPUTS` (the fast path
 * replays a run only while they are unchanged).
 */
import { existsSync, readdirSync } from "node:fs"
import { dirname, join } from "node:path"
import { createRequire } from "node:module"
import { Either } from "effect"
import { loadOnednn, ONEDNN_PACKAGE, ONEDNN_PROBE_INPUTS } from "../onednn/onednn-addon.js"
import { ALLOW_SOFTWARE_ENV, DAWN_PACKAGE } from "../webgpu/adapter.js"
import { gpuDeviceNodesPresent, probeDetail, probeWebgpu, WEBGPU_PROBE_INPUTS } from "../webgpu/probe.js"

export type BackendRequest = "auto" | BackendName

/** The resolution order of "auto". */
export const BACKEND_ORDER = ["tensorflow-gpu", "webgpu", "tensorflow", "cpu+onednn", "wasm+onednn", "wasm", "cpu"] as const

/**
 * What "auto" tries, in order: `BACKEND_ORDER` without "wasm+onednn", which loads wherever
 * "cpu+onednn" does, and is slower and capped at 4 GiB (bench/train.ts); by name only.
 */
export const AUTO_ORDER: ReadonlyArray<BackendName> = BACKEND_ORDER.filter((b) => b !== "wasm+onednn")

/** The backends running cairn's oneDNN addon over a TF.js backend's tensors (native-kernels.ts). */
export const ONEDNN_BACKENDS: ReadonlyArray<BackendName> = ["cpu+onednn", "wasm+onednn"]

export const usesOnednn = (backend: BackendName): boolean => ONEDNN_BACKENDS.includes(backend)

export type BackendName = (typeof BACKEND_ORDER)[number]

/**
 * Package providing each backend, and the TF.js backend name it runs on ("cpu+onednn" and
 * "wasm+onednn" are TF.js' cpu and wasm backends with the heavy kernels on cairn's oneDNN addon).
 */
export const BACKEND_PACKAGES: Readonly<Record<BackendName, { readonly pkg: string; readonly tfName: string }>> = {
  "tensorflow-gpu": { pkg: "@tensorflow/tfjs-node-gpu", tfName: "tensorflow" },
  webgpu: { pkg: "@tensorflow/tfjs-backend-webgpu", tfName: "webgpu" },
  tensorflow: { pkg: "@tensorflow/tfjs-node", tfName: "tensorflow" },
  "cpu+onednn": { pkg: ONEDNN_PACKAGE, tfName: "cpu" },
  "wasm+onednn": { pkg: ONEDNN_PACKAGE, tfName: "wasm" },
  wasm: { pkg: "@tensorflow/tfjs-backend-wasm", tfName: "wasm" },
  cpu: { pkg: "@tensorflow/tfjs", tfName: "cpu" },
}

/** Where the NVIDIA kernel driver lists the GPUs it answers for. */
export const NVIDIA_GPUS_DIR = "/proc/driver/nvidia/gpus"

/** What `probeBackend` looks at besides installed packages: the GPU list, the addon's build. */
export const BACKEND_PROBE_INPUTS: ReadonlyArray<string> = [NVIDIA_GPUS_DIR, ...WEBGPU_PROBE_INPUTS, ...ONEDNN_PROBE_INPUTS]

const require_ = createRequire(import.meta.url)

export const resolvable = (pkg: string): boolean => {
  try {
    require_.resolve(pkg)
    return true
  } catch (error) {
    if ((error as { code?: string }).code === "MODULE_NOT_FOUND") return false
    throw error
  }
}

/**
 * Whether a TF.js node package (tfjs-node, tfjs-node-gpu) has its native binding: it downloads
 * libtensorflow at install, and an offline install leaves the package without it (it then fails
 * at import). Looks for `lib/napi-v*\/tfjs_binding.node` next to its package.json.
 */
export function tensorflowBindingPresent(pkg: string): boolean {
  if (!resolvable(pkg)) return false
  const lib = join(dirname(require_.resolve(`${pkg}/package.json`)), "lib")
  if (!existsSync(lib)) return false
  return readdirSync(lib).some((d) => d.startsWith("napi-v") && existsSync(join(lib, d, "tfjs_binding.node")))
}

/** Why a tfjs-node package is not usable: absent, or without its binding. */
const tensorflowMissing = (pkg: string): string =>
  resolvable(pkg) ? `${pkg} installed without its native binding (lib/napi-v*/tfjs_binding.node: its install downloads it)` : `${pkg} not installed`

/** The installed version of a package (from its package.json), or "unknown version". */
export const packageVersion = (pkg: string): string => {
  const manifest: unknown = require_(`${pkg}/package.json`)
  const version = typeof manifest === "object" && manifest !== null && "version" in manifest ? manifest.version : undefined
  return typeof version === "string" ? version : "unknown version"
}

/** True when the NVIDIA driver reports at least one GPU. */
export function nvidiaGpuPresent(): boolean {
  if (!existsSync(NVIDIA_GPUS_DIR)) return false
  return readdirSync(NVIDIA_GPUS_DIR).length > 0
}

/** Whether webgpu may run on a software adapter (llvmpipe...): asked for by name, or allowed for "auto" by env. */
export const webgpuSoftwareAllowed = (requested: BackendRequest): boolean => requested === "webgpu" || process.env[ALLOW_SOFTWARE_ENV] === "1"

/**
 * Whether "auto" takes webgpu: TF.js' backend and Dawn installed and an adapter it may use answering
 * (a child process asks Dawn; not even that without a GPU device node, unless software is allowed).
 */
export function webgpuForAuto(): boolean {
  const allowSoftware = webgpuSoftwareAllowed("auto")
  if (!resolvable(BACKEND_PACKAGES.webgpu.pkg) || !resolvable(DAWN_PACKAGE)) return false
  if (!allowSoftware && !gpuDeviceNodesPresent()) return false
  return Either.isRight(probeWebgpu({ allowSoftware }))
}

/** Which backend "auto" would pick, from installed packages and the GPU driver only (TF.js untouched). */
export function probeBackend(): BackendName {
  if (tensorflowBindingPresent(BACKEND_PACKAGES["tensorflow-gpu"].pkg) && nvidiaGpuPresent()) return "tensorflow-gpu"
  if (webgpuForAuto()) return "webgpu"
  if (tensorflowBindingPresent(BACKEND_PACKAGES.tensorflow.pkg)) return "tensorflow"
  if (loadOnednn().available) return "cpu+onednn"
  if (resolvable(BACKEND_PACKAGES.wasm.pkg)) return "wasm"
  return "cpu"
}

/** One backend as `cairn doctor` shows it. */
export interface BackendStatus {
  readonly backend: BackendName
  readonly available: boolean
  /** What it runs on (package versions, library, instruction set), or why it is unavailable. */
  readonly detail: string
}

const installed = (pkg: string): string => `${pkg} ${packageVersion(pkg)}`

/** Every backend of `BACKEND_ORDER`: found or not, and what with or why not (nothing initialised). */
export function backendStatuses(): ReadonlyArray<BackendStatus> {
  const status = (backend: BackendName): BackendStatus => {
    const { pkg } = BACKEND_PACKAGES[backend]
    switch (backend) {
      case "tensorflow-gpu":
        if (!resolvable(pkg))
          return { backend, available: false, detail: `${pkg} not installed (optional: needs CUDA 11.2, cuDNN 8.1 and a pre-Hopper NVIDIA GPU)` }
        if (!tensorflowBindingPresent(pkg)) return { backend, available: false, detail: tensorflowMissing(pkg) }
        if (!nvidiaGpuPresent()) return { backend, available: false, detail: `no NVIDIA GPU answers (${NVIDIA_GPUS_DIR} empty or absent)` }
        return { backend, available: true, detail: installed(pkg) }
      case "tensorflow":
        return tensorflowBindingPresent(pkg)
          ? { backend, available: true, detail: installed(pkg) }
          : { backend, available: false, detail: tensorflowMissing(pkg) }
      case "webgpu": {
        if (!resolvable(pkg)) return { backend, available: false, detail: `${pkg} not installed` }
        if (!resolvable(DAWN_PACKAGE)) return { backend, available: false, detail: `${DAWN_PACKAGE} (Dawn) not installed` }
        const probe = probeWebgpu({ allowSoftware: true })
        if (Either.isLeft(probe)) return { backend, available: false, detail: probe.left.message }
        return { backend, available: true, detail: `${probeDetail(probe.right, webgpuSoftwareAllowed("auto"))}, ${installed(pkg)}` }
      }
      case "cpu+onednn":
      case "wasm+onednn": {
        const onednn = loadOnednn()
        if (!onednn.available) return { backend, available: false, detail: `native kernels unavailable: ${onednn.reason}` }
        const i = onednn.info
        return { backend, available: true, detail: `oneDNN ${i.version} (${i.isa}, ${i.threading}, up to ${i.maxThreads} threads), ${installed(pkg)}` }
      }
      default:
        return resolvable(pkg) ? { backend, available: true, detail: installed(pkg) } : { backend, available: false, detail: `${pkg} not installed` }
    }
  }
  return BACKEND_ORDER.map(status)
}
