/**
 * Training / inference throughput of ResNet-D on the default TF.js backend, against PyTorch CPU.
 *
 *   npm run bench -- [--json OUT] [--variant resnet34d] [--sizes 128,256] [--batch 8]
 *                    [--warmup 2] [--steps 4] [--backends wasm,wasm+onednn,cpu+onednn] [--workers 1|2] [--no-torch]
 *                    [--no-onnxruntime] [--profile]
 *
 * For each input size and each setting (`SETTINGS`: a backend, a number of concurrent worker
 * threads, each its own TF.js + wasm instance training its own model — forward, KL-div loss,
 * backward, AdamW — and the oneDNN threads per worker), train and inference images/s (total and per
 * worker). Settings of a backend that is not available here are skipped, saying why. Then, when a
 * python3 can import torch (`CAIRN_PYTHON`, else `python3`, else /usr/bin/python3), the same train
 * step and inference on PyTorch CPU with 2 threads and with 1 thread — timm's model when timm is
 * importable, else test/golden/resnet_d.py (the same module tree; Debian's python3-torch has no
 * timm) — so that the ratios come from one run on one machine. ONNX Runtime's inference of the
 * same model (`resnetToOnnx`, 2 intra-op threads) is measured beside them (`onnxruntime`,
 * `ratioToTorch.onnxruntimeInfer`; `--no-onnxruntime` leaves it out).
 *
 * Two kinds of numbers: wall-clock images/s (what a user sees, disturbed by anything else running on
 * the box) and images per CPU-second of the worker thread (TF.js: /proc/thread-self/stat) or of the
 * PyTorch process (time.process_time) — what one free core gives, far steadier on a shared machine.
 * `ratioToTorch.train` compares both cores (two workers vs 2 threads, wall clock);
 * `ratioToTorch.trainPerCore` one core (per CPU-second, TF.js worker vs PyTorch 1 thread).
 *
 * Peak memory: the process' max RSS (worker threads share it), sampled per setting (`peakRssMB`),
 * against the PyTorch process' (`torch.peakRssMB`, getrusage), and each worker's wasm heap (it never
 * shrinks, so its final size is its peak; the cap is 4 GB). `goals` checks issue #20's targets for the
 * sizes measured. `--workers 1` leaves out the two-worker settings (at 512 px batch 32 two models do
 * not fit beside each other in 24 GB). `--profile` adds the CPU time per
 * kernel of one train step (each single-worker setting, first size).
 *
 * Prints one JSON object and writes it to --json OUT.
 */
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { isMainThread, parentPort, type Worker, workerData } from "node:worker_threads"
import * as tf from "@tensorflow/tfjs"
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm"
import { startTsWorker } from "../src/core/thread-pool.js"
import { Either } from "effect"
import { ensureHeadlessEgl } from "../src/ml/engines/webgpu/dawn.js"
import { probeWebgpu } from "../src/ml/engines/webgpu/probe.js"
import { measureOnnxRuntime, type OnnxRuntimeInfer } from "./onnxruntime-infer.js"
import { RandomState } from "../src/data/random-state.js"
import { AdamW } from "../src/ml/train/adamw.js"
import { type BackendName, resolveBackendPromise } from "../src/ml/engines/tfjs/resolve-backend.js"
import { usesOnednn } from "../src/ml/engines/tfjs/backend-probe.js"
import { loadOnednn } from "../src/ml/engines/onednn/onednn-addon.js"
import { klDivLossWithLogits } from "../src/ml/train/loss.js"
import { buildResNet, type ResNetVariant } from "../src/ml/model/resnet.js"

const IN_CHANS = 1
const NUM_CLASSES = 6
const TORCH_THREADS = 2
const DUAL_WORKERS = 2
const MB = 1024 * 1024
const RSS_SAMPLE_MS = 200
const TOP_KERNELS = 25
/** Linux USER_HZ (getconf CLK_TCK) for /proc/<tid>/stat times. */
const CLOCK_TICKS_PER_SECOND = 100
/**
 * Issue #20's goals for the best native (oneDNN) setting against PyTorch CPU, 2 threads, wall clock:
 * at 128 px batch 8, training and inference at 1.5x; at the seed's 512 px batch 32, training at 1.2x
 * and a peak RSS no higher than PyTorch's. Checked for each size and batch this run measured.
 */
