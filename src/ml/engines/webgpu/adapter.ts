/**
 * What cairn knows of a WebGPU adapter, and where it looks for one. Pure data and rules: no Dawn,
 * no TF.js, no I/O, so the in-process initialisation (dawn.ts) and the child-process probe
 * (probe.ts) share them.
 *
 * Dawn is asked backend by backend (`DAWN_ATTEMPTS`): the platform's native API at WebGPU's "core"
 * feature level first, then OpenGL ES at "compatibility" (the only way Dawn reaches Mesa's llvmpipe:
 * lavapipe of Mesa 22.3 lacks the Vulkan features Dawn requires, and Dawn's GL backends only offer
 * compatibility adapters).
 */
import { Data } from "effect"

/** Dawn's Node binding (npm `webgpu`). */
export const DAWN_PACKAGE = "webgpu"

/** TF.js' WebGPU backend. */
export const TFJS_WEBGPU_PACKAGE = "@tensorflow/tfjs-backend-webgpu"

/** Lets `backend=auto` take a software adapter too (`backend=webgpu` always may). */
export const ALLOW_SOFTWARE_ENV = "CAIRN_WEBGPU_ALLOW_SOFTWARE"

/**
 * Mesa's EGL picks its platform from this variable; unset it means X11 or Wayland, which fail
 * without a display, and Dawn asks for the default display. "surfaceless" needs none.
 */
export const EGL_PLATFORM_ENV = "EGL_PLATFORM"
export const EGL_HEADLESS_PLATFORM = "surfaceless"

export type FeatureLevel = "core" | "compatibility"

/** One way of asking Dawn for an adapter: a Dawn backend (its `backend=` option) and a feature level. */
export interface DawnAttempt {
  readonly backend: string
  readonly featureLevel: FeatureLevel
}

/** The native API Dawn would use on a platform, asked first. */
const NATIVE_BACKEND: Readonly<Record<string, string>> = { linux: "vulkan", darwin: "metal", win32: "d3d12" }

/** Where Dawn is asked for an adapter on `platform`, in order. */
export const dawnAttempts = (platform: string): ReadonlyArray<DawnAttempt> => {
  const native = NATIVE_BACKEND[platform]
  return [...(native === undefined ? [] : [{ backend: native, featureLevel: "core" as const }]), { backend: "opengles", featureLevel: "compatibility" }]
}

/** Dawn's create() options for an attempt. */
export const dawnOptions = (attempt: DawnAttempt): Array<string> => [`backend=${attempt.backend}`]

/** The adapter's own description (GPUAdapterInfo) plus how it was reached. */
export interface WebgpuAdapterInfo {
  readonly vendor: string
  readonly architecture: string
  readonly device: string
  readonly description: string
  /** WebGPU's "fallback adapter" flag (Dawn sets it for SwiftShader). */
  readonly isFallbackAdapter: boolean
  /** A CPU rasteriser (llvmpipe, lavapipe, SwiftShader, WARP...): correct, but slower than wasm. */
  readonly software: boolean
  /** The Dawn backend that answered ("vulkan", "metal", "d3d12", "opengles"). */
  readonly backend: string
  readonly featureLevel: FeatureLevel
}

/** Names CPU implementations of Vulkan, GL and D3D give themselves. */
const SOFTWARE_NAMES = /llvmpipe|lavapipe|softpipe|swiftshader|swrast|software rasterizer|microsoft basic render|\bwarp\b/i

/** Whether an adapter is a CPU implementation, from its flag and its names. */
export const isSoftwareAdapter = (info: Pick<WebgpuAdapterInfo, "vendor" | "architecture" | "device" | "description" | "isFallbackAdapter">): boolean =>
  info.isFallbackAdapter || SOFTWARE_NAMES.test([info.vendor, info.architecture, info.device, info.description].join(" "))

/** One line naming the adapter, e.g. "llvmpipe-llvm-15-0-6-256-bits- (OpenGL ES 3.2 Mesa 22.3.6; opengles, compatibility, software)". */
export const describeAdapter = (a: WebgpuAdapterInfo): string => {
  const name = [a.vendor, a.architecture, a.device].filter((s) => s !== "").join(" ") || "unnamed adapter"
  const how = [a.backend, a.featureLevel, a.software ? "software" : "hardware"].join(", ")
  return a.description === "" ? `${name} (${how})` : `${name} (${a.description}; ${how})`
}

/** Why no usable WebGPU adapter was had. */
export type WebgpuUnavailableReason = "package-missing" | "load-failed" | "no-adapter" | "software-only" | "device-failed" | "probe-failed"

const REASON_TEXT: Readonly<Record<WebgpuUnavailableReason, string>> = {
  "package-missing": "package not installed",
  "load-failed": "Dawn's Node binding does not load",
  "no-adapter": "no WebGPU adapter answers",
  "software-only": "only a software adapter answers",
  "device-failed": "the adapter refused a device",
  "probe-failed": "the adapter probe failed",
}

/** No WebGPU adapter cairn may use: `reason` says which step failed, `detail` what was seen. */
export class WebgpuUnavailable extends Data.TaggedError("WebgpuUnavailable")<{
  readonly reason: WebgpuUnavailableReason
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return this.detail === "" ? REASON_TEXT[this.reason] : `${REASON_TEXT[this.reason]}: ${this.detail}`
  }
}
