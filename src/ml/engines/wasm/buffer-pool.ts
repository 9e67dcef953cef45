/**
 * Reuse of the float32 arrays that host kernels (heap.ts' `HostScope`) write on TF.js' cpu backend.
 *
 * Why: the cpu backend keeps each tensor as a plain TypedArray, dropped when the tensor is disposed
 * and freed only when V8 next collects it. A training step allocates a fresh zeroed array per
 * kernel output: the kernel then page-faults every page of it in (the step's AdamW update, which
 * touches its arrays once, ran 10x slower on cpu+onednn than on the wasm heap), and V8's
 * external-memory pressure forces full collections (about a fifth of a resnet34d step at 128 px).
 * Here an array whose last tensor is disposed goes back to a pool and the next output of the same
 * length takes it: after the first step, a step allocates almost nothing.
 *
 * Safety: the pool hooks the backend's `write` / `move` (every tensor stored, its values possibly a
 * view of a pooled array, e.g. a Slice's subarray), `disposeData` (a tensor's storage gone) and
 * `readSync` (values handed out of TF.js: `dataSync()`, `data()`, `bufferSync()`). An array is
 * reused only when no stored tensor views its buffer any more, and never once its values have been
 * read out (the caller may hold them: such an array is left to the garbage collector). Pooled arrays
 * are not zeroed: kernels allocating through the pool write every element of their outputs (as
 * they must on the wasm heap, whose allocations are not zeroed either).
 *
 * Bound: the pool's arrays, live and free together, never total more than the largest set of them
 * alive at once (the step's own working set, which it needs again next step, and what it would hold
 * without the pool): a new array, or a freed one past that, leaves the oldest free ones to the
 * garbage collector.
 */

/** The parts of TF.js' cpu backend (tfjs-backend-cpu 4.22's MathBackendCPU) the pool hooks. */
interface CpuBackendInternals {
  data: { get(dataId: object): { values?: unknown } | undefined; has(dataId: object): boolean }
  write(values: unknown, shape: Array<number>, dtype: string): object
  move(dataId: object, values: unknown, shape: Array<number>, dtype: string, refCount: number): void
  disposeData(dataId: object, force?: boolean): boolean
  readSync(dataId: object): unknown
}

/** A pooled array: how many stored tensors view its buffer, and whether its values left TF.js. */
interface Owned {
  readonly array: Float32Array
  views: number
  readOut: boolean
}

const isCpuBackend = (backend: object): backend is CpuBackendInternals => {
  const b = backend as Partial<CpuBackendInternals>
  return typeof b.data?.get === "function" && typeof b.write === "function" && typeof b.move === "function" && typeof b.readSync === "function"
}

const bufferOf = (values: unknown): ArrayBufferLike | undefined => (ArrayBuffer.isView(values) ? values.buffer : undefined)

export class CpuBufferPool {
  private readonly owned = new WeakMap<ArrayBufferLike, Owned>()
  /** Free arrays by length, and all of them oldest first (for eviction). */
  private readonly free = new Map<number, Array<Float32Array>>()
  private readonly freeOrder = new Set<Float32Array>()
  private freeBytes = 0
  private liveBytes = 0
  private peakLiveBytes = 0
  /** Arrays allocated fresh and taken from the pool (for tests and the bench). */
  readonly counts = { fresh: 0, reused: 0 }

  constructor(private readonly backend: CpuBackendInternals) {
    const { write, move, disposeData, readSync } = backend
    backend.write = (values, shape, dtype) => {
      this.stored(values)
      return write.call(backend, values, shape, dtype)
    }
    backend.move = (dataId, values, shape, dtype, refCount) => {
      this.dropped(dataId)
      this.stored(values)
      move.call(backend, dataId, values, shape, dtype, refCount)
    }
    backend.disposeData = (dataId, force) => {
      const values = backend.data.get(dataId)?.values
      const released = disposeData.call(backend, dataId, force)
      if (values !== undefined && !backend.data.has(dataId)) this.release(values)
      return released
    }
    backend.readSync = (dataId) => {
      const values = readSync.call(backend, dataId)
      const buffer = bufferOf(values)
      const owned = buffer === undefined ? undefined : this.owned.get(buffer)
      if (owned !== undefined) owned.readOut = true
      return values
    }
  }