const GOALS: ReadonlyArray<{
  readonly size: number
  readonly batch: number
  readonly train: number
  readonly infer: number | null
  readonly rssAtMostTorch: boolean
}> = [
  { size: 128, batch: 8, train: 1.5, infer: 1.5, rssAtMostTorch: false },
  { size: 512, batch: 32, train: 1.2, infer: null, rssAtMostTorch: true },
]
const CORES = 2
/** PyTorch's stand-in for timm when timm is not importable. */
const TORCH_REPLICA_DIR = fileURLToPath(new URL("../test/golden/", import.meta.url))

/** What one measurement runs: the backend, concurrent workers, oneDNN threads per worker. */
interface Setting {
  readonly name: string
  readonly backend: BackendName
  readonly workers: number
  readonly threads: number
}

/** tfjs.<name> in the JSON; singleWorker / twoWorkers keep their names from before the native kernels. */
const SETTINGS: ReadonlyArray<Setting> = [
  { name: "singleWorker", backend: "wasm", workers: 1, threads: 1 },
  { name: "twoWorkers", backend: "wasm", workers: DUAL_WORKERS, threads: 1 },
  { name: "onednnOneWorker", backend: "wasm+onednn", workers: 1, threads: CORES },
  { name: "onednnTwoWorkers", backend: "wasm+onednn", workers: DUAL_WORKERS, threads: 1 },
  { name: "cpuOnednnOneWorker", backend: "cpu+onednn", workers: 1, threads: CORES },
  { name: "cpuOnednnTwoWorkers", backend: "cpu+onednn", workers: DUAL_WORKERS, threads: 1 },
  // Only with --backends webgpu (or --backend webgpu): one worker on Dawn's adapter.
  { name: "webgpu", backend: "webgpu", workers: 1, threads: 1 },
]

interface Args {
  readonly json: string | undefined
  readonly variant: ResNetVariant
  readonly sizes: ReadonlyArray<number>
  readonly batch: number
  readonly warmup: number
  readonly steps: number
  readonly backends: ReadonlyArray<BackendName>
  readonly torch: boolean
  readonly onnxruntime: boolean
  readonly profile: boolean
  /** Only the settings with this many workers (e.g. 1 where two models would not fit in memory). */
  readonly workers: number | undefined
}

const parseArgs = (argv: ReadonlyArray<string>): Args => {
  const get = (flag: string): string | undefined => {
    const i = argv.indexOf(flag)
    return i >= 0 ? argv[i + 1] : undefined
  }
  return {
    json: get("--json"),
    variant: (get("--variant") ?? "resnet34d") as ResNetVariant,
    sizes: (get("--sizes") ?? "128,256").split(",").map(Number),
    batch: Number(get("--batch") ?? 8),
    warmup: Number(get("--warmup") ?? 2),
    steps: Number(get("--steps") ?? 4),
    backends: (get("--backends") ?? get("--backend") ?? "wasm,wasm+onednn,cpu+onednn").split(",") as Array<BackendName>,
    torch: !argv.includes("--no-torch"),
    onnxruntime: !argv.includes("--no-onnxruntime"),
    profile: argv.includes("--profile"),
    workers: get("--workers") === undefined ? undefined : Number(get("--workers")),
  }
}

// ---------------------------------------------------------------------------------------------
// Worker side

interface WorkerJob {
  readonly variant: ResNetVariant
  readonly size: number
  readonly batch: number
  readonly warmup: number
  readonly steps: number
  readonly backend: BackendName
  readonly threads: number
  readonly seed: number
  readonly profile: boolean
}

