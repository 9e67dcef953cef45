/**
 * Dawn (npm `webgpu`, Google's WebGPU implementation as a Node addon) in this thread: finds an
 * adapter, tells hardware from software, and opens a device on it. Nothing is loaded at import time;
 * `initDawn` imports the addon the first time it runs.
 *
 * An adapter is looked for backend by backend (`dawnAttempts`): every one that answers is seen, the
 * first hardware adapter wins, a software one (llvmpipe, lavapipe, SwiftShader) only when allowed.
 * Mesa's EGL needs `EGL_PLATFORM=surfaceless` without a display: the main thread sets it when unset
 * (the C environment is the process'), a worker thread cannot (its `process.env` is a copy), so
 * there the failure says to set it.
 */
import { createRequire } from "node:module"
import { isMainThread } from "node:worker_threads"
import { Effect } from "effect"
import {
  DAWN_PACKAGE,
  type DawnAttempt,
  dawnAttempts,
  dawnOptions,
  EGL_HEADLESS_PLATFORM,
  EGL_PLATFORM_ENV,
  isSoftwareAdapter,
  type WebgpuAdapterInfo,
  WebgpuUnavailable,
} from "./adapter.js"
import type { WebgpuBufferLimits } from "./limits.js"

/** The parts of Dawn's objects used here (the addon's types would pull WebGPU's DOM globals in). */
export interface DawnAdapter {
  readonly info: { readonly vendor: string; readonly architecture: string; readonly device: string; readonly description: string }
  readonly isFallbackAdapter?: boolean
  readonly limits: object
  requestDevice(descriptor?: { requiredLimits?: Record<string, number> }): Promise<DawnDevice>
}
export interface DawnDevice {
  /** What the device was granted (GPUSupportedLimits: getters on the prototype). */
  readonly limits: WebgpuBufferLimits
  readonly lost: Promise<{ readonly reason: string; readonly message: string }>
  addEventListener(type: "uncapturederror", listener: (event: { readonly error: { readonly message: string } }) => void): void
  destroy(): void
}
export interface DawnGpu {
  requestAdapter(options?: { featureLevel?: string; powerPreference?: string }): Promise<DawnAdapter | null>
}
interface DawnModule {
  create(options: Array<string>): DawnGpu
  /** GPUBufferUsage, GPUShaderStage, GPUMapMode...: WebGPU's global constants, which TF.js reads. */
  readonly globals: object
}

/** A device on the chosen adapter, and what it took to get it. */
export interface Dawn {
  readonly adapter: WebgpuAdapterInfo
  /** The installed `webgpu` package's version. */
  readonly dawnVersion: string
  /** Every adapter that answered, in the order asked (the chosen one among them). */
  readonly seen: ReadonlyArray<WebgpuAdapterInfo>
  readonly gpu: DawnGpu
  readonly gpuAdapter: DawnAdapter
  readonly device: DawnDevice
  /** The device's buffer limits as granted (the adapter's own, asked for in full). */
  readonly limits: WebgpuBufferLimits
  readonly globals: object
}

export interface DawnOptions {
  /** Take a software adapter when no hardware one answers. */
  readonly allowSoftware: boolean
}

const require_ = createRequire(import.meta.url)

/** The installed `webgpu` package's version, or undefined when it is not installed. */
export const dawnPackageVersion = (): string | undefined => {
  try {
    const manifest = require_(`${DAWN_PACKAGE}/package.json`) as { version?: unknown }
    return typeof manifest.version === "string" ? manifest.version : "unknown version"
  } catch (error) {
    if ((error as { code?: string }).code === "MODULE_NOT_FOUND") return undefined
    throw error
  }
}

/** The names of a GPUSupportedLimits object (getters on its prototype, not own properties). */
const limitNames = (limits: object): Array<string> => {
  const names = new Set<string>()
  for (let o: object | null = limits; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const name of Object.getOwnPropertyNames(o)) if (name !== "constructor") names.add(name)
  }
  return [...names]
}

/**
 * Everything the adapter allows, asked for: a device gets WebGPU's default limits otherwise, and in
 * compatibility mode those allow 4 storage buffers per shader, fewer than some TF.js programs bind.
 */
export const adapterLimits = (adapter: DawnAdapter): Record<string, number> => {
  const out: Record<string, number> = {}
  const limits = adapter.limits as Record<string, unknown>
  for (const name of limitNames(adapter.limits)) {
    const v = limits[name]
    if (typeof v === "number") out[name] = v
  }
  return out
}

