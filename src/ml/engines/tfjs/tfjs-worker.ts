/**
 * Entry module of the TF.js engine's worker threads (started by the pool of tfjs-engine.ts): each
 * task initialises the backend it names (once per backend and thread) and trains, evaluates,
 * predicts or exports a checkpoint as ONNX, reporting progress. Does nothing when imported on the main thread.
 */
import { Effect } from "effect"
import { serveTasks } from "../../../core/thread-pool.js"
import { type ResolvedBackend, resolveBackend } from "./resolve-backend.js"
import { exportCheckpointOnnx } from "../../export/export-checkpoint.js"
import { evaluateCheckpoint, predictCheckpoints } from "../../predict/predict.js"
import type { TfjsAnswer, TfjsPlacement, TfjsProgress, TfjsTask } from "./tfjs-protocol.js"
import { trainFold } from "../../train/train-fold.js"

/** The placement this thread last initialised, and its backend. */
let current: { readonly placement: TfjsPlacement; readonly backend: ResolvedBackend } | undefined

const backendFor = (placement: TfjsPlacement) =>
  current?.placement.backend === placement.backend && current.placement.threads === placement.threads
    ? Effect.succeed(current.backend)
    : Effect.tap(resolveBackend(placement.backend, { threads: placement.threads }), (backend) =>
        Effect.sync(() => {
          current = { placement, backend }
        }),
      )

const runTask = (task: TfjsTask, progress: (event: TfjsProgress) => void): Effect.Effect<TfjsAnswer, unknown> =>
  Effect.gen(function* () {
    const backend = yield* backendFor(task.placement)
    progress({ kind: "backend", backend })
    switch (task.kind) {
      case "train": {
        const result = yield* trainFold(task.config, task.data, { onProgress: (event) => progress({ kind: "train", event }) })
        return { kind: "train", result }
      }
      case "evaluate":
        return { kind: "evaluate", result: yield* evaluateCheckpoint(task.config, task.checkpoint, task.data) }
      case "predict": {
        const result = yield* predictCheckpoints(task.config, task.checkpoints, task.windows, {
          onProgress: (event) => progress({ kind: "predict", event }),
        })
        return { kind: "predict", result }
      }
      case "export-onnx":
        yield* exportCheckpointOnnx(task.config, task.checkpoint, task.file)
        return { kind: "export-onnx" }
    }
  })

serveTasks(runTask)
