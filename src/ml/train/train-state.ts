/**
 * A fold's whole training state after an epoch, as files a progress record holds, and back: so a
 * fold that continues from it trains the remaining epochs to the bits an uninterrupted run reaches.
 *
 * - `state.safetensors`: every model variable in its TF.js layout and dtype (weights, batch-norm
 *   running statistics and counters), AdamW's moments per parameter, and the best epoch's softmax
 *   over the validation windows;
 * - `best.safetensors`: the best epoch's checkpoint, byte for byte the file training wrote;
 * - the record's value (`TrainStateValue`): the epoch, the optimizer's step counts (the schedule's
 *   position is the global step: schedules are pure functions of it), the best epoch and its loss,
 *   and the loss history. The batch order is a pure function of the seed and the epoch.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { type SafetensorsError, TrainError } from "../ml-errors.js"
import type { TrainableModel } from "../model/model-config.js"
import { readSafetensors, type SafetensorsInput, type SafetensorsTensor, writeSafetensors } from "../model/safetensors.js"
import type { AdamW } from "./adamw.js"
import type { EpochRecord } from "./train-fold.js"

/** The files of a saved training state. */
export const TRAIN_STATE_FILE = "state.safetensors"
export const BEST_CHECKPOINT_FILE = "best.safetensors"

const MODEL_PREFIX = "model/"
const EXP_AVG = (i: number) => `adamw/${i}/exp_avg`
const EXP_AVG_SQ = (i: number) => `adamw/${i}/exp_avg_sq`
const BEST_PREDICTIONS = "best/val_predictions"

/** What a saved state says besides its tensors (the progress record's value: plain JSON). */
export interface TrainStateValue {
  /** The last epoch completed. */
  readonly epoch: number
  /** Optimizer steps taken (the schedule's position). */
  readonly globalStep: number
  /** AdamW's step count per parameter. */
  readonly adamSteps: ReadonlyArray<number>
  readonly bestEpoch: number
  readonly bestValLoss: number
  readonly history: ReadonlyArray<EpochRecord>
}

/** A saved state to continue from: its files by name, and its value. */
export interface SavedTrainState {
  readonly files: Readonly<Record<string, string>>
  readonly value: unknown
}

const asInput = (name: string, variable: tf.Tensor, values: tf.TypedArray): SafetensorsInput =>
  variable.dtype === "int32"
    ? { name, dtype: "I32", shape: [...variable.shape], data: Int32Array.from(values as Int32Array) }
    : { name, dtype: "F32", shape: [...variable.shape], data: Float32Array.from(values as Float32Array) }

/** Writes the state into `dir` (created): read asynchronously, so it works on any backend. */
export const saveTrainState = (
  dir: string,
  model: TrainableModel,
  optimizer: AdamW,
  best: { readonly valPredictions: Float32Array; readonly checkpoint: string | undefined },
  at: { readonly fold: number; readonly epoch: number },
): Effect.Effect<void, SafetensorsError | TrainError> =>
  Effect.gen(function* () {
    const tensors: Array<SafetensorsInput> = []
    for (const t of model.tensors) tensors.push(asInput(`${MODEL_PREFIX}${t.name}`, t.variable, yield* Effect.promise(() => t.variable.data())))
    for (let i = 0; i < model.trainable.length; i++) {
      const s = optimizer.state(i)
      tensors.push(asInput(EXP_AVG(i), s.expAvg, yield* Effect.promise(() => s.expAvg.data())))
      tensors.push(asInput(EXP_AVG_SQ(i), s.expAvgSq, yield* Effect.promise(() => s.expAvgSq.data())))
    }
    tensors.push({ name: BEST_PREDICTIONS, dtype: "F32", shape: [best.valPredictions.length], data: best.valPredictions })
    yield* Effect.try({
      try: () => fs.mkdirSync(dir, { recursive: true }),
      catch: (error) => new TrainError({ ...at, step: 0, detail: `cannot create ${dir}: ${String(error)}` }),
    })
    yield* writeSafetensors(path.join(dir, TRAIN_STATE_FILE), tensors)
    if (best.checkpoint !== undefined) {
      const from = best.checkpoint
      yield* Effect.try({
        try: () => fs.copyFileSync(from, path.join(dir, BEST_CHECKPOINT_FILE)),
        catch: (error) => new TrainError({ ...at, step: 0, detail: `cannot copy the best checkpoint ${from}: ${String(error)}` }),
      })
    }
  })

