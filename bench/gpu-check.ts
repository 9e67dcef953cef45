/**
 * The GPU check as one plain script, bundled by bench/gpu-bundle.ts (esbuild) to travel to a GPU
 * machine that has no Node and no node_modules: `node check.mjs [--out DIR] [--allow-software]`.
 *
 * 1. Opens Dawn's adapter and TF.js' webgpu backend (src/ml/webgpu/), prints its buffer limits.
 * 2. Checks it against TF.js' cpu backend, as test/ml/engines/webgpu/webgpu-backend.test.ts does against cpu and wasm
 *    (bench/gpu-cases.ts): conv2d and both gradients to 1e-5, a tiny resnet18d's AdamW steps (losses
 *    and first gradients to 1e-4, losses going down), eval logits to 1e-5, no device errors.
 * 3. Benchmarks resnet34d training and inference at 128 px batch 8 and the seed's 512 px batch 32
 *    (img/s; GPU memory as TF.js' buffer pool holds it, and nvidia-smi's peak where it exists),
 *    after the step-size check (src/ml/engines/webgpu/limits.ts). On a software adapter (llvmpipe, in CI)
 *    only a tiny model at 64 px: a resnet34d step at 128 px takes minutes there.
 *
 * Writes gpu-check.json in the output folder and exits 0 only when every check passed.
 */
import { spawn } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import * as tf from "@tensorflow/tfjs"
import { Effect, Either } from "effect"
import { AdamW } from "../src/ml/train/adamw.js"
import { klDivLossWithLogits } from "../src/ml/train/loss.js"
import { buildResNet } from "../src/ml/model/resnet.js"
import { ALLOW_SOFTWARE_ENV, describeAdapter } from "../src/ml/engines/webgpu/adapter.js"
import { initWebgpuBackend, webgpuDeviceErrors } from "../src/ml/engines/webgpu/webgpu-backend.js"
import { type StepModel, stepTooLarge } from "../src/ml/engines/webgpu/limits.js"
import { CONV_CASES, CONV_OUTPUTS, convAndGrads, GPU_CHECK_REPORT, scaledError, TINY, tinyEvalWith, trainTiny } from "./gpu-cases.js"

/** Where the report goes without --out or $OUT (never the working directory: it may be a repository). */
const DEFAULT_OUT = "/tmp/cairn-gpu-check"
const CONV_BOUND = 1e-5
const TRAIN_BOUND = 1e-4

interface BenchConfig {
  readonly model: StepModel
  readonly size: number
  readonly batch: number
  /** Timed steps (train) and batches (infer), after one untimed of each. */
  readonly steps: number
}

const SEED_MODEL: StepModel = { variant: "resnet34d", inChans: 1, numClasses: 6 }
/** The issue's figures: 128 px batch 8 and the seed's 512 px batch 32. */
const HARDWARE_BENCH: ReadonlyArray<BenchConfig> = [
  { model: SEED_MODEL, size: 128, batch: 8, steps: 10 },
  { model: SEED_MODEL, size: 512, batch: 32, steps: 5 },
]
const SOFTWARE_BENCH: ReadonlyArray<BenchConfig> = [{ model: { variant: "resnet18d", inChans: 1, numClasses: 6, width: 0.25 }, size: 64, batch: 2, steps: 2 }]
const SOFTWARE_NOTE =
  "software adapter: resnet34d at 128 px b8 and 512 px b32 not run (minutes a step on a CPU rasteriser), only checked against the limits; a tiny model instead"

interface Check {
  readonly name: string
  readonly error: number
  readonly bound: number
  readonly ok: boolean
}

const check = (name: string, error: number, bound: number): Check => ({ name, error, bound, ok: error < bound })

/** nvidia-smi's memory.used (MiB), sampled every 100 ms while the benchmark runs, where it exists. */
const gpuMemorySampler = () => {
  const samples: Array<{ readonly at: number; readonly mib: number }> = []
  const child = spawn("nvidia-smi", ["--query-gpu=memory.used", "--format=csv,noheader,nounits", "-lms", "100"], { stdio: ["ignore", "pipe", "ignore"] })
  let available = true
  child.on("error", () => {
    available = false
  })
  child.stdout.setEncoding("utf8").on("data", (text: string) => {
    for (const line of text.split("\n")) {
      const mib = Number.parseFloat(line)
      if (Number.isFinite(mib)) samples.push({ at: performance.now(), mib })
    }
  })
  return {
    /** The highest reading between two instants (null without nvidia-smi or readings). */
    peakMiB: (from: number, to: number): number | null => {
      if (!available) return null
      const inside = samples.filter((s) => s.at >= from && s.at <= to).map((s) => s.mib)
      return inside.length === 0 ? null : Math.max(...inside)
    },
    stop: () => child.kill(),
  }
}

