/**
 * Plain-TypeScript kernels over a backend's own memory: the views and allocations they need, for the
 * wasm backend (tensors live on the wasm heap, read in place) and for backends that keep JS typed
 * arrays or copy on read (cpu, tensorflow).
 */
import * as tf from "@tensorflow/tfjs"
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm"
import { cpuBufferPool } from "./buffer-pool.js"
import { KernelError } from "./kernel-errors.js"

type Info = tf.TensorInfo

/** The subset of a KernelBackend the host kernels use. */
interface GenericBackend {
  readSync(dataId: object): tf.backend_util.BackendValues
  makeTensorInfo(shape: Array<number>, dtype: tf.DataType, values?: tf.backend_util.BackendValues): Info
  disposeData(dataId: object, force?: boolean): boolean
}

const isWasm = (backend: object): backend is BackendWasm => typeof (backend as Partial<BackendWasm>).typedArrayFromHeap === "function"

/**
 * The tensors one kernel invocation reads and makes. Outputs are allocated first (`alloc`), then
 * `view` gives Float32Array views of inputs and outputs (on wasm, views taken before an allocation
 * may be detached by heap growth, hence the order). Every tensor allocated here is released by
 * `dispose()` unless handed out with `keep()`.
 */
export class HostScope {
  private readonly temps: Array<Info> = []
  private readonly pending = new Map<object, Float32Array>()

  constructor(readonly backend: object) {}

  get wasm(): BackendWasm | undefined {
    return isWasm(this.backend) ? this.backend : undefined
  }

  alloc(shape: Array<number>): Info {
    let info: Info
    if (isWasm(this.backend)) {
      info = this.backend.makeOutput(shape, "float32")
    } else {
      // On cpu, an array freed by an earlier output of this length (not zeroed: kernels write all of it).
      const length = tf.util.sizeFromShape(shape)
      const values = cpuBufferPool(this.backend)?.take(length) ?? new Float32Array(length)
      info = (this.backend as GenericBackend).makeTensorInfo(shape, "float32", values)
      this.pending.set(info.dataId, values)
    }
    this.temps.push(info)
    return info
  }

  /** A Float32Array over the tensor's data: in place on wasm and cpu, a copy on other backends. */
  view(info: Info): Float32Array {
    if (info.dtype !== "float32") {
      throw new KernelError({ kernel: "host kernel", input: `[${info.shape.join(", ")}]`, detail: `float32 expected, got ${info.dtype}` })
    }
    if (isWasm(this.backend)) return this.backend.typedArrayFromHeap(info) as Float32Array
    const own = this.pending.get(info.dataId)
    if (own !== undefined) return own
    // In place on cpu without marking the values read out of TF.js (which would keep them from reuse).
    const values = cpuBufferPool(this.backend)?.values(info.dataId) ?? (this.backend as GenericBackend).readSync(info.dataId)
    if (!(values instanceof Float32Array)) {
      throw new KernelError({ kernel: "host kernel", input: `[${info.shape.join(", ")}]`, detail: "the backend returned no Float32Array" })
    }
    return values
  }

  /** Registers a tensor made by another kernel inside this scope, so it is released with the scope. */
  adopt(info: Info): Info {
    this.temps.push(info)
    return info
  }

  /** Releases a scratch tensor now (its memory, and any XNNPACK operator cached on it). */
  release(info: Info): void {
    const i = this.temps.findIndex((t) => t.dataId === info.dataId)
    if (i >= 0) this.temps.splice(i, 1)
    this.pending.delete(info.dataId)
    ;(this.backend as GenericBackend).disposeData(info.dataId)
  }

  keep(info: Info): Info {
    const i = this.temps.findIndex((t) => t.dataId === info.dataId)
    if (i >= 0) this.temps.splice(i, 1)
    return info
  }

  dispose(): void {
    for (const t of this.temps) (this.backend as GenericBackend).disposeData(t.dataId)
    this.temps.length = 0
    this.pending.clear()
  }
}

/** Runs `body` with a fresh scope and releases its scratch tensors whatever happens. */
export function withScope<T>(backend: object, body: (scope: HostScope) => T): T {
  const scope = new HostScope(backend)
  try {
    return body(scope)
  } finally {
    scope.dispose()
  }
}

/** Same storage, another shape: a reshape that needs no kernel (ownership stays with the caller). */
export const withShape = (info: Info, shape: Array<number>): Info => ({ dataId: info.dataId, shape, dtype: info.dtype })
