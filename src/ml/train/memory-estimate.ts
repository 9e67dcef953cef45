/**
 * How much memory one training step of a ResNet-D holds, predicted before anything loads from the
 * variant, image size, batch and backend: fixed bytes (weights, gradients, AdamW's moments) plus
 * bytes per image (activations, saved tensors and their gradients), the per-image part growing with
 * the image's pixels. A pure function of its arguments: the plan (the train stage's `resources`
 * hook) and the message of a fold that trapped both use it.
 *
 * Every constant was fitted by `node --import tsx bench/train-memory.ts --variant V --size S
 * --batches 1,2,4 --backend B` (one step per batch, least squares over the batches), on the 2-core
 * AVX2 machine of issue #20, with the freeing backward pass (freeing-backward.ts). Refit them there
 * when the step's ops change.
 */
import { Data } from "effect"
import { formatBytes } from "../../core/fs-util.js"
import { GIB } from "../../core/resources.js"
import { BACKEND_PACKAGES, type BackendName, type BackendRequest, probeBackend } from "../engines/tfjs/backend-probe.js"
import { ONEDNN_PACKAGE } from "../engines/onednn/onednn-addon.js"
import type { ResNetVariant } from "../model/resnet.js"

/** The largest wasm32 heap: TF.js' wasm module may grow to 4 GiB less one 64 KiB page (its getHeapMax). */
export const WASM_HEAP_LIMIT_BYTES = 4 * GIB

/** The image size the per-image figures were measured at; other sizes scale by their pixels. */
const FIT_SIZE = 512

/** One step's memory as fixed + per-image bytes at `FIT_SIZE` px. */
interface StepFit {
  readonly fixedBytes: number
  readonly perImageBytes: number
}

const stepFit = (fixedGiB: number, perImageGiB: number): StepFit => ({ fixedBytes: fixedGiB * GIB, perImageBytes: perImageGiB * GIB })

/**
 * The fits, by how the backend holds its tensors.
 *
 * - `wasm+onednn`: the size the wasm heap grew to, at 512 px (resnet34d 0.347 + 0.2964/image: the
 *   README's 9.8 GiB at batch 32; resnet18d 0.221 + 0.1832). At 256 px the heap's slope is 0.0675
 *   GiB/image (0.0741 predicted); at small sizes the heap grows in steps and the fit is ~0.15 GiB low.
 * - `wasm` (TF.js' own kernels, no oneDNN): the wasm heap at 512 px, resnet34d 0.570 + 0.5108/image,
 *   resnet18d 0.420 + 0.3549: its filter gradients take more scratch (512 px batch 8 traps, issue #20).
 * - `tensor-count`: TF.js' own count of the bytes its tensors hold at the peak (`tf.profile`, any
 *   backend), an upper bound (a tensor sharing another's buffer counts twice): resnet34d 0.476 +
 *   0.5664/image, resnet18d 0.250 + 0.3955. For backends not measured on their own.
 */
const FITS: Readonly<Record<"wasm+onednn" | "wasm" | "tensor-count", Readonly<Record<ResNetVariant, StepFit>>>> = {
  "wasm+onednn": { resnet34d: stepFit(0.347, 0.2964), resnet18d: stepFit(0.221, 0.1832) },
  wasm: { resnet34d: stepFit(0.57, 0.5108), resnet18d: stepFit(0.42, 0.3549) },
  "tensor-count": { resnet34d: stepFit(0.476, 0.5664), resnet18d: stepFit(0.25, 0.3955) },
}

/**
 * What a training engine holds besides its tensors: its thread, TF.js and the wasm module's code,
 * oneDNN's scratch. Measured as the peak RSS less the wasm heap of bench/train-memory.ts (resnet34d
 * 512 px, wasm+onednn): 0.33 GiB at batch 1 and at batch 4 (`/usr/bin/time -v`).
 */
export const ENGINE_OVERHEAD_BYTES = 0.33 * GIB

/** Where a backend keeps its tensors: one wasm32 heap (at most 4 GiB), the machine's memory, or a device's. */
export type TensorPlace = "wasm-heap" | "host" | "device"

export const tensorPlace = (backend: BackendName): TensorPlace => {
  const tfName = BACKEND_PACKAGES[backend].tfName
  if (tfName === "wasm") return "wasm-heap"
  return tfName === "webgpu" || backend === "tensorflow-gpu" ? "device" : "host"
}

/** Whether a backend runs cairn's oneDNN kernels ("wasm+onednn", "cpu+onednn"). */
const onOnednn = (backend: BackendName): boolean => BACKEND_PACKAGES[backend].pkg === ONEDNN_PACKAGE

/**
 * The fit a backend's step follows. The native CPU engine (oneDNN over TF.js' cpu tensors) runs the
 * same kernels and backward pass as wasm+onednn, in buffers of exactly their size: wasm+onednn's
 * heap figures bound it until bench/train-memory.ts measures its RSS.
 */
const fitOf = (backend: BackendName, variant: ResNetVariant): StepFit => {
  if (onOnednn(backend)) return FITS["wasm+onednn"][variant]
  if (backend === "wasm") return FITS.wasm[variant]
  return FITS["tensor-count"][variant]
}

export interface TrainStepConfig {
  readonly variant: ResNetVariant
  readonly imgSize: number
  readonly batchSize: number
  readonly backend: BackendName
}

export interface TrainStepMemory {
  /** "resnet34d 512px batch 32": what the figures are of. */
  readonly subject: string
  readonly place: TensorPlace
  /** The bytes the backend's tensors hold at the step's peak (on wasm: the heap it grows to). */
  readonly tensorBytes: number
  /** The most its tensors may hold (the wasm heap's limit), or undefined: only the machine (or the device) limits them. */
  readonly limitBytes: number | undefined
  /** What a fold holds of the machine's memory: its tensors where they live there, and the engine's own. */
  readonly hostBytes: number
}

