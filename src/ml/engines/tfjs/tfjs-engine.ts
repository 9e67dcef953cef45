/**
 * The TF.js engine as one layer: `tfjsEngine({ backend })` provides the `Trainer` and `Predictor`
 * services (engine.ts). The backend ("auto" or a name of `BACKEND_ORDER`) is resolved when the
 * layer is built, from installed packages and the GPU driver only (`probeBackend`: TF.js is not
 * loaded on this thread), and every task runs on exactly that backend in a worker thread of the
 * generic pool (src/core/thread-pool.ts) — its own V8 isolate, TF.js and wasm heap, so several engines
 * (folds) train in parallel on several cores. Workers start on the first task; building the layer
 * is cheap (a stage's `engine` hook does it for the identity).
 */
import { Context, Effect, Either, Layer, Schema } from "effect"
import { makeWorkerPool, type WorkerTaskFailed } from "../../../core/thread-pool.js"
import {
  BACKEND_ORDER,
  BACKEND_PACKAGES,
  BACKEND_PROBE_INPUTS,
  type BackendName,
  type BackendRequest,
  packageVersion,
  probeBackend,
  resolvable,
  usesOnednn,
} from "./backend-probe.js"
import { type EngineHooks, type EngineIdentity, type EngineLayer, Predictor, Trainer } from "../../engine.js"
import { type MlError, reviveMlError, WorkerFailed } from "../../ml-errors.js"
import type { PredictProgress } from "../../predict/predict.js"
import { loadOnednn, onednnSourceHash } from "../onednn/onednn-addon.js"
import { DAWN_PACKAGE, describeAdapter } from "../webgpu/adapter.js"
import { ensureHeadlessEgl } from "../webgpu/dawn.js"
import { probeWebgpu } from "../webgpu/probe.js"
import type { TfjsAnswer, TfjsPlacement, TfjsProgress, TfjsTask } from "./tfjs-protocol.js"
import type { TrainProgress } from "../../train/train-fold.js"

/** The worker entry (resolved next to this file; code closures follow it). */
const WORKER_ENTRY = new URL("./tfjs-worker.ts", import.meta.url)

/** The name in `EngineIdentity.engine`. */
export const TFJS_ENGINE = "tfjs"

/** The core TF.js package, whatever the backend. */
const TFJS_PACKAGE = BACKEND_PACKAGES.cpu.pkg

/** What the identity depends on besides params and installed packages (a stage's `engineInputs`). */
export const TFJS_ENGINE_INPUTS: ReadonlyArray<string> = BACKEND_PROBE_INPUTS

export interface TfjsEngineOptions {
  readonly backend: BackendRequest
  /** Worker threads (default 1): how many tasks run at once. */
  readonly workers?: number
  /**
   * OpenMP threads per worker for the oneDNN kernels (`DEFAULT_NATIVE_THREADS`; "cpu+onednn" and "wasm+onednn" only). Filter
   * gradients are summed in another order with another thread count, so it is part of the identity.
   */
  readonly threads?: number
}

/**
 * oneDNN threads per engine worker unless a stage says otherwise: folds train in parallel (the
 * runner's --jobs, the cores by default), each on one core; half of a training step runs in wasm on
 * one thread anyway (bench/train.ts: two workers of one thread beat one worker of two).
 */
export const DEFAULT_NATIVE_THREADS = 1

/** A stage param naming the backend: "auto" or one of `BACKEND_ORDER`. */
export const BackendParam = Schema.Literal("auto", ...BACKEND_ORDER)

/** A stage param: the oneDNN threads of each engine worker (`TfjsEngineOptions.threads`). */
export const ThreadsParam = Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => DEFAULT_NATIVE_THREADS })

/** The backend "auto" (or an explicit name) stands for on this machine. */
export const resolveTfjsBackend = (request: BackendRequest): BackendName => (request === "auto" ? probeBackend() : request)

const versionOf = (pkg: string): string => `${pkg}@${resolvable(pkg) ? packageVersion(pkg) : "not installed"}`

/** The packages a backend runs on: TF.js, its backend package, and for "wasm+onednn" the wasm one too ("cpu+onednn": TF.js and the addon). */
const packagesOf = (backend: BackendName): ReadonlyArray<string> => [
  ...new Set([TFJS_PACKAGE, ...(backend === "wasm+onednn" ? [BACKEND_PACKAGES.wasm.pkg] : []), BACKEND_PACKAGES[backend].pkg]),
]

/**
 * The engine's identity on `backend`. With the oneDNN kernels: the library's version in the backend
 * name (`cpu+onednn-2.6.3`, `wasm+onednn-2.6.3`), and beside the package versions what else changes their results' last
 * bits: the addon's sources, the instruction set oneDNN dispatches to, its threads, the platform.
 */
