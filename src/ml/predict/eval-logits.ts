/**
 * A model's logits over a batch loader's rows, in order (eval mode): the validation pass of
 * training and the prediction pass share it.
 */
import * as tf from "@tensorflow/tfjs"
import { Duration, Effect } from "effect"
import type { FileReadFailed, NpyInvalid } from "../../data/data-errors.js"
import type { DatasetError } from "../ml-errors.js"
import { type BatchLoader, batches, sequentialOrder } from "../input/window-dataset.js"
import type { TrainableModel } from "../model/model-config.js"

/**
 * A macrotask boundary between steps: the thread handles its messages (a cancel of this task,
 * say) while a long loop runs.
 */
export const yieldToThread: Effect.Effect<void> = Effect.sleep(Duration.zero)

/** A tensor's values, read asynchronously (the only read a GPU backend allows in Node), then disposed. */
export const readTensor = (t: tf.Tensor): Effect.Effect<Float32Array> =>
  Effect.ensuring(
    Effect.promise(() => t.data() as Promise<Float32Array>),
    Effect.sync(() => t.dispose()),
  )

/** Logits of `loader`'s rows in order (eval mode), row-major `[rows, classes]`. */
export const evalLogits = (
  model: Pick<TrainableModel, "forward">,
  loader: BatchLoader,
  batchSize: number,
  onBatch?: (done: number, total: number) => void,
): Effect.Effect<Float32Array, DatasetError | FileReadFailed | NpyInvalid> =>
  Effect.gen(function* () {
    const classes = loader.dataset.classes
    const out = new Float32Array(loader.length * classes)
    const all = batches(sequentialOrder(loader.length), batchSize, false)
    let row = 0
    for (let b = 0; b < all.length; b++) {
      const rows = all[b]!
      const { x, size } = yield* loader.batch(rows)
      const logits = yield* readTensor(
        tf.tidy(() => model.forward(tf.tensor4d(x, [size, loader.options.imgSize, loader.options.imgSize, loader.channels]), false)),
      )
      out.set(logits, row * classes)
      row += size
      onBatch?.(b + 1, all.length)
      yield* yieldToThread
    }
    return out
  })
