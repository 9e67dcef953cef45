/**
 * Entry module of the training / inference worker threads spawned by `worker.ts`. It only acts
 * when loaded as a worker (it does nothing when imported on the main thread): it initialises the
 * requested TF.js backend, runs the task from `workerData`, and posts progress, then the result or
 * the error, to its parent.
 */
import { isMainThread, parentPort, workerData } from "node:worker_threads"
import { Cause, Effect, Exit, Option } from "effect"
import { resolveBackend } from "./backend.js"
import { marshalMlError } from "./errors.js"
import { predictCheckpoints } from "./predict.js"
import { trainFold } from "./train.js"
import type { WorkerMessage, WorkerTask } from "./worker.js"

const describe = (value: unknown): string => (value instanceof Error ? `${value.message}\n${value.stack ?? ""}` : String(value))

/** Runs the task and posts every message through `post`. */
export const runWorkerTask = async (task: WorkerTask, post: (message: WorkerMessage) => void): Promise<void> => {
  const program = Effect.gen(function* () {
    const backend = yield* resolveBackend(task.backend)
    post({ type: "backend", name: backend.name, detail: backend.detail })
    if (task.kind === "train") {
      return yield* trainFold(task.config, task.data, { onProgress: (event) => post({ type: "progress", event }) })
    }
    return yield* predictCheckpoints(task.config, task.checkpoints, task.windows, {
      onProgress: (event) => post({ type: "progress", event }),
    })
  })
  const exit = await Effect.runPromiseExit(program)
  if (Exit.isSuccess(exit)) {
    post({ type: "done", result: exit.value })
    return
  }
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure)) {
    post({ type: "failed", error: marshalMlError(failure.value) })
    return
  }
  const defect = Cause.dieOption(exit.cause)
  const detail = Option.isSome(defect) ? describe(defect.value) : Cause.pretty(exit.cause)
  post({ type: "failed", error: { _tag: "WorkerFailed", task: task.kind, detail } })
}

if (!isMainThread && parentPort !== null) {
  const port = parentPort
  void runWorkerTask(workerData as WorkerTask, (message) => port.postMessage(message))
}