type Phase = "train" | "infer"
type ToWorker = { readonly type: "run"; readonly phase: Phase } | { readonly type: "stop" }
type FromWorker =
  | { readonly type: "ready"; readonly backend: string; readonly detail: string }
  | { readonly type: "result"; readonly phase: Phase; readonly stepMs: ReadonlyArray<number>; readonly cpuMs: ReadonlyArray<number> | null }
  | { readonly type: "done"; readonly wasmHeapBytes: number | null; readonly profile: StepProfile | null }

/**
 * CPU time (user + system, ms) of the calling thread, from /proc/thread-self/stat (Linux), or null.
 * The dev box is shared: wall time measures the load of other processes as much as ours, the
 * thread's CPU time does not.
 */
function threadCpuMs(): number | null {
  let stat: string
  try {
    stat = readFileSync("/proc/thread-self/stat", "utf8")
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return null
    throw error
  }
  // Fields after "(comm)": state is field 3; utime and stime are fields 14 and 15, in clock ticks.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND
}

interface KernelTime {
  readonly kernel: string
  /** CPU ms (user + system) spent inside the kernel, summed over its calls */
  readonly cpuMs: number
  readonly calls: number
}

interface StepProfile {
  readonly stepCpuMs: number
  /** engine bookkeeping, tape, tidy, JS outside any kernel */
  readonly outsideKernelsCpuMs: number
  readonly kernels: ReadonlyArray<KernelTime>
}

const cpuNow = (): number => {
  const c = process.cpuUsage()
  return (c.user + c.system) / 1000
}

/**
 * CPU time per kernel of one train step: every kernel of the current backend is wrapped for the step
 * and restored after. Kernels that call other kernels' functions directly (cairn's convolutions call
 * XNNPACK's) are counted once, as themselves. process.cpuUsage is process-wide: run with one worker.
 */
function profileTrainStep(step: () => unknown): StepProfile {
  const backendName = tf.getBackend()
  const originals = tf.getKernelsForBackend(backendName)
  const byKernel = new Map<string, { cpuMs: number; calls: number }>()
  let depth = 0
  for (const k of originals) {
    tf.unregisterKernel(k.kernelName, backendName)
    const kernelFunc: tf.KernelFunc = (args) => {
      const t0 = depth === 0 ? cpuNow() : 0
      depth++
      try {
        return k.kernelFunc(args)
      } finally {
        depth--
        if (depth === 0) {
          const entry = byKernel.get(k.kernelName) ?? { cpuMs: 0, calls: 0 }
          entry.cpuMs += cpuNow() - t0
          entry.calls++
          byKernel.set(k.kernelName, entry)
        }
      }
    }
    tf.registerKernel({ ...k, kernelFunc })
  }
  const t0 = cpuNow()
  try {
    step()
  } finally {
    for (const k of originals) {
      tf.unregisterKernel(k.kernelName, backendName)
      tf.registerKernel(k)
    }
  }
  const stepCpuMs = cpuNow() - t0
  const kernels = [...byKernel.entries()].map(([kernel, e]) => ({ kernel, cpuMs: e.cpuMs, calls: e.calls })).sort((a, b) => b.cpuMs - a.cpuMs)
  const inKernels = kernels.reduce((acc, k) => acc + k.cpuMs, 0)
  return {
    stepCpuMs: round(stepCpuMs, 0),
    outsideKernelsCpuMs: round(stepCpuMs - inKernels, 0),
    kernels: kernels.slice(0, TOP_KERNELS).map((k) => ({ ...k, cpuMs: round(k.cpuMs, 1) })),
  }
}

