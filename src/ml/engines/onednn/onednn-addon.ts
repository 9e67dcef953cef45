/**
 * The oneDNN addon (`@cairn/onednn`, packages/onednn): cairn's native CPU kernels, built at install
 * when libdnnl is found. `loadOnednn()` answers the addon or why it is unavailable (never throws for
 * an absent or unbuilt addon); the answer is computed once per thread.
 */
import { createHash } from "node:crypto"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { fileURLToPath } from "node:url"

export const ONEDNN_PACKAGE = "@cairn/onednn"

/** The addon's package in this repository (npm links node_modules/@cairn/onednn to it). */
const PACKAGE_DIR = new URL("../../../../packages/onednn/", import.meta.url)
const packageFile = (rel: string): string => fileURLToPath(new URL(rel, PACKAGE_DIR))

/** What decides the addon's computation: its C++ source and build settings. */
const ONEDNN_SOURCES: ReadonlyArray<string> = ["src/addon.cc", "binding.gyp"].map(packageFile)

/** What decides whether the addon loads and what it computes (a probe's engine inputs). */
export const ONEDNN_PROBE_INPUTS: ReadonlyArray<string> = [
  packageFile("build/Release/cairn_onednn.node"),
  packageFile("build/unavailable.txt"),
  ...ONEDNN_SOURCES,
]

/** sha256 (first 16 hex digits) of the addon's sources: part of the engine identity. */
export function onednnSourceHash(): string {
  const h = createHash("sha256")
  for (const file of ONEDNN_SOURCES) h.update(readFileSync(file))
  return h.digest("hex").slice(0, 16)
}

/** The addon's exports (packages/onednn/src/addon.cc). */
export interface OnednnAddon {
  /** op 0 forward (a = x, b = filter, out = y), 1 backward-data (a = dy, b = filter, out = dx), 2 backward-weights (a = x, b = dy, out = dfilter). */
  conv(
    op: 0 | 1 | 2,
    geometry: Int32Array,
    a: Float32Array,
    b: Float32Array,
    out: Float32Array,
    weightsId: number,
    bias: Float32Array | null,
    relu: boolean,
  ): void
  /** The implementation oneDNN picks for a geometry, e.g. "brgconv:avx512_core". */
  convImpl(op: 0 | 1 | 2, geometry: Int32Array, bias: boolean, relu: boolean): string
  releaseWeights(id: number): void
  weightsCacheBytes(): number
  channelMoments(x: Float32Array, channels: number, out: Float32Array): void
  /** y: the fused ReLU's output (the gradient passes where it is positive), or null without ReLU. */
  batchNormGradSums(g: Float32Array, x: Float32Array, mean: Float32Array, y: Float32Array | null, channels: number, out: Float32Array): void
  /** out = x * scale + shift per channel (then ReLU). */
  channelAffine(x: Float32Array, scale: Float32Array, shift: Float32Array, channels: number, relu: boolean, out: Float32Array): void
  /** dx = (gz * a + x * b) + c per channel, gz = g (y null) or g * step(y). */
  batchNormBackward(
    g: Float32Array,
    x: Float32Array,
    y: Float32Array | null,
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    channels: number,
    dx: Float32Array,
  ): void
  /** One AdamW step (see adamw.ts' FUSED_ADAMW for the scalars). */
  adamw(
    param: Float32Array,
    grad: Float32Array,
    expAvg: Float32Array,
    expAvgSq: Float32Array,
    outParam: Float32Array,
    outExpAvg: Float32Array,
    outExpAvgSq: Float32Array,
    scalars: Float32Array,
  ): void
  /** geometry = [B, H, W, C, Ho, Wo, sh, sw, kh, kw, pt, pl] */
  maxPoolGrad(dy: Float32Array, x: Float32Array, geometry: Int32Array, dx: Float32Array): void
  /** geometry as maxPoolGrad's; windows must not overlap (stride = window). */
  avgPoolGrad(dy: Float32Array, geometry: Int32Array, dx: Float32Array): void
  /** out = a op b (op 0 add, 1 sub, 2 mul): the larger operand has out's length, the other's divides it (it repeats). */
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array): void
  /** out = a op b broadcast: geometry = [rank, out dims, a strides, b strides] (stride 0 where broadcast). */
  broadcastBinary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, geometry: Int32Array): void
  /** op 0: TF.js' Relu, 1: Step(alpha). */
  unary(op: number, x: Float32Array, alpha: number, out: Float32Array): void
  /** TF.js' cpu Mean of channels-last x [B, ..., C] over its middle axes into out [B * C]. */
  spatialMean(x: Float32Array, batch: number, channels: number, out: Float32Array): void
  /** TF.js' cpu MaxPool (max true) or AvgPool, no dilation; geometry as maxPoolGrad's. */
  pool(max: boolean, x: Float32Array, geometry: Int32Array, out: Float32Array): void
  /** The calling thread's OpenMP team size for the primitives it creates from now on. */
  setThreads(threads: number): void
  info(): OnednnInfo
}

export interface OnednnInfo {
  /** oneDNN's version, e.g. "2.6.3". */
  readonly version: string
  readonly hash: string
  /** The instruction set oneDNN dispatches to here, e.g. "avx512_core_vnni". */
  readonly isa: string
  readonly threading: string
  readonly maxThreads: number
}

export type OnednnLoad =
  | { readonly available: true; readonly addon: OnednnAddon; readonly info: OnednnInfo }
  | { readonly available: false; readonly reason: string }

const require_ = createRequire(import.meta.url)
let loaded: OnednnLoad | undefined

const reasonOf = (error: unknown): string => {
  const e = error as { code?: string; message?: string }
  if (e.code === "MODULE_NOT_FOUND" && e.message?.includes(ONEDNN_PACKAGE)) return `${ONEDNN_PACKAGE} not installed (npm ci installs it)`
  return e.message?.split("\n")[0] ?? String(error)
}

/** The addon, or why not (package absent, not built, libdnnl missing at load). */
export function loadOnednn(): OnednnLoad {
  if (loaded !== undefined) return loaded
  try {
    const addon = require_(ONEDNN_PACKAGE) as OnednnAddon
    loaded = { available: true, addon, info: addon.info() }
  } catch (error) {
    loaded = { available: false, reason: reasonOf(error) }
  }
  return loaded
}
