/**
 * The TF.js engine as one layer: `tfjsEngine({ backend })` provides the `Trainer` and `Predictor`
 * services (engine.ts). The backend ("auto" or a name of `BACKEND_ORDER`) is resolved when the
 * layer is built, from installed packages and the GPU driver only (`probeBackend`: TF.js is not
 * loaded on this thread), and every task runs on exactly that backend in a worker thread of the
 * generic pool (src/core/worker.ts) — its own V8 isolate, TF.js and wasm heap, so several engines
 * (folds) train in parallel on several cores. Workers start on the first task; building the layer
 * is cheap (a stage's `engine` hook does it for the identity).
 */
import { Context, Effect, Layer } from "effect"
import { makeWorkerPool, type WorkerTaskFailed } from "../core/worker.js"
import {
  BACKEND_PACKAGES,
  BACKEND_PROBE_INPUTS,
  type BackendName,
  type BackendRequest,
  packageVersion,
  probeBackend,
  resolvable,
} from "./backend-probe.js"
import { type EngineHooks, type EngineIdentity, type EngineLayer, type Predictor, PredictorService, type Trainer, TrainerService } from "./engine.js"
import { type MlError, reviveMlError, WorkerFailed } from "./errors.js"
import type { PredictProgress } from "./predict.js"
import type { TfjsAnswer, TfjsProgress, TfjsTask } from "./tfjs-protocol.js"
import type { TrainProgress } from "./train.js"

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
}

/** The backend "auto" (or an explicit name) stands for on this machine. */
export const resolveTfjsBackend = (request: BackendRequest): BackendName => (request === "auto" ? probeBackend() : request)

const versionOf = (pkg: string): string => `${pkg}@${resolvable(pkg) ? packageVersion(pkg) : "not installed"}`

/** The engine's identity on `backend`. */
export const tfjsIdentity = (backend: BackendName): EngineIdentity => ({
  engine: TFJS_ENGINE,
  backend,
  versions: [...new Set([TFJS_PACKAGE, BACKEND_PACKAGES[backend].pkg])].map(versionOf).join(" "),
})

const taskName = (task: TfjsTask): string => {
  switch (task.kind) {
    case "train":
      return `train fold ${task.data.fold}`
    case "evaluate":
      return `evaluate ${task.checkpoint}`
    case "predict":
      return `predict ${task.checkpoints.length} model(s)`
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
      const backend = resolveTfjsBackend(options.backend)
      const identity = tfjsIdentity(backend)
      // One task per worker at a time: a fold's steps never share a thread with another's.
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
          const task: TfjsTask = { kind: "train", backend, config, data }
          return Effect.flatMap(send(task, { onBackend: hooks.onBackend, onTrain: hooks.onProgress }), (answer) =>
            answer.kind === "train" ? Effect.succeed(answer.result) : wrongAnswer(task, answer),
          )
        },
        evaluate: (config, checkpoint, data) => {
          const task: TfjsTask = { kind: "evaluate", backend, config, checkpoint, data }
          return Effect.flatMap(send(task, {}), (answer) => (answer.kind === "evaluate" ? Effect.succeed(answer.result) : wrongAnswer(task, answer)))
        },
      }
      const predictor: Predictor = {
        identity,
        predict: (config, checkpoints, windows, hooks = {}) => {
          const task: TfjsTask = { kind: "predict", backend, config, checkpoints, windows }
          return Effect.flatMap(send(task, { onBackend: hooks.onBackend, onPredict: hooks.onProgress }), (answer) =>
            answer.kind === "predict" ? Effect.succeed(answer.result) : wrongAnswer(task, answer),
          )
        },
      }
      return Context.make(TrainerService, trainer).pipe(Context.add(PredictorService, predictor))
    }),
  )