async function workerMain(job: WorkerJob): Promise<void> {
  const port = parentPort!
  const resolved = await resolveBackendPromise(job.backend, { threads: job.threads })
  const model = buildResNet({ variant: job.variant, inChans: IN_CHANS, numClasses: NUM_CLASSES }, job.seed)
  const optimizer = new AdamW(model.trainable)
  const rs = new RandomState(job.seed)
  const xs = new Float32Array(job.batch * job.size * job.size * IN_CHANS)
  for (let i = 0; i < xs.length; i++) xs[i] = rs.standardNormal()
  const logits = new Float32Array(job.batch * NUM_CLASSES)
  for (let i = 0; i < logits.length; i++) logits[i] = rs.standardNormal()
  const input = tf.tensor4d(xs, [job.batch, job.size, job.size, IN_CHANS])
  const target = tf.softmax(tf.tensor2d(logits, [job.batch, NUM_CLASSES])) as tf.Tensor2D
  const trainable = model.trainable as Array<tf.Variable>

  // Results are read asynchronously: a GPU backend (webgpu) allows no synchronous read in Node.
  const read = async (t: tf.Tensor): Promise<number> => {
    const values = await t.data()
    t.dispose()
    return values[0]!
  }
  const trainStep = (): Promise<number> =>
    read(
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => klDivLossWithLogits(model.forward(input, true), target), trainable)
        optimizer.step(trainable.map((v) => grads[v.name]))
        return value
      }),
    )
  const inferStep = (): Promise<number> => read(tf.tidy(() => model.forward(input, false)))
  const timed = async (f: () => Promise<unknown>, n: number): Promise<{ stepMs: Array<number>; cpuMs: Array<number> | null }> => {
    const stepMs: Array<number> = []
    const cpuMs: Array<number> = []
    for (let i = 0; i < n; i++) {
      const c0 = threadCpuMs()
      const t0 = performance.now()
      await f()
      stepMs.push(performance.now() - t0)
      const c1 = threadCpuMs()
      if (c0 !== null && c1 !== null) cpuMs.push(c1 - c0)
    }
    return { stepMs, cpuMs: cpuMs.length === n ? cpuMs : null }
  }

  await timed(trainStep, job.warmup)
  await timed(inferStep, job.warmup)
  port.postMessage({ type: "ready", backend: resolved.name, detail: resolved.detail } satisfies FromWorker)
  await new Promise<void>((resolve) => {
    port.on("message", (msg: ToWorker) => {
      if (msg.type === "stop") {
        resolve()
        return
      }
      void (msg.phase === "train" ? timed(trainStep, job.steps) : timed(inferStep, job.steps)).then(({ stepMs, cpuMs }) =>
        port.postMessage({ type: "result", phase: msg.phase, stepMs, cpuMs } satisfies FromWorker),
      )
    })
  })
  const profile = job.profile ? profileTrainStep(trainStep) : null
  const backend = tf.backend() as Partial<BackendWasm>
  const wasmHeapBytes = (backend.wasm as { HEAPU8?: Uint8Array } | undefined)?.HEAPU8?.byteLength ?? null
  port.postMessage({ type: "done", wasmHeapBytes, profile } satisfies FromWorker)
}

// ---------------------------------------------------------------------------------------------
// Parent side

/** One worker thread, driven phase by phase. */
class BenchWorker {
  private readonly worker: Worker
  private readonly queue: Array<FromWorker> = []
  private waiting: ((msg: FromWorker) => void) | undefined
  private failure: Error | undefined

  constructor(job: WorkerJob) {
    this.worker = startTsWorker(new URL(import.meta.url), job)
    this.worker.on("message", (msg: FromWorker) => {
      const w = this.waiting
      if (w !== undefined) {
        this.waiting = undefined
        w(msg)
      } else this.queue.push(msg)
    })
    this.worker.on("error", (error) => {
      this.failure = error
      this.waiting?.({ type: "done", wasmHeapBytes: null, profile: null })
    })
  }

  next(): Promise<FromWorker> {
    const queued = this.queue.shift()
    if (queued !== undefined) return Promise.resolve(queued)
    return new Promise((resolve, reject) => {
      if (this.failure !== undefined) reject(this.failure)
      else
        this.waiting = (msg) => {
          if (this.failure !== undefined) reject(this.failure)
          else resolve(msg)
        }
    })
  }

  async expect<T extends FromWorker["type"]>(type: T): Promise<Extract<FromWorker, { type: T }>> {
    const msg = await this.next()
    if (msg.type !== type) throw new Error(`bench worker: expected ${type}, got ${msg.type}`)
    return msg as Extract<FromWorker, { type: T }>
  }

  send(msg: ToWorker): void {
    this.worker.postMessage(msg)
  }