const infoOf = (adapter: DawnAdapter, attempt: DawnAttempt): WebgpuAdapterInfo => {
  const { vendor, architecture, device, description } = adapter.info
  const isFallbackAdapter = adapter.isFallbackAdapter === true || (adapter.info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true
  const base = { vendor, architecture, device, description, isFallbackAdapter }
  return { ...base, software: isSoftwareAdapter(base), backend: attempt.backend, featureLevel: attempt.featureLevel }
}

/**
 * Sets Mesa's headless EGL platform where this thread can (see the module comment): on the main
 * thread, before it starts worker threads that will open Dawn (they read the real environment).
 */
export const ensureHeadlessEgl = (): void => {
  if (isMainThread && process.env[EGL_PLATFORM_ENV] === undefined) process.env[EGL_PLATFORM_ENV] = EGL_HEADLESS_PLATFORM
}

/** What one attempt gave: an adapter, none (Dawn says why on stderr), or a thrown error. */
type AttemptOutcome =
  | { readonly attempt: DawnAttempt; readonly found: { readonly info: WebgpuAdapterInfo; readonly gpu: DawnGpu; readonly adapter: DawnAdapter } }
  | { readonly attempt: DawnAttempt; readonly found: undefined; readonly error: string | undefined }

const noAdapterDetail = (outcomes: ReadonlyArray<AttemptOutcome>): string => {
  const tried = outcomes
    .map((o) => `${o.attempt.backend} (${o.attempt.featureLevel}): ${o.found === undefined && o.error !== undefined ? o.error : "none"}`)
    .join("; ")
  const egl = process.env[EGL_PLATFORM_ENV] === undefined ? `; without a display, set ${EGL_PLATFORM_ENV}=${EGL_HEADLESS_PLATFORM} in the environment` : ""
  return `${tried}${egl}`
}

const tryAttempt = (dawn: DawnModule, attempt: DawnAttempt): Effect.Effect<AttemptOutcome> =>
  Effect.tryPromise(async (): Promise<AttemptOutcome> => {
    const gpu = dawn.create(dawnOptions(attempt))
    const adapter = await gpu.requestAdapter({ featureLevel: attempt.featureLevel, powerPreference: "high-performance" })
    return adapter === null ? { attempt, found: undefined, error: undefined } : { attempt, found: { gpu, adapter, info: infoOf(adapter, attempt) } }
  }).pipe(Effect.catchAll((e) => Effect.succeed<AttemptOutcome>({ attempt, found: undefined, error: String(e.cause) })))

/** Loads Dawn, picks an adapter (see the module comment) and opens a device on it. */
export const initDawn = (options: DawnOptions): Effect.Effect<Dawn, WebgpuUnavailable> =>
  Effect.gen(function* () {
    const dawnVersion = dawnPackageVersion()
    if (dawnVersion === undefined) return yield* new WebgpuUnavailable({ reason: "package-missing", detail: `${DAWN_PACKAGE} is not installed` })
    ensureHeadlessEgl()
    const dawn = yield* Effect.tryPromise({
      // A literal specifier, so code closures list the package; `as string` because its own types
      // would declare WebGPU's DOM globals for the whole program.
      try: () => import("webgpu" as string) as Promise<DawnModule>,
      catch: (cause) => new WebgpuUnavailable({ reason: "load-failed", detail: String(cause), cause }),
    })
    const outcomes = yield* Effect.forEach(dawnAttempts(process.platform), (attempt) => tryAttempt(dawn, attempt))
    const found = outcomes.flatMap((o) => (o.found === undefined ? [] : [o.found]))
    const chosen = found.find((f) => !f.info.software) ?? (options.allowSoftware ? found[0] : undefined)
    if (chosen === undefined) {
      const software = found[0]
      return yield* software === undefined
        ? new WebgpuUnavailable({ reason: "no-adapter", detail: noAdapterDetail(outcomes) })
        : new WebgpuUnavailable({
            reason: "software-only",
            detail: `${software.info.device || software.info.description} is not taken here (ask for backend=webgpu explicitly)`,
          })
    }
    const device = yield* Effect.tryPromise({
      try: () => chosen.adapter.requestDevice({ requiredLimits: adapterLimits(chosen.adapter) }),
      catch: (cause) => new WebgpuUnavailable({ reason: "device-failed", detail: String(cause), cause }),
    })
    return {
      adapter: chosen.info,
      dawnVersion,
      seen: found.map((f) => f.info),
      gpu: chosen.gpu,
      gpuAdapter: chosen.adapter,
      device,
      limits: { maxBufferSize: device.limits.maxBufferSize, maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize },
      globals: dawn.globals,
    }
  })
