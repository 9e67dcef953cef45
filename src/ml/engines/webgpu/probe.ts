/**
 * Which WebGPU adapter this machine would give, asked in a child process: creating a Dawn instance
 * loads the GPU drivers into the process (and takes a few hundred ms on Mesa), which a cache key's
 * engine hook or `cairn doctor` should not leave behind in the main thread. The child asks Dawn the
 * same way `initDawn` does (`dawnAttempts`), prints what answered as JSON and exits.
 *
 * `gpuDeviceNodesPresent` is the cheaper question that comes first where it can answer: on Linux a
 * hardware adapter needs a kernel GPU device node (DRM render node, NVIDIA's or WSL's).
 */
import { spawnSync } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"
import { createRequire } from "node:module"
import { pathToFileURL } from "node:url"
import { Either } from "effect"
import {
  DAWN_PACKAGE,
  type DawnAttempt,
  dawnAttempts,
  describeAdapter,
  EGL_HEADLESS_PLATFORM,
  EGL_PLATFORM_ENV,
  isSoftwareAdapter,
  type WebgpuAdapterInfo,
  WebgpuUnavailable,
} from "./adapter.js"
import { dawnPackageVersion } from "./dawn.js"

/** Where Linux lists GPU device nodes: DRM render nodes, NVIDIA's devices, WSL's paravirtual GPU. */
export const DRM_DIR = "/dev/dri"
const NVIDIA_DEVICE = "/dev/nvidia0"
const WSL_GPU_DEVICE = "/dev/dxg"

/** What the probe's answer depends on besides packages (a fast-path stamp's watched paths). */
export const WEBGPU_PROBE_INPUTS: ReadonlyArray<string> = [DRM_DIR, NVIDIA_DEVICE, WSL_GPU_DEVICE]

/** Whether a hardware adapter can exist here at all (always "maybe" off Linux). */
export const gpuDeviceNodesPresent = (platform: string = process.platform): boolean => {
  if (platform !== "linux") return true
  if (existsSync(NVIDIA_DEVICE) || existsSync(WSL_GPU_DEVICE)) return true
  return existsSync(DRM_DIR) && readdirSync(DRM_DIR).some((name) => name.startsWith("renderD"))
}

/** How long the child may take: adapter discovery is ~0.3 s on llvmpipe, a driver can hang. */
const PROBE_TIMEOUT_MS = 20_000

/**
 * The child: argv[1] the addon's file URL, argv[2] the attempts as JSON. It exits explicitly: a
 * Dawn instance keeps the event loop alive while it is referenced.
 */
const PROBE_SCRIPT = `
const { create } = await import(process.argv[1])
const out = []
for (const attempt of JSON.parse(process.argv[2])) {
  try {
    const adapter = await create(["backend=" + attempt.backend]).requestAdapter({ featureLevel: attempt.featureLevel, powerPreference: "high-performance" })
    if (adapter === null) { out.push({ attempt, error: null }); continue }
    const i = adapter.info
    out.push({ attempt, info: { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, isFallbackAdapter: adapter.isFallbackAdapter === true || i.isFallbackAdapter === true } })
  } catch (error) {
    out.push({ attempt, error: String(error) })
  }
}
process.stdout.write(JSON.stringify(out))
process.exit(0)
`

interface ChildAnswer {
  readonly attempt: DawnAttempt
  readonly info?: Omit<WebgpuAdapterInfo, "software" | "backend" | "featureLevel">
  readonly error?: string | null
}

/** What the probe found: every adapter that answered, and the one `initDawn` would take. */
export interface WebgpuProbe {
  readonly dawnVersion: string
  readonly seen: ReadonlyArray<WebgpuAdapterInfo>
  readonly adapter: WebgpuAdapterInfo
}

const require_ = createRequire(import.meta.url)

