/**
 * One fold of training, as a PyTorch `train_one_fold` loop would run it:
 *
 *     model = ResNet-D (seeded; optionally timm ImageNet weights adapted to the input channels)
 *     optimizer = AdamW(model.parameters(), lr, weight_decay)
 *     scheduler = the configured schedule (e.g. OneCycleLR(max_lr=lr, epochs,
 *                 steps_per_epoch=len(train_loader), ...)), stepped after every batch
 *     for epoch in 1..epochs:
 *         train: shuffled batches, drop_last; loss = the configured loss on the logits; step; schedule
 *         train_loss = mean of the batch losses
 *         val: every validation window in order (last batch kept); val_loss = the loss over all of them
 *         if val_loss < best_val_loss: best_epoch = epoch; save the checkpoint
 *         if epoch - best_epoch > patience: stop
 *
 * Input channels, loss, schedule and per-image transform are the config's (`TrainConfig`): the
 * task (a stage) says what they are. Float32 throughout (no AMP: in fp32 no step is ever skipped),
 * one checkpoint file per fold (`checkpointFileName(fold)`, overwritten at each improvement), and
 * a non-finite training or validation loss stops the fold with a LossNotFinite (where, and the way
 * out) rather than training on NaNs or reporting a NaN best loss.
 *
 * The TF.js backend must already be initialised (the caller, or the engine's worker, picks it).
 * Same seed and same backend give the same weights and losses.
 */
import * as path from "node:path"
import * as tf from "@tensorflow/tfjs"
import { Effect, Either } from "effect"
import type { FileReadFailed, NpyInvalid } from "../../data/data-errors.js"
import { AdamW } from "./adamw.js"
import { checkpointFileName, loadPretrained, saveCheckpoint } from "../model/checkpoint.js"
import { type BatchOrder, BatchLoader, batches, trainingOrder, validateDataset, type WindowDataset } from "../input/window-dataset.js"
import { type CheckpointMismatch, type DatasetError, LossNotFinite, type PthError, type SafetensorsError, TrainConfigError, TrainError } from "../ml-errors.js"
import { LOSS_NAMES, type LossName, softmaxRows, TRAINING_LOSSES, ValidationLoss } from "./loss.js"
import { checkModelConfig, loaderOptions, type ModelConfig, resNetConfigOf, type TrainableModel } from "../model/model-config.js"
import { buildResNet, type ResNetConfig } from "../model/resnet.js"
import { evalLogits, readTensor, yieldToThread } from "../predict/eval-logits.js"
import { type LrSchedule, makeSchedule } from "./schedule.js"
import { ensureWebgpuStepFits } from "../engines/webgpu/webgpu-backend.js"
import { restoreTrainState, type SavedTrainState, saveTrainState, type TrainStateValue } from "./train-state.js"

/** Every hyperparameter of a fold's training. */
export interface TrainConfig extends ModelConfig {
  readonly batchSize: number
  readonly epochs: number
  readonly lr: number
  readonly weightDecay: number
  /** Early stopping: stop once `epoch - bestEpoch > patience`. */
  readonly patience: number
  /** Model init and shuffles. */
  readonly seed: number
  readonly loss: LossName
  readonly schedule: LrSchedule
  /** timm ImageNet weights (safetensors) to start from; undefined = random init. */
  readonly pretrained?: string
  /** The training batches' order per epoch (default: numpy's shuffle, see `epochOrder`). */
  readonly order?: BatchOrder
}

export interface FoldData {
  readonly fold: number
  readonly train: WindowDataset
  readonly val: WindowDataset
  /** Directory of the fold's checkpoint (`checkpointFileName(fold)`). */
  readonly outputDir: string
  /** Class names, for error messages. */
  readonly classNames?: ReadonlyArray<string>
  /** Expected (height, width) of every channel plane; checked per window when given. */
  readonly windowShape?: readonly [number, number]
  /** Preprocessed images cached in memory, bytes (see BatchLoader). */
  readonly cacheBytes?: number
  /**
   * Where to save the whole training state after each epoch but the last (`epoch-N/` under it, see
   * train-state.ts; a `saved` event names it); undefined: none saved.
   */
  readonly progressDir?: string
  /** A state saved by an earlier run of the same training, to continue from (its later epochs only). */
  readonly resume?: SavedTrainState
}

