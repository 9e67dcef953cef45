/**
 * The cpu backend's array pool (src/ml/engines/wasm/buffer-pool.ts): outputs of host kernels reuse the arrays of
 * disposed tensors, but never an array that a live tensor still views (a Slice's subarray) or whose
 * values were read out of TF.js (dataSync), and the free arrays stay within the largest live set.
 */
import "@tensorflow/tfjs-backend-cpu"
import * as tf from "@tensorflow/tfjs"
import { beforeAll, describe, expect, it } from "vitest"
import { cpuBufferPool } from "../../../../src/ml/engines/wasm/buffer-pool.js"
import { withScope } from "../../../../src/ml/engines/wasm/heap.js"

const LENGTH = 4096

/** A tensor of `LENGTH` values `fill`, made the way host kernels make their outputs (HostScope). */
const pooled = (fill: number): tf.Tensor1D =>
  withScope(tf.backend(), (scope) => {
    const out = scope.alloc([LENGTH])
    scope.view(out).fill(fill)
    return tf.engine().makeTensorFromTensorInfo(scope.keep(out)) as tf.Tensor1D
  })

describe("cpu buffer pool", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu")
  })

  it("an output reuses the array of a disposed tensor of its length", () => {
    const pool = cpuBufferPool(tf.backend())!
    expect(pool).toBeDefined()
    const a = pooled(1)
    a.dispose()
    const reusedBefore = pool.counts.reused
    const b = pooled(2)
    expect(pool.counts.reused).toBe(reusedBefore + 1)
    expect(Array.from(b.dataSync().slice(0, 3))).toEqual([2, 2, 2])
    b.dispose()
  })

  it("an array a live Slice still views is not reused", () => {
    const a = pooled(7)
    const head = tf.slice(a, 0, 16)
    a.dispose()
    const b = pooled(9)
    expect(Array.from(head.dataSync())).toEqual(new Array(16).fill(7))
    b.dispose()
    head.dispose()
  })

  it("an array whose values were read out (dataSync) is not reused", () => {
    const a = pooled(3)
    const values = a.dataSync()
    a.dispose()
    const b = pooled(4)
    expect(values[0]).toBe(3)
    expect(values[LENGTH - 1]).toBe(3)
    b.dispose()
  })

  it("live and free arrays never total more than the largest set of pooled arrays alive at once", () => {
    const pool = cpuBufferPool(tf.backend())!
    const live = Array.from({ length: 4 }, (_, i) => pooled(i))
    for (const t of live) t.dispose()
    expect(pool.heldBytes).toBeGreaterThanOrEqual(4 * LENGTH * 4)
    // Other lengths, one at a time: each evicts older free arrays rather than growing the pool.
    for (let n = 1; n <= 8; n++) {
      withScope(tf.backend(), (scope) => scope.view(scope.alloc([LENGTH + n])).fill(0))
      expect(pool.heldBytes + pool.liveArrayBytes).toBeLessThanOrEqual(pool.peakBytes)
    }
    expect(pool.heldBytes).toBeGreaterThan(0)
  })

  it("answers nothing for a backend that is not TF.js' cpu backend", () => {
    expect(cpuBufferPool({})).toBeUndefined()
  })
})