  terminate(): Promise<number> {
    return this.worker.terminate()
  }
}

interface PhaseResult {
  /** Total images/s over all workers (images / wall time of the phase). */
  readonly imagesPerSecond: number
  readonly perWorkerImagesPerSecond: ReadonlyArray<number>
  readonly medianStepMs: ReadonlyArray<number>
  /** Images per second of the worker thread's own CPU time (what one free core would give), per worker. */
  readonly perWorkerImagesPerCpuSecond: ReadonlyArray<number> | null
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

const round = (x: number, digits = 2): number => Number(x.toFixed(digits))

/** The process' RSS peak (sampled) since the current setting started: its workers share the process. */
let settingPeakRss = 0

async function runWorkers(args: Args, size: number, setting: Setting, profile: boolean) {
  settingPeakRss = process.memoryUsage.rss()
  const count = setting.workers
  const workers = Array.from(
    { length: count },
    (_, i) =>
      new BenchWorker({
        variant: args.variant,
        size,
        batch: args.batch,
        warmup: args.warmup,
        steps: args.steps,
        backend: setting.backend,
        threads: setting.threads,
        seed: i + 1,
        profile: profile && count === 1,
      }),
  )
  try {
    const ready = await Promise.all(workers.map((w) => w.expect("ready")))
    const phases: Partial<Record<Phase, PhaseResult>> = {}
    for (const phase of ["train", "infer"] as const) {
      const t0 = performance.now()
      for (const w of workers) w.send({ type: "run", phase })
      const results = await Promise.all(workers.map((w) => w.expect("result")))
      const wallS = (performance.now() - t0) / 1000
      phases[phase] = {
        imagesPerSecond: round((count * args.steps * args.batch) / wallS),
        perWorkerImagesPerSecond: results.map((r) => round((args.steps * args.batch * 1000) / r.stepMs.reduce((a, b) => a + b, 0))),
        medianStepMs: results.map((r) => round(median(r.stepMs), 0)),
        perWorkerImagesPerCpuSecond: results.every((r) => r.cpuMs !== null)
          ? results.map((r) => round((args.steps * args.batch * 1000) / r.cpuMs!.reduce((a, b) => a + b, 0)))
          : null,
      }
    }
    for (const w of workers) w.send({ type: "stop" })
    const done = await Promise.all(workers.map((w) => w.expect("done")))
    return {
      backend: ready[0]!.backend,
      detail: ready[0]!.detail,
      train: phases.train!,
      infer: phases.infer!,
      wasmHeapMB: done.map((d) => (d.wasmHeapBytes === null ? null : round(d.wasmHeapBytes / MB, 0))),
      /** sampled every RSS_SAMPLE_MS while the setting ran (the main thread's own memory included) */
      peakRssMB: round(Math.max(settingPeakRss, process.memoryUsage.rss()) / MB, 0),
      profile: done[0]!.profile,
    }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()))
  }
}