  /** A float32 array of `length` elements, not zeroed (reused when a free one has that length). */
  take(length: number): Float32Array {
    const reused = this.free.get(length)?.pop()
    let array: Float32Array
    if (reused !== undefined) {
      this.freeOrder.delete(reused)
      this.freeBytes -= reused.byteLength
      array = reused
      this.counts.reused++
    } else {
      array = new Float32Array(length)
      this.counts.fresh++
    }
    this.owned.set(array.buffer, { array, views: 0, readOut: false })
    this.liveBytes += array.byteLength
    this.peakLiveBytes = Math.max(this.peakLiveBytes, this.liveBytes)
    // A new array grows what the pool's arrays take, live and free: free ones of other lengths make
    // room, so that the total stays within the live peak (what the step needs without a pool).
    if (reused === undefined) this.evictDownTo(this.peakLiveBytes - this.liveBytes)
    return array
  }

  /** A tensor's values in place, without marking them read out (for kernels, during the kernel). */
  values(dataId: object): unknown {
    return this.backend.data.get(dataId)?.values
  }

  /** Bytes of free arrays held for reuse. */
  get heldBytes(): number {
    return this.freeBytes
  }

  /** Bytes of pooled arrays some tensor still views. */
  get liveArrayBytes(): number {
    return this.liveBytes
  }

  /** The most bytes of pooled arrays alive at once so far: the bound on live + held bytes. */
  get peakBytes(): number {
    return this.peakLiveBytes
  }

  private stored(values: unknown): void {
    const buffer = bufferOf(values)
    const owned = buffer === undefined ? undefined : this.owned.get(buffer)
    if (owned !== undefined) owned.views++
  }

  private dropped(dataId: object): void {
    const values = this.backend.data.get(dataId)?.values
    if (values !== undefined) this.release(values)
  }

  private release(values: unknown): void {
    const buffer = bufferOf(values)
    const owned = buffer === undefined ? undefined : this.owned.get(buffer)
    if (owned === undefined || --owned.views > 0) return
    this.owned.delete(buffer!)
    this.liveBytes -= owned.array.byteLength
    if (owned.readOut) return
    this.recycle(owned.array)
  }

  /** Leaves the oldest free arrays to the garbage collector until the free ones total at most `bytes`. */
  private evictDownTo(bytes: number): void {
    for (const oldest of this.freeOrder) {
      if (this.freeBytes <= bytes) return
      this.freeOrder.delete(oldest)
      const list = this.free.get(oldest.length)!
      list.splice(list.indexOf(oldest), 1)
      this.freeBytes -= oldest.byteLength
    }
  }

  private recycle(array: Float32Array): void {
    // Released live bytes make room for it: live + free stays within the live peak.
    this.evictDownTo(this.peakLiveBytes - this.liveBytes - array.byteLength)
    let list = this.free.get(array.length)
    if (list === undefined) {
      list = []
      this.free.set(array.length, list)
    }
    list.push(array)
    this.freeOrder.add(array)
    this.freeBytes += array.byteLength
  }
}

const pools = new WeakMap<object, CpuBufferPool>()

/** The pool of TF.js' cpu backend instance `backend` (installed on first use), or undefined for another backend. */
export function cpuBufferPool(backend: object): CpuBufferPool | undefined {
  const existing = pools.get(backend)
  if (existing !== undefined) return existing
  if (!isCpuBackend(backend)) return undefined
  const pool = new CpuBufferPool(backend)
  pools.set(backend, pool)
  return pool
}