export interface EpochRecord {
  readonly epoch: number
  readonly trainLoss: number
  readonly valLoss: number
  /** The lr of the epoch's last optimizer step. */
  readonly lr: number
  /** Wall time of the whole epoch (training and validation). */
  readonly seconds: number
  /** Training images per second (training phase only). */
  readonly imagesPerSecond: number
  readonly improved: boolean
}

export type TrainProgress =
  | {
      readonly type: "start"
      readonly fold: number
      readonly epochs: number
      readonly stepsPerEpoch: number
      readonly trainSize: number
      readonly valSize: number
    }
  | {
      readonly type: "step"
      readonly fold: number
      readonly epoch: number
      readonly step: number
      readonly stepsPerEpoch: number
      readonly loss: number
      readonly lr: number
      readonly imagesPerSecond: number
    }
  | { readonly type: "validate"; readonly fold: number; readonly epoch: number }
  | {
      readonly type: "epoch"
      readonly fold: number
      readonly record: EpochRecord
      readonly bestEpoch: number
      readonly bestValLoss: number
    }
  | { readonly type: "saved"; readonly fold: number; readonly epoch: number; readonly dir: string; readonly value: TrainStateValue }
  | { readonly type: "done"; readonly fold: number; readonly bestEpoch: number; readonly bestValLoss: number; readonly stoppedEarly: boolean }

export interface TrainHooks {
  readonly onProgress?: (event: TrainProgress) => void
  /** Builds the model (default: `buildResNet`); tests may pass a smaller one. */
  readonly buildModel?: (config: ResNetConfig, seed: number) => TrainableModel
}

export interface TrainFoldResult {
  readonly fold: number
  readonly bestEpoch: number
  readonly bestValLoss: number
  readonly history: ReadonlyArray<EpochRecord>
  /** Softmax of the best epoch's model over the validation windows, in order: `[rows, classes]`. */
  readonly valPredictions: Float32Array
  /** The best epoch's checkpoint. */
  readonly checkpoint: string
  readonly stoppedEarly: boolean
}

export type TrainFoldError =
  | TrainError
  | LossNotFinite
  | TrainConfigError
  | DatasetError
  | FileReadFailed
  | NpyInvalid
  | SafetensorsError
  | PthError
  | CheckpointMismatch

/** The initial "best" validation loss (any real loss improves on it). */
const INITIAL_BEST_VAL_LOSS = 1.0e9
const MS_PER_SECOND = 1000
/** PyTorch's BatchNorm refuses a single value per channel in training mode. */
const MIN_TRAIN_BATCH = 2

const checkConfig = (config: TrainConfig): Either.Either<void, TrainConfigError> => {
  const model = checkModelConfig(config)
  if (Either.isLeft(model)) return model
  const positiveInt: ReadonlyArray<keyof TrainConfig> = ["batchSize", "epochs"]
  for (const field of positiveInt) {
    const v = config[field]
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
      return Either.left(new TrainConfigError({ field, value: String(v), detail: "must be a positive integer" }))
    }
  }
  if (config.batchSize < MIN_TRAIN_BATCH) {
    return Either.left(
      new TrainConfigError({
        field: "batchSize",
        value: String(config.batchSize),
        detail: `must be at least ${MIN_TRAIN_BATCH}: batch norm needs more than one value per channel in training`,
      }),
    )
  }
  if (!Number.isInteger(config.patience) || config.patience < 0) {
    return Either.left(new TrainConfigError({ field: "patience", value: String(config.patience), detail: "must be an integer >= 0" }))
  }
  if (!(config.weightDecay >= 0)) {
    return Either.left(new TrainConfigError({ field: "weightDecay", value: String(config.weightDecay), detail: "must be >= 0" }))
  }
  if (!Number.isInteger(config.seed) || config.seed < 0 || config.seed > 0xffffffff) {
    return Either.left(new TrainConfigError({ field: "seed", value: String(config.seed), detail: "must be an integer in [0, 2^32)" }))
  }
  if (!LOSS_NAMES.includes(config.loss)) {
    return Either.left(new TrainConfigError({ field: "loss", value: String(config.loss), detail: `must be one of ${LOSS_NAMES.join(", ")}` }))
  }
  return Either.right(undefined)
}