export const tfjsIdentity = (backend: BackendName, threads = DEFAULT_NATIVE_THREADS): EngineIdentity => {
  const versions = packagesOf(backend).map(versionOf).join(" ")
  if (backend === "webgpu") {
    // Dawn's version and the adapter (GPU, driver, software or not) change results' last bits.
    const adapter = Either.match(probeWebgpu({ allowSoftware: true }), {
      onLeft: (e) => `(unavailable: ${e.message})`,
      onRight: (p) => `adapter:${describeAdapter(p.adapter)}`,
    })
    return { engine: TFJS_ENGINE, backend, versions: `${versions} ${versionOf(DAWN_PACKAGE)} ${adapter} ${process.platform}-${process.arch}` }
  }
  if (!usesOnednn(backend)) return { engine: TFJS_ENGINE, backend, versions }
  const onednn = loadOnednn()
  if (!onednn.available) return { engine: TFJS_ENGINE, backend, versions: `${versions} (unavailable: ${onednn.reason})` }
  const { version, isa } = onednn.info
  return {
    engine: TFJS_ENGINE,
    backend: `${backend}-${version}`,
    versions: `${versions} sources:${onednnSourceHash()} onednn@${version} isa:${isa} threads:${threads} ${process.platform}-${process.arch}`,
  }
}

/** "auto" on plain wasm where the oneDNN addon does not load: says why, and what to install. */
const withNotice = (identity: EngineIdentity, request: BackendRequest): EngineIdentity => {
  if (request !== "auto" || identity.backend !== "wasm") return identity
  const onednn = loadOnednn()
  return onednn.available ? identity : { ...identity, notice: `native kernels unavailable: ${onednn.reason}` }
}

const taskName = (task: TfjsTask): string => {
  switch (task.kind) {
    case "train":
      return `train fold ${task.data.fold}`
    case "evaluate":
      return `evaluate ${task.checkpoint}`
    case "predict":
      return `predict ${task.checkpoints.length} model(s)`
    case "export-onnx":
      return `export ${task.checkpoint} as ONNX`
  }
}

/** A worker's failure as the engine's own tagged error (anything else: WorkerFailed). */
const revive =
  (task: TfjsTask) =>
  (failure: WorkerTaskFailed): MlError =>
    reviveMlError({ ...failure.fields, _tag: failure.tag, message: failure.detail }, taskName(task))

const wrongAnswer = (task: TfjsTask, answer: TfjsAnswer) =>
  Effect.fail(new WorkerFailed({ task: taskName(task), detail: `answered a ${task.kind} task with a ${answer.kind} result` }))

interface Listeners {
  readonly onBackend?: EngineHooks<unknown>["onBackend"]
  readonly onTrain?: (event: TrainProgress) => void
  readonly onPredict?: (event: PredictProgress) => void
}

/** The TF.js engine on `options.backend`, in worker threads. */
export const tfjsEngine = (options: TfjsEngineOptions): EngineLayer =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const placement: TfjsPlacement = { backend: resolveTfjsBackend(options.backend), threads: options.threads ?? DEFAULT_NATIVE_THREADS }
      const identity = withNotice(tfjsIdentity(placement.backend, placement.threads), options.backend)
      // One task per worker at a time: a fold's steps never share a thread with another's.
      // Dawn in the workers reads the process environment, which only this (main) thread can set.
      if (placement.backend === "webgpu") ensureHeadlessEgl()
      const pool = yield* makeWorkerPool<TfjsTask, TfjsAnswer, TfjsProgress>(WORKER_ENTRY, options.workers ?? 1, { depth: 1 })
      const send = (task: TfjsTask, listeners: Listeners): Effect.Effect<TfjsAnswer, MlError> =>
        Effect.mapError(
          pool.run(task, {
            onProgress: (event) => {
              switch (event.kind) {
                case "backend":
                  return listeners.onBackend?.(event.backend)
                case "train":
                  return listeners.onTrain?.(event.event)
                case "predict":
                  return listeners.onPredict?.(event.event)
              }
            },
          }),
          revive(task),
        )
      const trainer: Trainer = {
        identity,
        train: (config, data, hooks = {}) => {
          const task: TfjsTask = { kind: "train", placement, config, data }
          return Effect.flatMap(send(task, { onBackend: hooks.onBackend, onTrain: hooks.onProgress }), (answer) =>
            answer.kind === "train" ? Effect.succeed(answer.result) : wrongAnswer(task, answer),
          )
        },
        evaluate: (config, checkpoint, data) => {
          const task: TfjsTask = { kind: "evaluate", placement, config, checkpoint, data }
          return Effect.flatMap(send(task, {}), (answer) => (answer.kind === "evaluate" ? Effect.succeed(answer.result) : wrongAnswer(task, answer)))
        },
        exportOnnx: (config, checkpoint, file) => {
          const task: TfjsTask = { kind: "export-onnx", placement, config, checkpoint, file }
          return Effect.flatMap(send(task, {}), (answer) => (answer.kind === "export-onnx" ? Effect.void : wrongAnswer(task, answer)))
        },
      }
      const predictor: Predictor = {
        identity,
        predict: (config, checkpoints, windows, hooks = {}) => {
          const task: TfjsTask = { kind: "predict", placement, config, checkpoints, windows }
          return Effect.flatMap(send(task, { onBackend: hooks.onBackend, onPredict: hooks.onProgress }), (answer) =>
            answer.kind === "predict" ? Effect.succeed(answer.result) : wrongAnswer(task, answer),
          )
        },
      }
      return Context.make(Trainer, trainer).pipe(Context.add(Predictor, predictor))
    }),
  )