const TORCH_SCRIPT = `
import json, resource, sys, time
import torch
cfg = json.loads(sys.argv[1])
try:
    import timm
    create = lambda variant, classes, in_chans: timm.create_model(variant, pretrained=False, num_classes=classes, in_chans=in_chans)
    model_source = "timm " + timm.__version__
except ImportError:
    sys.path.insert(0, cfg["replica_dir"])
    from resnet_d import ResNetD
    create = lambda variant, classes, in_chans: ResNetD(variant, classes, in_chans)
    model_source = "test/golden/resnet_d.py (timm not importable)"
torch.set_num_threads(cfg["threads"])
torch.set_num_interop_threads(1)
torch.manual_seed(0)
out = []
for size in cfg["sizes"]:
    model = create(cfg["variant"], cfg["classes"], cfg["in_chans"])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.KLDivLoss(reduction="batchmean")
    x = torch.randn(cfg["batch"], cfg["in_chans"], size, size)
    y = torch.softmax(torch.randn(cfg["batch"], cfg["classes"]), dim=1)
    def train_step():
        opt.zero_grad()
        loss = loss_fn(torch.log_softmax(model(x), dim=1), y)
        loss.backward()
        opt.step()
        return float(loss)
    def infer_step():
        with torch.no_grad():
            model(x)
    def timed(f, n):
        ts, cs = [], []
        for _ in range(n):
            c0 = time.process_time(); t0 = time.perf_counter(); f()
            ts.append(time.perf_counter() - t0); cs.append(time.process_time() - c0)
        return ts, cs
    model.train()
    timed(train_step, cfg["warmup"])
    train, train_cpu = timed(train_step, cfg["steps"])
    model.eval()
    timed(infer_step, cfg["warmup"])
    infer, infer_cpu = timed(infer_step, cfg["steps"])
    n = cfg["batch"] * cfg["steps"]
    out.append({"size": size, "trainImagesPerSecond": n / sum(train), "inferImagesPerSecond": n / sum(infer),
                "trainImagesPerCpuSecond": n / sum(train_cpu), "inferImagesPerCpuSecond": n / sum(infer_cpu),
                "medianTrainStepMs": sorted(train)[len(train) // 2] * 1000,
                # the process' peak so far (Linux: KiB); sizes run in the order given
                "peakRssMB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
print(json.dumps({"torch": torch.__version__, "model": model_source, "python": sys.executable, "threads": torch.get_num_threads(), "results": out}))
`

interface TorchResult {
  readonly torch: string
  /** timm's model, or the replica */
  readonly model: string
  readonly python: string
  readonly threads: number
  readonly results: ReadonlyArray<{
    size: number
    trainImagesPerSecond: number
    inferImagesPerSecond: number
    /** per CPU-second of the whole process (all its threads, spinning included) */
    trainImagesPerCpuSecond: number
    inferImagesPerCpuSecond: number
    medianTrainStepMs: number
    peakRssMB: number
  }>
}

/** The first python that imports torch: $CAIRN_PYTHON, python3 on PATH, Debian's /usr/bin/python3. */
function findTorchPython(): { readonly python: string } | { readonly skipped: string } {
  const candidates = [process.env["CAIRN_PYTHON"], "python3", "/usr/bin/python3"].filter((p): p is string => p !== undefined && p !== "")
  const tried: Array<string> = []
  for (const python of candidates) {
    if (python.startsWith("/") && !existsSync(python)) continue
    const probe = spawnSync(python, ["-c", "import torch"], { encoding: "utf8" })
    if (probe.error === undefined && probe.status === 0) return { python }
    tried.push(`${python}: ${probe.error?.message ?? probe.stderr.trim().split("\n").pop()}`)
  }
  return { skipped: `no python3 imports torch (${tried.join("; ")}); set CAIRN_PYTHON or apt-get install python3-torch` }
}