const runChild = (dawnVersion: string): Either.Either<ReadonlyArray<ChildAnswer>, WebgpuUnavailable> => {
  const entry = pathToFileURL(require_.resolve(DAWN_PACKAGE)).href
  // The child's C environment, unlike a worker thread's, can be given the headless EGL platform.
  const env = { ...process.env, [EGL_PLATFORM_ENV]: process.env[EGL_PLATFORM_ENV] ?? EGL_HEADLESS_PLATFORM }
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", PROBE_SCRIPT, entry, JSON.stringify(dawnAttempts(process.platform))], {
    env,
    encoding: "utf8",
    timeout: PROBE_TIMEOUT_MS,
  })
  const fail = (detail: string) => Either.left(new WebgpuUnavailable({ reason: "probe-failed", detail: `webgpu@${dawnVersion}: ${detail}` }))
  if (child.error !== undefined) return fail(child.error.message)
  if (child.status !== 0) return fail(`probe exited with ${child.status ?? child.signal}: ${child.stderr.trim().split("\n").slice(-3).join(" / ")}`)
  try {
    return Either.right(JSON.parse(child.stdout) as ReadonlyArray<ChildAnswer>)
  } catch (error) {
    return fail(`unreadable answer (${String(error)}): ${child.stdout.slice(0, 200)}`)
  }
}

/** The child's answers, asked once per process: adapters do not come and go under a running one. */
let answered: Either.Either<{ readonly dawnVersion: string; readonly answers: ReadonlyArray<ChildAnswer> }, WebgpuUnavailable> | undefined

const askChild = () => {
  if (answered !== undefined) return answered
  const dawnVersion = dawnPackageVersion()
  answered =
    dawnVersion === undefined
      ? Either.left(new WebgpuUnavailable({ reason: "package-missing", detail: `${DAWN_PACKAGE} is not installed` }))
      : Either.map(runChild(dawnVersion), (answers) => ({ dawnVersion, answers }))
  return answered
}

/** The adapter `initDawn({ allowSoftware })` would take, or why none. */
export const probeWebgpu = (options: { readonly allowSoftware: boolean }): Either.Either<WebgpuProbe, WebgpuUnavailable> =>
  Either.flatMap(askChild(), ({ dawnVersion, answers }) => {
    const seen = answers.flatMap(
      (a): Array<WebgpuAdapterInfo> =>
        a.info === undefined ? [] : [{ ...a.info, software: isSoftwareAdapter(a.info), backend: a.attempt.backend, featureLevel: a.attempt.featureLevel }],
    )
    const adapter = seen.find((a) => !a.software) ?? (options.allowSoftware ? seen[0] : undefined)
    if (adapter !== undefined) return Either.right({ dawnVersion, seen, adapter })
    const software = seen[0]
    if (software !== undefined) {
      return Either.left(new WebgpuUnavailable({ reason: "software-only", detail: `${software.device || software.description} (${software.backend})` }))
    }
    const tried = answers.map((a) => `${a.attempt.backend} (${a.attempt.featureLevel}): ${a.error ?? "none"}`).join("; ")
    return Either.left(new WebgpuUnavailable({ reason: "no-adapter", detail: tried }))
  })

/**
 * The probe as `cairn doctor` shows it: the adapter, what keeps "auto" from it, what the engine's
 * worker threads need (the child had the headless EGL platform; a worker thread cannot set it).
 */
export const probeDetail = (probe: WebgpuProbe, autoTakesSoftware: boolean): string => {
  const { adapter, dawnVersion } = probe
  const notes = [
    ...(adapter.software && !autoTakesSoftware ? ["backend=auto skips software adapters"] : []),
    ...(adapter.backend === "opengles" && process.env[EGL_PLATFORM_ENV] === undefined
      ? [`the engine's worker threads need ${EGL_PLATFORM_ENV}=${EGL_HEADLESS_PLATFORM} in the environment`]
      : []),
  ]
  return `${describeAdapter(adapter)}${notes.map((n) => `; ${n}`).join("")}, ${DAWN_PACKAGE} ${dawnVersion}`
}