/** Trains one fold; see the module comment. */
export const trainFold = (config: TrainConfig, data: FoldData, hooks: TrainHooks = {}): Effect.Effect<TrainFoldResult, TrainFoldError> =>
  Effect.gen(function* () {
    yield* checkConfig(config)
    // On webgpu a tensor over the adapter's buffer limits computes garbage instead of failing (engines/webgpu/limits.ts).
    yield* ensureWebgpuStepFits(resNetConfigOf(config), config.imgSize, config.batchSize).pipe(
      Effect.mapError((e) => new TrainConfigError({ field: "batchSize", value: String(config.batchSize), detail: e.message })),
    )
    for (const [name, ds] of [
      ["train", data.train],
      ["val", data.val],
    ] as const) {
      if (ds.classes !== config.numClasses) {
        return yield* Effect.fail(
          new TrainConfigError({ field: "numClasses", value: String(config.numClasses), detail: `the ${name} set has ${ds.classes} classes` }),
        )
      }
      yield* validateDataset(ds, data.classNames)
    }
    const stepsPerEpoch = Math.floor(data.train.windows.length / config.batchSize)
    if (stepsPerEpoch === 0 || data.val.windows.length === 0) {
      return yield* Effect.fail(
        new TrainError({
          fold: data.fold,
          epoch: 0,
          step: 0,
          detail: `${data.train.windows.length} training windows (batch ${config.batchSize}, drop_last) and ${data.val.windows.length} validation windows: nothing to train or validate`,
        }),
      )
    }
    const schedule = yield* makeSchedule(config.schedule, { lr: config.lr, epochs: config.epochs, stepsPerEpoch })
    const options = loaderOptions(config, data)
    const trainLoader = new BatchLoader(data.train, options)
    const valLoader = new BatchLoader(data.val, options)
    const trainingLoss = TRAINING_LOSSES[config.loss]
    const checkpoint = path.join(data.outputDir, checkpointFileName(data.fold))
    const emit = hooks.onProgress ?? (() => undefined)
    const build = hooks.buildModel ?? buildResNet

    const acquire = Effect.sync(() => {
      const model = build(resNetConfigOf(config), config.seed)
      const optimizer = new AdamW(model.trainable, { lr: config.lr, weightDecay: config.weightDecay })
      return { model, optimizer }
    })
    const release = ({ model, optimizer }: { model: TrainableModel; optimizer: AdamW }) =>
      Effect.sync(() => {
        optimizer.dispose()
        model.dispose()
      })

    return yield* Effect.acquireUseRelease(
      acquire,
      ({ model, optimizer }) =>
        Effect.gen(function* () {
          if (config.pretrained !== undefined && data.resume === undefined) yield* loadPretrained(model, config.pretrained)
          emit({
            type: "start",
            fold: data.fold,
            epochs: config.epochs,
            stepsPerEpoch,
            trainSize: data.train.windows.length,
            valSize: data.val.windows.length,
          })
          const history: Array<EpochRecord> = []
          let bestValLoss = INITIAL_BEST_VAL_LOSS
          let bestEpoch = 0
          let valPredictions: Float32Array = new Float32Array(0)
          let stoppedEarly = false
          let globalStep = 0
          const size = config.imgSize
          const trainable = model.trainable
          let firstEpoch = 1
          if (data.resume !== undefined) {
            // Everything the remaining epochs read, as the run that saved it had it after its epoch.
            const restored = yield* restoreTrainState(data.resume, model, optimizer, checkpoint, data.fold)
            history.push(...restored.history)
            ;({ bestValLoss, bestEpoch, valPredictions, globalStep } = restored)
            firstEpoch = restored.epoch + 1
          }

          for (let epoch = firstEpoch; epoch <= config.epochs; epoch++) {
            const epochStart = performance.now()
            let trainLoss = 0
            let lr = schedule.at(globalStep).lr
            const order = trainingOrder(config.order ?? { kind: "numpy" }, data.train.windows.length, config.seed, epoch)
            if (typeof order === "string") {
              return yield* Effect.fail(new TrainConfigError({ field: "order", value: config.order?.kind ?? "numpy", detail: order }))
            }
            const epochBatches = batches(order, config.batchSize, true)
            for (let step = 0; step < epochBatches.length; step++) {
              const { x, y } = yield* trainLoader.batch(epochBatches[step]!)
              const scheduled = schedule.at(globalStep)
              lr = scheduled.lr
              optimizer.lr = scheduled.lr
              if (scheduled.beta1 !== undefined) optimizer.beta1 = scheduled.beta1
              const batch = config.batchSize
              const lossTensor = tf.tidy(() => {
                const input = tf.tensor4d(x, [batch, size, size, config.inChans])
                const target = tf.tensor2d(y, [batch, config.numClasses])
                const { value, grads } = tf.variableGrads(() => trainingLoss(model.forward(input, true), target), trainable as Array<tf.Variable>)
                optimizer.step(trainable.map((v) => grads[v.name]))
                return value
              })
              // Read asynchronously: a GPU backend (webgpu) cannot read a tensor synchronously in Node.
              const loss = (yield* readTensor(lossTensor))[0]!
              globalStep += 1
              if (!Number.isFinite(loss)) {
                return yield* Effect.fail(new LossNotFinite({ fold: data.fold, checkpoint: "", phase: "training", value: loss, epoch, step: step + 1, lr }))
              }
              trainLoss += loss
              const elapsed = (performance.now() - epochStart) / MS_PER_SECOND
              emit({
                type: "step",
                fold: data.fold,
                epoch,
                step: step + 1,
                stepsPerEpoch,
                loss,
                lr,
                imagesPerSecond: ((step + 1) * config.batchSize) / Math.max(elapsed, Number.EPSILON),
              })
              yield* yieldToThread
            }
            trainLoss /= epochBatches.length
            const trainSeconds = (performance.now() - epochStart) / MS_PER_SECOND

            emit({ type: "validate", fold: data.fold, epoch })
            const logits = yield* evalLogits(model, valLoader, config.batchSize)
            const valLossFn = new ValidationLoss(config.loss, config.numClasses)
            valLossFn.add(logits, data.val.labels)
            const valLoss = valLossFn.compute()
            if (!Number.isFinite(valLoss)) {
              return yield* Effect.fail(new LossNotFinite({ fold: data.fold, checkpoint: "", phase: "validation", value: valLoss, epoch, step: 0, lr }))
            }
            const improved = valLoss < bestValLoss
            if (improved) {
              bestEpoch = epoch
              bestValLoss = valLoss
              valPredictions = softmaxRows(logits, config.numClasses)
              yield* saveCheckpoint(model, checkpoint)
            }
            const record: EpochRecord = {
              epoch,
              trainLoss,
              valLoss,
              lr,
              seconds: (performance.now() - epochStart) / MS_PER_SECOND,
              imagesPerSecond: (epochBatches.length * config.batchSize) / Math.max(trainSeconds, Number.EPSILON),
              improved,
            }
            history.push(record)
            emit({ type: "epoch", fold: data.fold, record, bestEpoch, bestValLoss })
            const last = epoch === config.epochs || epoch - bestEpoch > config.patience
            if (data.progressDir !== undefined && !last) {
              const dir = path.join(data.progressDir, `epoch-${epoch}`)
              const adamSteps = trainable.map((_, i) => optimizer.state(i).step)
              yield* saveTrainState(dir, model, optimizer, { valPredictions, checkpoint: bestEpoch > 0 ? checkpoint : undefined }, { fold: data.fold, epoch })
              emit({ type: "saved", fold: data.fold, epoch, dir, value: { epoch, globalStep, adamSteps, bestEpoch, bestValLoss, history: [...history] } })
            }
            if (epoch - bestEpoch > config.patience) {
              stoppedEarly = epoch < config.epochs
              break
            }
          }
          if (bestEpoch === 0) {
            return yield* Effect.fail(
              new TrainError({ fold: data.fold, epoch: history.length, step: 0, detail: `the validation loss never went below ${INITIAL_BEST_VAL_LOSS}` }),
            )
          }
          emit({ type: "done", fold: data.fold, bestEpoch, bestValLoss, stoppedEarly })
          return { fold: data.fold, bestEpoch, bestValLoss, history, valPredictions, checkpoint, stoppedEarly }
        }),
      release,
    )
  })
