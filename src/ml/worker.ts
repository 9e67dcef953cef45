/**
 * Training and inference in `worker_threads` workers, as Effects.
 *
 * Each worker is its own V8 isolate with its own TF.js (and wasm heap), so several folds train in
 * parallel on several cores. The worker resolves the requested TF.js backend, runs `trainFold` or
 * `predictCheckpoints`, posts progress events as they happen, and posts back either the result or
 * the tagged error (rebuilt on this side; anything else becomes a `WorkerFailed`). Interrupting the
 * Effect terminates the worker.
 *
 * Workers load TypeScript through tsx (see `startTsWorker` in src/core/worker.ts).
 */
import type { Worker } from "node:worker_threads"
import { Effect } from "effect"
import { startTsWorker } from "../core/worker.js"
import type { BackendRequest } from "./backend.js"
import { type MlError, reviveMlError, WorkerFailed } from "./errors.js"
import type { PredictConfig, PredictProgress, PredictResult } from "./predict.js"
import type { FoldData, TrainConfig, TrainFoldResult, TrainProgress } from "./train.js"
import type { WindowSource } from "./dataset.js"

/** The worker entry module (resolved next to this file). */
const ENTRY = new URL("./train-worker.ts", import.meta.url)
export type WorkerTask =
  | { readonly kind: "train"; readonly backend: BackendRequest; readonly config: TrainConfig; readonly data: FoldData }
  | {
      readonly kind: "predict"
      readonly backend: BackendRequest
      readonly config: PredictConfig
      readonly checkpoints: ReadonlyArray<string>
      readonly windows: ReadonlyArray<WindowSource>
    }

/** Messages from a worker to its parent. */
export type WorkerMessage =
  | { readonly type: "backend"; readonly name: string; readonly detail: string }
  | { readonly type: "progress"; readonly event: TrainProgress | PredictProgress }
  | { readonly type: "done"; readonly result: TrainFoldResult | PredictResult }
  | { readonly type: "failed"; readonly error: Record<string, unknown> }

export interface WorkerHooks<P> {
  readonly onProgress?: (event: P) => void
  /** Called once the worker has initialised its backend. */
  readonly onBackend?: (name: string, detail: string) => void
}

const taskName = (task: WorkerTask): string =>
  task.kind === "train" ? `train fold ${task.data.fold}` : `predict ${task.checkpoints.length} model(s)`

/** Runs one task in a fresh worker; the Effect's interruption terminates it. */
const runTask = <R, P>(task: WorkerTask, hooks: WorkerHooks<P>): Effect.Effect<R, MlError> =>
  Effect.async<R, MlError>((resume) => {
    const name = taskName(task)
    let settled = false
    const settle = (effect: Effect.Effect<R, MlError>): void => {
      if (settled) return
      settled = true
      resume(effect)
    }
    let worker: Worker
    try {
      worker = startTsWorker(ENTRY, task)
    } catch (error) {
      settle(Effect.fail(new WorkerFailed({ task: name, detail: `cannot start: ${error instanceof Error ? error.message : String(error)}` })))
      return
    }
    worker.on("message", (message: WorkerMessage) => {
      switch (message.type) {
        case "backend":
          hooks.onBackend?.(message.name, message.detail)
          break
        case "progress":
          hooks.onProgress?.(message.event as P)
          break
        case "done":
          settle(Effect.succeed(message.result as R))
          void worker.terminate()
          break
        case "failed":
          settle(Effect.fail(reviveMlError(message.error, name)))
          void worker.terminate()
          break
      }
    })
    worker.on("error", (error) => settle(Effect.fail(new WorkerFailed({ task: name, detail: `crashed: ${error.message}` }))))
    worker.on("exit", (code) => {
      settle(Effect.fail(new WorkerFailed({ task: name, detail: `exited with code ${code} before answering` })))
    })
    return Effect.promise(async () => {
      settled = true
      await worker.terminate()
    })
  })

/** `trainFold` in a worker thread. */
export const trainFoldInWorker = (
  backend: BackendRequest,
  config: TrainConfig,
  data: FoldData,
  hooks: WorkerHooks<TrainProgress> = {},
): Effect.Effect<TrainFoldResult, MlError> => runTask({ kind: "train", backend, config, data }, hooks)

/** `predictCheckpoints` in a worker thread. */
export const predictInWorker = (
  backend: BackendRequest,
  config: PredictConfig,
  checkpoints: ReadonlyArray<string>,
  windows: ReadonlyArray<WindowSource>,
  hooks: WorkerHooks<PredictProgress> = {},
): Effect.Effect<PredictResult, MlError> => runTask({ kind: "predict", backend, config, checkpoints, windows }, hooks)