const tfGpuBytes = () => tf.memory() as tf.MemoryInfo & { readonly numBytesInGPU?: number; readonly numBytesAllocatedInGPU?: number }
const MIB = 1024 ** 2

/** One benchmark configuration: training steps, then inference batches, each read back before the next. */
const bench = async (c: BenchConfig, adapter: string, limits: Parameters<typeof stepTooLarge>[3], memory: ReturnType<typeof gpuMemorySampler>) => {
  const label = `${c.model.variant}${c.model.width === undefined ? "" : ` width ${c.model.width}`} ${c.size}px b${c.batch}`
  const refusal = stepTooLarge(c.model, c.size, c.batch, limits, adapter)
  if (refusal !== undefined) return { label, size: c.size, batch: c.batch, refused: refusal.message }
  const started = performance.now()
  const model = buildResNet(c.model, 0)
  const optimizer = new AdamW(model.trainable)
  const x = tf.tensor4d(
    Float32Array.from({ length: c.batch * c.size * c.size * c.model.inChans }, (_, i) => Math.sin(i * 0.37)),
    [c.batch, c.size, c.size, c.model.inChans],
  )
  const y = tf.tidy(() => tf.softmax(tf.randomNormal([c.batch, c.model.numClasses], 0, 1, "float32", 1)))
  try {
    const trainStep = async () => {
      const loss = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => klDivLossWithLogits(model.forward(x, true), y as tf.Tensor2D), model.trainable as Array<tf.Variable>)
        optimizer.step(model.trainable.map((v) => grads[v.name]!))
        return value
      })
      const value = (await loss.data())[0]!
      loss.dispose()
      return value
    }
    const inferBatch = async () => {
      const logits = tf.tidy(() => model.forward(x, false))
      await logits.data()
      logits.dispose()
    }
    const timed = async (run: () => Promise<unknown>) => {
      await run()
      const t0 = performance.now()
      for (let i = 0; i < c.steps; i++) await run()
      return (c.steps * c.batch) / ((performance.now() - t0) / 1000)
    }
    const losses: Array<number> = []
    const trainImagesPerSecond = await timed(async () => losses.push(await trainStep()))
    const inferImagesPerSecond = await timed(inferBatch)
    const pool = tfGpuBytes()
    return {
      label,
      size: c.size,
      batch: c.batch,
      steps: c.steps,
      train: { imagesPerSecond: trainImagesPerSecond, lossesFinite: losses.every(Number.isFinite) },
      infer: { imagesPerSecond: inferImagesPerSecond },
      gpuMemory: {
        tfjsPoolMiB: pool.numBytesAllocatedInGPU === undefined ? null : pool.numBytesAllocatedInGPU / MIB,
        nvidiaSmiPeakMiB: memory.peakMiB(started, performance.now()),
      },
    }
  } finally {
    tf.dispose([x, y])
    optimizer.dispose()
    model.dispose()
  }
}

/** A configuration only checked against the limits (on a software adapter). */
const limitsOnly = (c: BenchConfig, adapter: string, limits: Parameters<typeof stepTooLarge>[3]) => {
  const label = `${c.model.variant} ${c.size}px b${c.batch}`
  const refusal = stepTooLarge(c.model, c.size, c.batch, limits, adapter)
  return refusal === undefined
    ? { label, size: c.size, batch: c.batch, skipped: SOFTWARE_NOTE }
    : { label, size: c.size, batch: c.batch, refused: refusal.message }
}

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}