/** The epoch a stored state's value says, or undefined when it is not a `TrainStateValue`. */
const decodeValue = (value: unknown): TrainStateValue | undefined => {
  const v = value as Partial<TrainStateValue> | null
  const isInt = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 0
  if (v === null || typeof v !== "object" || !isInt(v.epoch) || !isInt(v.globalStep) || !isInt(v.bestEpoch)) return undefined
  if (typeof v.bestValLoss !== "number" || !Array.isArray(v.history) || !Array.isArray(v.adamSteps) || !v.adamSteps.every(isInt)) return undefined
  return v as TrainStateValue
}

/**
 * Loads a saved state into `model` and `optimizer` and puts its best checkpoint at `checkpoint`;
 * fails (naming what does not fit) when the state is not one of this model and optimizer.
 */
export const restoreTrainState = (
  saved: SavedTrainState,
  model: TrainableModel,
  optimizer: AdamW,
  checkpoint: string,
  fold: number,
): Effect.Effect<TrainStateValue & { readonly valPredictions: Float32Array }, SafetensorsError | TrainError> =>
  Effect.gen(function* () {
    const value = decodeValue(saved.value)
    const refuse = (detail: string) =>
      new TrainError({ fold, epoch: value?.epoch ?? 0, step: 0, detail: `saved progress does not fit this training: ${detail}` })
    if (value === undefined) return yield* refuse("its record's value is not a training state")
    const stateFile = saved.files[TRAIN_STATE_FILE]
    if (stateFile === undefined) return yield* refuse(`it has no ${TRAIN_STATE_FILE}`)
    const state = yield* readSafetensors(stateFile)
    const take = (name: string, like: tf.Tensor): Taken => {
      const t: SafetensorsTensor | undefined = state.tensors.get(name)
      const dtype = like.dtype === "int32" ? "I32" : "F32"
      if (t === undefined) return { error: `${name} is missing` }
      if (t.dtype !== dtype || t.shape.join(",") !== like.shape.join(","))
        return { error: `${name} is ${t.dtype} [${t.shape}], expected ${dtype} [${like.shape}]` }
      const bytes = t.bytes.slice()
      return { values: dtype === "I32" ? new Int32Array(bytes.buffer) : new Float32Array(bytes.buffer) }
    }
    if (value.adamSteps.length !== model.trainable.length)
      return yield* refuse(`${value.adamSteps.length} optimizer states for ${model.trainable.length} parameters`)
    const assignments: Array<readonly [tf.Variable, tf.TypedArray]> = []
    for (const t of model.tensors) {
      const got = take(`${MODEL_PREFIX}${t.name}`, t.variable)
      if ("error" in got) return yield* refuse(got.error)
      assignments.push([t.variable, got.values])
    }
    const moments: Array<{ step: number; expAvg: Float32Array; expAvgSq: Float32Array }> = []
    for (let i = 0; i < model.trainable.length; i++) {
      const s = optimizer.state(i)
      const m = take(EXP_AVG(i), s.expAvg)
      const v = take(EXP_AVG_SQ(i), s.expAvgSq)
      if ("error" in m) return yield* refuse(m.error)
      if ("error" in v) return yield* refuse(v.error)
      moments.push({ step: value.adamSteps[i]!, expAvg: m.values as Float32Array, expAvgSq: v.values as Float32Array })
    }
    const predictions = state.tensors.get(BEST_PREDICTIONS)
    if (predictions === undefined || predictions.dtype !== "F32") return yield* refuse(`${BEST_PREDICTIONS} is missing`)
    const best = saved.files[BEST_CHECKPOINT_FILE]
    if (value.bestEpoch > 0 && best === undefined) return yield* refuse(`it names best epoch ${value.bestEpoch} but has no ${BEST_CHECKPOINT_FILE}`)
    for (const [variable, values] of assignments) tf.tidy(() => variable.assign(tf.tensor(values, variable.shape, variable.dtype)))
    moments.forEach((s, i) => optimizer.restore(i, s))
    if (best !== undefined) {
      yield* Effect.try({
        try: () => {
          fs.mkdirSync(path.dirname(checkpoint), { recursive: true })
          fs.copyFileSync(best, checkpoint)
          // The store's copy is read-only; the training's own file is not (a better epoch replaces it).
          fs.chmodSync(checkpoint, 0o644)
        },
        catch: (error) => refuse(`cannot copy its best checkpoint to ${checkpoint}: ${String(error)}`),
      })
    }
    return { ...value, valPredictions: new Float32Array(predictions.bytes.slice().buffer) }
  })

/** A stored tensor's values, or why it does not fit. */
type Taken = { readonly values: tf.TypedArray } | { readonly error: string }