function runTorch(args: Args, threads: number): TorchResult | { readonly skipped: string } {
  const found = findTorchPython()
  if ("skipped" in found) return found
  const cfg = {
    variant: args.variant,
    sizes: args.sizes,
    batch: args.batch,
    warmup: args.warmup,
    steps: args.steps,
    threads,
    classes: NUM_CLASSES,
    in_chans: IN_CHANS,
    replica_dir: TORCH_REPLICA_DIR,
  }
  const env = { ...process.env, OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) }
  const run = spawnSync(found.python, ["-c", TORCH_SCRIPT, JSON.stringify(cfg)], { encoding: "utf8", env, maxBuffer: 16 * MB })
  if (run.error !== undefined || run.status !== 0)
    return { skipped: `torch benchmark failed: ${run.error?.message ?? run.stderr.trim().split("\n").slice(-3).join(" | ")}` }
  return JSON.parse(run.stdout.trim().split("\n").pop()!) as TorchResult
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  let peakRss = process.memoryUsage.rss()
  const sampler = setInterval(() => {
    const rss = process.memoryUsage.rss()
    peakRss = Math.max(peakRss, rss)
    settingPeakRss = Math.max(settingPeakRss, rss)
  }, RSS_SAMPLE_MS)
  const configs: Array<Record<string, unknown>> = []
  const backends: Record<string, { name: string; detail: string } | { skipped: string }> = {}
  const profiles: Record<string, StepProfile> = {}
  try {
    const onednn = loadOnednn()
    const settings = SETTINGS.filter((st) => args.backends.includes(st.backend) && (args.workers === undefined || st.workers === args.workers))
    for (const name of args.backends) {
      if (usesOnednn(name) && !onednn.available) backends[name] = { skipped: `native kernels unavailable: ${onednn.reason}` }
      if (name === "webgpu") {
        // Asked for by name: a software adapter counts. Dawn in the workers needs the environment set here.
        ensureHeadlessEgl()
        const probe = probeWebgpu({ allowSoftware: true })
        if (Either.isLeft(probe)) backends[name] = { skipped: probe.left.message }
      }
    }
    const runnable = settings.filter((st) => !("skipped" in (backends[st.backend] ?? {})))
    const tfResults: Array<{ size: number; bySetting: Map<string, Awaited<ReturnType<typeof runWorkers>>> }> = []
    for (const size of args.sizes) {
      const bySetting = new Map<string, Awaited<ReturnType<typeof runWorkers>>>()
      for (const setting of runnable) {
        const r = await runWorkers(args, size, setting, args.profile && size === args.sizes[0])
        backends[setting.backend] ??= { name: r.backend, detail: r.detail }
        if (r.profile !== null) profiles[setting.name] = r.profile
        bySetting.set(setting.name, r)
      }
      tfResults.push({ size, bySetting })
    }
    // ONNX Runtime's inference (2 intra-op threads, as PyTorch's), in this thread after the workers are done.
    const ort = new Map<number, OnnxRuntimeInfer | { skipped: string }>()
    for (const size of args.sizes) {
      if (!args.onnxruntime) {
        ort.set(size, { skipped: "--no-onnxruntime" })
        continue
      }
      const measured = await measureOnnxRuntime({
        variant: args.variant,
        classes: NUM_CLASSES,
        inChans: IN_CHANS,
        size,
        batch: args.batch,
        steps: args.steps,
        warmup: args.warmup,
        threads: TORCH_THREADS,
      }).catch((e: unknown) => ({ skipped: `onnxruntime failed: ${e instanceof Error ? e.message : String(e)}` }))
      ort.set(size, measured)
    }
    clearInterval(sampler)
    const torch = args.torch ? runTorch(args, TORCH_THREADS) : { skipped: "--no-torch" }
    const torch1 = args.torch ? runTorch(args, 1) : { skipped: "--no-torch" }
    for (const { size, bySetting } of tfResults) {
      const t = "results" in torch ? torch.results.find((r) => r.size === size) : undefined
      const t1 = "results" in torch1 ? torch1.results.find((r) => r.size === size) : undefined
      const ratios = Object.fromEntries(
        [...bySetting].map(([name, r]) => [
          name,
          t === undefined
            ? null
            : {
                /** wall clock, both cores: the setting vs PyTorch 2 threads */
                train: round(r.train.imagesPerSecond / t.trainImagesPerSecond, 3),
                infer: round(r.infer.imagesPerSecond / t.inferImagesPerSecond, 3),
              },
        ]),
      )
      const wasmCpu = bySetting.get("singleWorker")?.train.perWorkerImagesPerCpuSecond?.[0]
      const dual = bySetting.get("twoWorkers")
      const native = [...bySetting].filter(([name]) => usesOnednn(SETTINGS.find((st) => st.name === name)?.backend ?? "cpu"))
      const bestNative = native.sort(([, a], [, b]) => b.train.imagesPerSecond - a.train.imagesPerSecond)[0]
      configs.push({
        size,
        batch: args.batch,
        tfjs: Object.fromEntries(
          [...bySetting].map(([name, r]) => {
            const st = SETTINGS.find((x) => x.name === name)!
            return [
              name,
              {
                backend: st.backend,
                workers: st.workers,
                threadsPerWorker: st.threads,
                train: r.train,
                infer: r.infer,
                wasmHeapMB: r.wasmHeapMB,
                peakRssMB: r.peakRssMB,
              },
            ]
          }),
        ),
        torch:
          t === undefined
            ? null
            : {
                threads: TORCH_THREADS,
                trainImagesPerSecond: round(t.trainImagesPerSecond),
                inferImagesPerSecond: round(t.inferImagesPerSecond),
                trainImagesPerCpuSecond: round(t.trainImagesPerCpuSecond),
                medianTrainStepMs: round(t.medianTrainStepMs, 0),
                /** the python process' peak RSS up to this size (sizes run in the order given) */
                peakRssMB: round(t.peakRssMB, 0),
              },
        onnxruntime: ort.get(size) ?? null,
        torchOneThread:
          t1 === undefined
            ? null
            : {
                trainImagesPerSecond: round(t1.trainImagesPerSecond),
                inferImagesPerSecond: round(t1.inferImagesPerSecond),
                trainImagesPerCpuSecond: round(t1.trainImagesPerCpuSecond),
              },
        ratioToTorch:
          t === undefined
            ? null
            : {
                /** both cores: wasm, two workers vs PyTorch 2 threads, wall clock */
                train: dual === undefined ? null : round(dual.train.imagesPerSecond / t.trainImagesPerSecond, 3),
                infer: dual === undefined ? null : round(dual.infer.imagesPerSecond / t.inferImagesPerSecond, 3),
                /** one core: wasm worker vs PyTorch 1 thread, images per CPU-second (robust to other load) */
                trainPerCore: wasmCpu === undefined || t1 === undefined ? null : round(wasmCpu / t1.trainImagesPerCpuSecond, 3),
                /** ONNX Runtime's inference (2 threads) vs PyTorch's (2 threads), wall clock */
                onnxruntimeInfer: (() => {
                  const o = ort.get(size)
                  return o === undefined || "skipped" in o ? null : round(o.inferImagesPerSecond / t.inferImagesPerSecond, 3)
                })(),
                /** the fastest-training oneDNN setting, both cores */
                native: bestNative === undefined ? null : { setting: bestNative[0], ...ratios[bestNative[0]] },
                bySetting: ratios,
              },
      })
    }
    const goals = GOALS.filter((g) => g.batch === args.batch && args.sizes.includes(g.size)).map((g) => {
      const config = configs.find((c) => c["size"] === g.size)
      const native = (config?.["ratioToTorch"] as { native: { setting: string; train: number; infer: number } | null } | null | undefined)?.native
      const torchRss = (config?.["torch"] as { peakRssMB: number } | null | undefined)?.peakRssMB
      const nativeRss = native == null ? undefined : (config?.["tfjs"] as Record<string, { peakRssMB: number }> | undefined)?.[native.setting]?.peakRssMB
      const met = {
        train: native == null ? null : native.train >= g.train,
        infer: native == null || g.infer === null ? null : native.infer >= g.infer,
        rss: !g.rssAtMostTorch || nativeRss === undefined || torchRss === undefined ? null : nativeRss <= torchRss,
      }
      return {
        size: g.size,
        batch: g.batch,
        setting: native?.setting ?? null,
        trainRatio: native?.train ?? null,
        inferRatio: native?.infer ?? null,
        peakRssMB: nativeRss ?? null,
        torchPeakRssMB: torchRss ?? null,
        target: { train: g.train, infer: g.infer, rssAtMostTorch: g.rssAtMostTorch },
        met,
      }
    })
    const result = {
      bench: "train",
      variant: args.variant,
      backends,
      steps: args.steps,
      warmup: args.warmup,
      torch: "results" in torch ? { version: torch.torch, model: torch.model, python: torch.python, threads: torch.threads } : torch,
      configs,
      memory: { peakRssMB: round(Math.max(peakRss, process.resourceUsage().maxRSS * 1024) / MB, 0) },
      goals,
      trainStepProfile: args.profile ? profiles : null,
    }
    const text = JSON.stringify(result, null, 2)
    console.log(text)
    if (args.json !== undefined) writeFileSync(args.json, text)
  } finally {
    clearInterval(sampler)
  }
}

if (isMainThread) await main()
else await workerMain(workerData as WorkerJob)