const main = async (): Promise<number> => {
  const out = arg("out") ?? process.env["OUT"] ?? DEFAULT_OUT
  mkdirSync(out, { recursive: true })
  const allowSoftware = process.argv.includes("--allow-software") || process.env[ALLOW_SOFTWARE_ENV] === "1"
  const report: Record<string, unknown> = { node: process.version, tfjs: tf.version.tfjs }
  const write = () => writeFileSync(path.join(out, GPU_CHECK_REPORT), `${JSON.stringify(report, null, 2)}\n`)

  const opened = await Effect.runPromise(Effect.either(initWebgpuBackend({ allowSoftware })))
  if (Either.isLeft(opened)) {
    report["ok"] = false
    report["error"] = opened.left.message
    write()
    console.error(`gpu-check: no WebGPU backend: ${opened.left.message}`)
    return 1
  }
  const { dawn } = opened.right
  const adapter = describeAdapter(dawn.adapter)
  Object.assign(report, { adapter, software: dawn.adapter.software, dawnVersion: dawn.dawnVersion, limits: dawn.limits })
  console.log(
    `gpu-check: ${adapter}, webgpu ${dawn.dawnVersion}, maxBufferSize ${dawn.limits.maxBufferSize}, maxStorageBufferBindingSize ${dawn.limits.maxStorageBufferBindingSize}`,
  )

  const checks: Array<Check> = []
  const gpuConv = []
  for (const c of CONV_CASES) gpuConv.push(await convAndGrads(c))
  const gpuTiny = await trainTiny()
  await tf.setBackend("cpu")
  for (const [i, c] of CONV_CASES.entries()) {
    const ref = await convAndGrads(c)
    for (const [k, what] of CONV_OUTPUTS.entries()) checks.push(check(`conv ${c.name}: ${what}`, scaledError(gpuConv[i]![k]!, ref[k]!), CONV_BOUND))
  }
  const cpuTiny = await trainTiny()
  gpuTiny.losses.forEach((loss, i) =>
    checks.push(check(`tiny resnet18d step ${i + 1} loss`, Math.abs(loss - cpuTiny.losses[i]!) / cpuTiny.losses[i]!, TRAIN_BOUND)),
  )
  checks.push(check("tiny resnet18d trains (last loss below first: 0)", gpuTiny.losses[TINY.steps - 1]! < gpuTiny.losses[0]! ? 0 : 1, 0.5))
  gpuTiny.grads.forEach((g, i) => checks.push(check(`tiny resnet18d first-step gradient ${i}`, scaledError(g, cpuTiny.grads[i]!), TRAIN_BOUND)))
  checks.push(check("tiny resnet18d eval logits, same weights", scaledError(gpuTiny.logits, await tinyEvalWith(gpuTiny.state)), CONV_BOUND))
  await Effect.runPromise(initWebgpuBackend({ allowSoftware }))
  report["checks"] = checks
  const failed = checks.filter((c) => !c.ok)
  console.log(`gpu-check: ${checks.length - failed.length}/${checks.length} checks within bounds against the cpu backend`)
  for (const f of failed) console.log(`  FAILED ${f.name}: ${f.error} (bound ${f.bound})`)

  const memory = gpuMemorySampler()
  const results = []
  try {
    if (dawn.adapter.software) report["benchNote"] = SOFTWARE_NOTE
    for (const c of dawn.adapter.software ? [...SOFTWARE_BENCH, ...HARDWARE_BENCH] : HARDWARE_BENCH) {
      const r = dawn.adapter.software && !SOFTWARE_BENCH.includes(c) ? limitsOnly(c, adapter, dawn.limits) : await bench(c, adapter, dawn.limits, memory)
      results.push(r)
      console.log(
        "refused" in r
          ? `gpu-check: ${r.label}: refused: ${r.refused}`
          : "skipped" in r
            ? `gpu-check: ${r.label}: fits the limits, not run (software adapter)`
            : `gpu-check: ${r.label}: train ${r.train.imagesPerSecond.toFixed(2)} img/s, infer ${r.infer.imagesPerSecond.toFixed(2)} img/s, TF.js GPU pool ${r.gpuMemory.tfjsPoolMiB?.toFixed(0)} MiB, nvidia-smi peak ${r.gpuMemory.nvidiaSmiPeakMiB ?? "n/a"} MiB`,
      )
    }
  } finally {
    memory.stop()
  }
  report["bench"] = results
  const deviceErrors = [...webgpuDeviceErrors()]
  report["deviceErrors"] = deviceErrors
  const benchOk = results.every((r) => "refused" in r || "skipped" in r || r.train.lossesFinite)
  report["ok"] = failed.length === 0 && deviceErrors.length === 0 && benchOk
  write()
  if (deviceErrors.length > 0) console.log(`gpu-check: ${deviceErrors.length} device errors, first: ${deviceErrors[0]}`)
  console.log(`gpu-check: ${report["ok"] ? "ok" : "FAILED"}; report in ${path.join(out, GPU_CHECK_REPORT)}`)
  return report["ok"] ? 0 : 1
}

// A Dawn instance keeps the event loop alive: exit explicitly.
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error("gpu-check: crashed:", error)
    process.exit(2)
  },
)
