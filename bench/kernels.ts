/**
 * Per-layer convolution timings on the wasm backend for a ResNet-D train step: forward (with a new
 * filter tensor each call, as after an optimizer step), input gradient and filter gradient, for
 * both paths of `src/ml/engines/wasm/conv.ts` and the path the cost rule picks. Times are CPU ms (see minTime).
 *
 *   node --import tsx bench/kernels.ts [--variant resnet34d] [--res 128] [--batch 8] [--reps 5] [--json OUT]
 *
 * Prints one JSON object (and writes it to --json OUT).
 */
import * as tf from "@tensorflow/tfjs"
import "@tensorflow/tfjs-backend-wasm"
import { writeFileSync } from "node:fs"
import { DEEP_STEM_WIDTHS, RESNET_STAGE_DEPTHS, RESNET_STAGE_WIDTHS, type ResNetVariant } from "../src/ml/model/resnet.js"
import { type ConvPath, planConv, registerWasmTrainingKernels, setConvStrategy } from "../src/ml/engines/wasm/wasm-kernels.js"

interface Args {
  readonly variant: ResNetVariant
  readonly res: number
  readonly batch: number
  readonly reps: number
  readonly json: string | undefined
}

const parseArgs = (argv: ReadonlyArray<string>): Args => {
  const get = (flag: string): string | undefined => {
    const i = argv.indexOf(flag)
    return i >= 0 ? argv[i + 1] : undefined
  }
  const variant = (get("--variant") ?? "resnet34d") as ResNetVariant
  if (!(variant in RESNET_STAGE_DEPTHS)) throw new Error(`unknown --variant ${variant}`)
  return {
    variant,
    res: Number(get("--res") ?? 128),
    batch: Number(get("--batch") ?? 8),
    reps: Number(get("--reps") ?? 5),
    json: get("--json"),
  }
}

interface Layer {
  readonly size: number
  readonly cin: number
  readonly cout: number
  readonly k: number
  readonly stride: number
  count: number
}

/** The convolutions of one ResNet-D forward, grouped by geometry. */
function resnetConvs(variant: ResNetVariant, res: number, inChans: number): Array<Layer> {
  const layers = new Map<string, Layer>()
  const add = (size: number, cin: number, cout: number, k: number, stride: number): void => {
    const key = `${size}/${cin}/${cout}/${k}/${stride}`
    const l = layers.get(key)
    if (l === undefined) layers.set(key, { size, cin, cout, k, stride, count: 1 })
    else l.count++
  }
  let size = res
  let c = inChans
  DEEP_STEM_WIDTHS.forEach((w, i) => {
    add(size, c, w, 3, i === 0 ? 2 : 1)
    if (i === 0) size = Math.ceil(size / 2)
    c = w
  })
  size = Math.ceil(size / 2) // max pool
  RESNET_STAGE_DEPTHS[variant].forEach((depth, stage) => {
    const w = RESNET_STAGE_WIDTHS[stage]!
    for (let b = 0; b < depth; b++) {
      const stride = b === 0 && stage > 0 ? 2 : 1
      add(size, c, w, 3, stride)
      const out = Math.ceil(size / stride)
      add(out, w, w, 3, 1)
      if (stride !== 1 || c !== w) add(out, c, w, 1, 1)
      size = out
      c = w
    }
  })
  return [...layers.values()]
}

/**
 * Minimum over reps of the CPU time (user + system, ms) of one call: the dev box is shared, and CPU
 * time is far less disturbed by other processes than wall time.
 */
const minTime = (reps: number, f: () => tf.Tensor): number => {
  f().dispose()
  let best = Infinity
  for (let i = 0; i < reps; i++) {
    const t0 = process.cpuUsage()
    const r = f()
    const dt = process.cpuUsage(t0)
    best = Math.min(best, (dt.user + dt.system) / 1000)
    r.dispose()
  }
  return best
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  await tf.setBackend("wasm")
  await tf.ready()
  registerWasmTrainingKernels()
  const paths: ReadonlyArray<ConvPath | "auto"> = ["xnnpack", "gemm", "auto"]
  const rows: Array<Record<string, unknown>> = []
  const totals: Record<string, number> = {}
  for (const l of resnetConvs(args.variant, args.res, 1)) {
    const p = Math.floor(l.k / 2)
    const pad =
      p === 0
        ? "valid"
        : ([
            [0, 0],
            [p, p],
            [p, p],
            [0, 0],
          ] as [[number, number], [number, number], [number, number], [number, number]])
    const x = tf.randomNormal([args.batch, l.size, l.size, l.cin]) as tf.Tensor4D
    const w = tf.randomNormal([l.k, l.k, l.cin, l.cout]) as tf.Tensor4D
    const y = tf.conv2d(x, w, l.stride, pad)
    const dy = tf.randomNormal(y.shape) as tf.Tensor4D
    const geometry = {
      batch: args.batch,
      inHeight: l.size,
      inWidth: l.size,
      inChannels: l.cin,
      outHeight: y.shape[1],
      outWidth: y.shape[2],
      outChannels: l.cout,
      filterHeight: l.k,
      filterWidth: l.k,
      strideHeight: l.stride,
      strideWidth: l.stride,
      padTop: p,
      padLeft: p,
      padBottom: p,
      padRight: p,
    }
    const row: Record<string, unknown> = { ...l, mflop: Math.round((2 * y.size * l.k * l.k * l.cin) / 1e6) }
    row["plan"] = {
      forward: planConv("forward", geometry),
      backpropInput: planConv("backpropInput", geometry),
      backpropFilter: planConv("backpropFilter", geometry),
    }
    for (const path of paths) {
      setConvStrategy(path === "auto" ? {} : { forward: path, backpropInput: path, backpropFilter: path })
      const ms = {
        forward: minTime(args.reps, () => tf.tidy(() => tf.conv2d(x, tf.add(w, 0) as tf.Tensor4D, l.stride, pad))),
        backpropInput: minTime(args.reps, () => tf.conv2dTranspose(dy, w, x.shape, l.stride, pad)),
        // A new dy each call: the GEMM path packs dy as XNNPACK "weights", cached per tensor.
        backpropFilter: minTime(args.reps, () =>
          tf.tidy(
            () =>
              tf
                .engine()
                .runKernel(
                  "Conv2DBackpropFilter",
                  { x, dy: tf.add(dy, 0) },
                  { strides: [l.stride, l.stride], pad, dataFormat: "NHWC", filterShape: w.shape },
                ) as tf.Tensor,
          ),
        ),
      }
      row[path] = Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, Number(v.toFixed(2))]))
      for (const [k, v] of Object.entries(ms)) totals[`${path}.${k}`] = (totals[`${path}.${k}`] ?? 0) + v * l.count
    }
    setConvStrategy({})
    rows.push(row)
    tf.dispose([x, w, y, dy])
  }
  const result = {
    bench: "kernels",
    backend: tf.getBackend(),
    variant: args.variant,
    res: args.res,
    batch: args.batch,
    reps: args.reps,
    totalsMs: Object.fromEntries(Object.entries(totals).map(([k, v]) => [k, Math.round(v)])),
    layers: rows,
  }
  const text = JSON.stringify(result, null, 2)
  console.log(text)
  if (args.json !== undefined) writeFileSync(args.json, text)
}

await main()
