/**
 * ONNX Runtime as a `Predictor` layer: each model file (`resnetToOnnx`'s, written next to a
 * training stage's checkpoint as `ONNX_MODEL_FILE`) runs on ONNX Runtime's CPU provider over the
 * windows, preprocessed by the same `BatchLoader` as TF.js' inference (NHWC images: for one
 * channel the same memory as NCHW, else transposed), softmax per row, averaged over the models as
 * `predictCheckpoints` averages them. Each model's input and output are checked when it is loaded
 * (model-io.ts), and each batch's output size as it comes.
 *
 * Its identity (engine "onnxruntime", the package version, threads, platform) enters the keys of
 * the stages that predict with it: its sums run in another order than TF.js', so the last bits
 * differ.
 */
import { Effect, Layer } from "effect"
import { packageVersion, resolvable } from "../tfjs/backend-probe.js"
import { BatchLoader, batches, sequentialOrder } from "../../input/window-dataset.js"
import { type EngineIdentity, Predictor } from "../../engine.js"
import { OnnxRuntimeError } from "../../ml-errors.js"
import { softmaxRows } from "../../train/loss.js"
import { averagePredictions } from "../../predict/predict.js"
import { checkModelConfig, loaderOptions } from "../../model/model-config.js"
import { checkOnnxBatchOutput, checkOnnxClassifierIo } from "./model-io.js"
import { loadOnnxSession, runOnnx } from "./onnx-runtime.js"

export const ONNX_RUNTIME_ENGINE = "onnxruntime"
export const ONNX_RUNTIME_PACKAGE = "onnxruntime-node"

/** Whether onnxruntime-node is installed here (resolvable; it is loaded on first use). */
export const onnxRuntimeInstalled = (): boolean => resolvable(ONNX_RUNTIME_PACKAGE)

export const onnxRuntimeIdentity = (threads: number): EngineIdentity => ({
  engine: ONNX_RUNTIME_ENGINE,
  backend: "cpu",
  versions: `${ONNX_RUNTIME_PACKAGE}@${packageVersion(ONNX_RUNTIME_PACKAGE)} threads:${threads} ${process.platform}-${process.arch}`,
})

/** NHWC to NCHW (a copy; for one channel the layouts coincide and `x` is returned). */
export const nhwcToNchw = (x: Float32Array, n: number, h: number, w: number, c: number): Float32Array => {
  if (c === 1) return x
  const out = new Float32Array(x.length)
  for (let b = 0; b < n; b++) for (let i = 0; i < h * w; i++) for (let k = 0; k < c; k++) out[(b * c + k) * h * w + i] = x[(b * h * w + i) * c + k]!
  return out
}

const asOnnxError = (model: string) => (e: unknown) =>
  e instanceof OnnxRuntimeError ? e : new OnnxRuntimeError({ operation: "run", model, detail: e instanceof Error ? e.message : String(e) })

/** The ONNX Runtime predictor with `threads` intra-op threads. */
export const onnxRuntimePredictor = (options: { readonly threads: number }): Layer.Layer<Predictor> =>
  Layer.succeed(Predictor, {
    identity: onnxRuntimeIdentity(options.threads),
    predict: (config, modelFiles, windows, hooks = {}) =>
      Effect.gen(function* () {
        yield* checkModelConfig(config)
        const loader = new BatchLoader(
          { windows, labels: new Float32Array(windows.length * config.numClasses), classes: config.numClasses },
          loaderOptions(config, config),
        )
        const emit = hooks.onProgress ?? (() => undefined)
        const all = batches(sequentialOrder(loader.length), config.batchSize, false)
        const perModel: Array<Float32Array> = []
        for (let index = 0; index < modelFiles.length; index++) {
          const file = modelFiles[index]!
          emit({ type: "model", index, models: modelFiles.length, checkpoint: file })
          const logits = yield* Effect.acquireUseRelease(
            Effect.tryPromise({ try: () => loadOnnxSession(file, { threads: options.threads }), catch: asOnnxError(file) }),
            (session) =>
              Effect.gen(function* () {
                yield* checkOnnxClassifierIo(session, file, { inChans: config.inChans, numClasses: config.numClasses, imgSize: config.imgSize })
                const out = new Float32Array(loader.length * config.numClasses)
                let row = 0
                for (let b = 0; b < all.length; b++) {
                  const { x, size } = yield* loader.batch(all[b]!)
                  const images = nhwcToNchw(x, size, config.imgSize, config.imgSize, loader.channels)
                  const batchLogits = yield* Effect.tryPromise({
                    try: () => runOnnx(session, images, [size, loader.channels, config.imgSize, config.imgSize]),
                    catch: asOnnxError(file),
                  })
                  yield* checkOnnxBatchOutput(batchLogits, size, file, config.numClasses)
                  out.set(batchLogits, row * config.numClasses)
                  row += size
                  emit({ type: "batch", index, batch: b + 1, batches: all.length })
                }
                return out
              }),
            (session) => Effect.promise(() => session.release()),
          )
          perModel.push(softmaxRows(logits, config.numClasses))
        }
        return { mean: averagePredictions(perModel), perModel }
      }),
  } satisfies Predictor)