/** One training step's predicted peak (see the fits above). */
export const estimateTrainStep = (c: TrainStepConfig): TrainStepMemory => {
  const f = fitOf(c.backend, c.variant)
  const tensorBytes = f.fixedBytes + c.batchSize * f.perImageBytes * (c.imgSize / FIT_SIZE) ** 2
  const place = tensorPlace(c.backend)
  return {
    subject: `${c.variant} ${c.imgSize}px batch ${c.batchSize}`,
    place,
    tensorBytes,
    limitBytes: place === "wasm-heap" ? WASM_HEAP_LIMIT_BYTES : undefined,
    // A wasm heap cannot hold more than its limit: a step that needs more traps there (refused at plan time).
    hostBytes: ENGINE_OVERHEAD_BYTES + (place === "device" ? 0 : place === "wasm-heap" ? Math.min(tensorBytes, WASM_HEAP_LIMIT_BYTES) : tensorBytes),
  }
}

/** The largest batch whose step the backend's tensor limit holds (0: not even one image), or undefined without a limit. */
export const largestBatchWithin = (c: Omit<TrainStepConfig, "batchSize">): number | undefined => {
  if (tensorPlace(c.backend) !== "wasm-heap") return undefined
  const f = fitOf(c.backend, c.variant)
  return Math.max(0, Math.floor((WASM_HEAP_LIMIT_BYTES - f.fixedBytes) / (f.perImageBytes * (c.imgSize / FIT_SIZE) ** 2)))
}

/** How the wasm engine's way out reads: where oneDNN loads, the native CPU engine is one `backend=auto` away. */
export const wasmWayOut = (onednnLoads: boolean): string =>
  onednnLoads
    ? "use backend=auto (the native CPU engine: oneDNN is installed) or backend=webgpu"
    : "install oneDNN (apt-get install libdnnl-dev) for the native CPU engine, or use backend=webgpu"

/** A configuration whose step cannot fit its engine's memory: refused before anything runs. */
export class EngineMemoryExceeded extends Data.TaggedError("EngineMemoryExceeded")<{
  readonly subject: string
  readonly needBytes: number
  /** "the wasm engine" */
  readonly engine: string
  readonly limitBytes: number
  /** What to do instead: another engine, a smaller batch. */
  readonly wayOut: string
}> {
  override get message(): string {
    return `${this.subject} needs ~${formatBytes(this.needBytes)}; ${this.engine} holds at most ${formatBytes(this.limitBytes)}: ${this.wayOut}`
  }
}

/**
 * What a wasm module says when its heap runs out (or a pointer past it is used): an out-of-bounds
 * access, emscripten's abort, a call through a corrupted table, a heap that cannot grow.
 */
export const WASM_MEMORY_TRAPS: ReadonlyArray<string> = [
  "memory access out of bounds",
  "Aborted(",
  "table index is out of bounds",
  "could not allocate memory",
  "Cannot enlarge memory",
]

/** Whether an error's text is a wasm memory trap. */
export const isWasmMemoryTrap = (text: string): boolean => WASM_MEMORY_TRAPS.some((t) => text.includes(t))

/** A training task that died of a wasm trap: said with the step's estimate and the way out, the trap kept. */
export class EngineOutOfMemory extends Data.TaggedError("EngineOutOfMemory")<{
  /** "train fold 0" */
  readonly task: string
  /** The error as the engine reported it. */
  readonly trap: string
  readonly subject: string
  readonly needBytes: number
  readonly limitBytes: number
  readonly wayOut: string
  /** The engine's error. */
  readonly cause?: unknown
}> {
  override get message(): string {
    const need = `~${formatBytes(this.needBytes)}`
    const limit = formatBytes(this.limitBytes)
    const what =
      this.needBytes > this.limitBytes
        ? `${this.subject} needs ${need}; the wasm engine holds at most ${limit}`
        : `cairn's estimate for ${this.subject} is ${need}, within the ${limit} the wasm engine holds, so the step held more than predicted (src/ml/train/memory-estimate.ts) or the heap could not grow`
    return `${this.task}: the wasm engine ran out of memory (${this.trap}): ${what}: ${this.wayOut}`
  }
}

/**
 * Of the wasm heap, the share a step may be predicted to need for "auto" to train it there: the fit
 * undercounts small steps by ~0.15 GiB (the heap grows in steps), so keep well clear of the limit.
 */
const AUTO_WASM_HEAP_SHARE = 0.75

/**
 * The backend "auto" trains a step on. Where oneDNN loads, "auto" means the native CPU engine
 * (cpu+onednn: tensors in the machine's memory, the only engine that holds the seed's 512 px batch
 * 32), except for a step the wasm heap holds with room to spare: wasm+onednn runs the same oneDNN
 * kernels there about twice as fast (bench/train.ts, resnet34d 128 and 256 px batch 8: 19.95 vs
 * 8.58 and 7.34 vs 3.54 img/s), since the cpu backend allocates a fresh zeroed array per op. A
 * function of the params and the installed engines only, like every backend choice: keys stay put.
 */
export const backendForStep = (request: BackendRequest, step: Omit<TrainStepConfig, "backend">): BackendName => {
  if (request !== "auto") return request
  const probed = probeBackend()
  if (probed !== "cpu+onednn") return probed
  const onWasm = estimateTrainStep({ ...step, backend: "wasm+onednn" })
  return onWasm.tensorBytes <= AUTO_WASM_HEAP_SHARE * WASM_HEAP_LIMIT_BYTES ? "wasm+onednn" : "cpu+onednn"
}
