/**
 * `node --import tsx bench/train-memory.ts [--variant resnet34d] [--size 512] [--batches 1,2,4] [--target-batch 32] [--backend wasm+onednn] [--json OUT]`:
 * the tensor memory a training step needs, for sizing a GPU. One resnet training step (forward,
 * KL loss, gradients, AdamW) under `tf.profile` at a few small batches: TF.js' own count of the
 * bytes its tensors hold at the step's peak (backend-independent: the same ops and the same tape on
 * every backend; TF.js counts a tensor that shares another's buffer, e.g. a saved clone, again, so
 * this is an upper bound), and on the wasm backends the size the wasm heap grew to (the buffers
 * really allocated, with the allocator's slack), each fitted as fixed + per-image bytes and
 * extrapolated to the target batch (the seed's 512 px batch 32). A GPU backend also keeps a pool
 * of freed buffers for reuse, and its driver needs some memory of its own. Prints one JSON object.
 */
import { writeFileSync } from "node:fs"
import * as tf from "@tensorflow/tfjs"
import { RandomState } from "../src/data/random-state.js"
import { AdamW } from "../src/ml/train/adamw.js"
import { type BackendName, resolveBackendPromise } from "../src/ml/engines/tfjs/resolve-backend.js"
import { klDivLossWithLogits } from "../src/ml/train/loss.js"
import { buildResNet, type ResNetVariant } from "../src/ml/model/resnet.js"

const IN_CHANS = 1
const NUM_CLASSES = 6
const GIB = 1024 ** 3
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt
}

const variant = arg("variant", "resnet34d") as ResNetVariant
const size = Number(arg("size", "512"))
const batches = arg("batches", "1,2,4").split(",").map(Number)
const targetBatch = Number(arg("target-batch", "32"))
const backend = arg("backend", "wasm+onednn") as BackendName

const main = async () => {
  const resolved = await resolveBackendPromise(backend, {})
  const model = buildResNet({ variant, inChans: IN_CHANS, numClasses: NUM_CLASSES }, 0)
  const trainable = model.trainable as Array<tf.Variable>
  const optimizer = new AdamW(model.trainable)
  const rs = new RandomState(0)
  const heapBytes = () => (tf.backend() as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.byteLength ?? null
  const measured: Array<{ batch: number; peakBytes: number; heldBytes: number; wasmHeapBytes: number | null; stepSeconds: number }> = []
  for (const batch of batches) {
    const xs = new Float32Array(batch * size * size * IN_CHANS)
    for (let i = 0; i < xs.length; i++) xs[i] = rs.standardNormal()
    const input = tf.tensor4d(xs, [batch, size, size, IN_CHANS])
    const target = tf.tidy(() => tf.softmax(tf.randomNormal([batch, NUM_CLASSES], 0, 1, "float32", 1)) as tf.Tensor2D)
    const held = tf.memory().numBytes
    const t0 = performance.now()
    const info = await tf.profile(async () => {
      const loss = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => klDivLossWithLogits(model.forward(input, true), target), trainable)
        optimizer.step(trainable.map((v) => grads[v.name]))
        return value
      })
      await loss.data()
      loss.dispose()
    })
    measured.push({
      batch,
      peakBytes: info.peakBytes,
      heldBytes: held,
      wasmHeapBytes: heapBytes(),
      stepSeconds: Number(((performance.now() - t0) / 1000).toFixed(2)),
    })
    input.dispose()
    target.dispose()
  }
  const fitOf = (ys: ReadonlyArray<number>) => {
    // Least squares over the batches: bytes = fixed + perImage * batch.
    const bs = measured.map((m) => m.batch)
    const n = bs.length
    const mx = bs.reduce((a, b) => a + b, 0) / n
    const my = ys.reduce((a, b) => a + b, 0) / n
    const sxx = bs.reduce((a, b) => a + (b - mx) ** 2, 0)
    const perImage = n > 1 ? bs.reduce((a, b, i) => a + (b - mx) * (ys[i]! - my), 0) / sxx : my / mx
    const fixed = my - perImage * mx
    return {
      fixedGiB: Number((fixed / GIB).toFixed(3)),
      perImageGiB: Number((perImage / GIB).toFixed(4)),
      targetGiB: Number(((fixed + perImage * targetBatch) / GIB).toFixed(2)),
    }
  }
  const heaps = measured.map((m) => m.wasmHeapBytes)
  const result = {
    bench: "train-memory",
    variant,
    size,
    backend: resolved.name,
    measured,
    targetBatch,
    tensorBytes: fitOf(measured.map((m) => m.peakBytes)),
    wasmHeap: heaps.every((h): h is number => h !== null) ? fitOf(heaps) : null,
  }
  const text = JSON.stringify(result, null, 2)
  console.log(text)
  const out = arg("json", "")
  if (out) writeFileSync(out, `${text}\n`)
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  },
)
