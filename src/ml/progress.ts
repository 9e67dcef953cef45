/**
 * Progress of several folds training at once.
 *
 * - On a TTY: one cli-progress bar per fold (steps of the current epoch), with the epoch, step,
 *   running loss, images/s and the best validation loss so far; finished epochs are also logged
 *   above the bars.
 * - Otherwise (CI logs, files): plain lines, one per epoch per fold, plus one when a fold starts,
 *   stops or fails.
 *
 * `formatEpochLine` / `formatStartLine` / `formatDoneLine` are the plain lines, shared by both.
 */
import cliProgress from "cli-progress"
import { Effect, type Scope } from "effect"
import type { EpochRecord, TrainProgress } from "./train.js"

export interface ProgressDisplay {
  /** Feeds one event from `trainFold` (or a worker running it). */
  update(event: TrainProgress): void
  /** Marks a fold as failed (message shown / logged). */
  fail(fold: number, message: string): void
  /** Stops drawing (restores the terminal); idempotent. */
  stop(): void
}

/** A writable text stream; `isTTY` and `columns` as on process.stdout. */
export interface TextStream {
  write(chunk: string): boolean
  readonly isTTY?: boolean
  readonly columns?: number
}

const LOSS_DIGITS = 6
const RATE_DIGITS = 1
const SECONDS_DIGITS = 1
const BAR_SIZE = 24
const FPS = 5

const fmtLoss = (v: number): string => (Number.isFinite(v) ? v.toFixed(LOSS_DIGITS) : String(v))
const fmtLr = (v: number): string => v.toExponential(2)

/** `[fold 0] epoch 2/9 train 0.812345 val 0.745678 lr 9.73e-4 123.4 img/s 12.3 s best` */
export const formatEpochLine = (fold: number, epochs: number, record: EpochRecord, bestEpoch: number): string =>
  `[fold ${fold}] epoch ${record.epoch}/${epochs} train ${fmtLoss(record.trainLoss)} val ${fmtLoss(record.valLoss)} ` +
  `lr ${fmtLr(record.lr)} ${record.imagesPerSecond.toFixed(RATE_DIGITS)} img/s ${record.seconds.toFixed(SECONDS_DIGITS)} s` +
  (record.improved ? " best" : ` (best epoch ${bestEpoch})`)

export const formatStartLine = (e: Extract<TrainProgress, { type: "start" }>): string =>
  `[fold ${e.fold}] start: ${e.trainSize} training / ${e.valSize} validation windows, ${e.epochs} epochs x ${e.stepsPerEpoch} steps`

export const formatDoneLine = (e: Extract<TrainProgress, { type: "done" }>): string =>
  `[fold ${e.fold}] done: best epoch ${e.bestEpoch}, val ${fmtLoss(e.bestValLoss)}${e.stoppedEarly ? " (early stopping)" : ""}`

/** Plain lines: one per epoch per fold (and start / done / failure). */
export const makeLineProgress = (stream: TextStream): ProgressDisplay => {
  const epochs = new Map<number, number>()
  return {
    update: (e) => {
      switch (e.type) {
        case "start":
          epochs.set(e.fold, e.epochs)
          stream.write(`${formatStartLine(e)}\n`)
          break
        case "epoch":
          stream.write(`${formatEpochLine(e.fold, epochs.get(e.fold) ?? 0, e.record, e.bestEpoch)}\n`)
          break
        case "done":
          stream.write(`${formatDoneLine(e)}\n`)
          break
        case "step":
        case "validate":
          break
      }
    },
    fail: (fold, message) => {
      stream.write(`[fold ${fold}] failed: ${message}\n`)
    },
    stop: () => undefined,
  }
}

interface BarState {
  readonly bar: cliProgress.SingleBar
  epochs: number
  bestValLoss: number | undefined
}

/** One bar per fold on a TTY (cli-progress). */
export const makeBarProgress = (stream: TextStream): ProgressDisplay => {
  const multi = new cliProgress.MultiBar(
    {
      stream: stream as unknown as NodeJS.WritableStream,
      format: "fold {fold} |{bar}| epoch {epoch}/{epochs} step {value}/{total} loss {loss} {rate} img/s {status}",
      barsize: BAR_SIZE,
      fps: FPS,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      forceRedraw: true,
    },
    cliProgress.Presets.shades_classic,
  )
  const bars = new Map<number, BarState>()
  let stopped = false
  const bar = (fold: number): BarState => {
    const existing = bars.get(fold)
    if (existing !== undefined) return existing
    const created: BarState = {
      bar: multi.create(1, 0, { fold, epoch: 0, epochs: 0, loss: "-", rate: "-", status: "starting" }),
      epochs: 0,
      bestValLoss: undefined,
    }
    bars.set(fold, created)
    return created
  }
  const best = (s: BarState): string => (s.bestValLoss === undefined ? "" : `best val ${fmtLoss(s.bestValLoss)}`)
  return {
    update: (e) => {
      if (stopped) return
      const s = bar(e.fold)
      switch (e.type) {
        case "start":
          s.epochs = e.epochs
          s.bar.setTotal(e.stepsPerEpoch)
          s.bar.update(0, { epoch: 1, epochs: e.epochs, status: "training" })
          break
        case "step":
          s.bar.update(e.step, {
            epoch: e.epoch,
            epochs: s.epochs,
            loss: fmtLoss(e.loss),
            rate: e.imagesPerSecond.toFixed(RATE_DIGITS),
            status: best(s),
          })
          break
        case "validate":
          s.bar.update({ status: `validating ${best(s)}`.trim() })
          break
        case "epoch":
          s.bestValLoss = e.bestValLoss
          multi.log(`${formatEpochLine(e.fold, s.epochs, e.record, e.bestEpoch)}\n`)
          s.bar.update({ status: best(s) })
          break
        case "done":
          s.bar.update({ status: `done, ${best(s)}${e.stoppedEarly ? " (early stop)" : ""}` })
          break
      }
    },
    fail: (fold, message) => {
      if (stopped) return
      bar(fold).bar.update({ status: "failed" })
      multi.log(`[fold ${fold}] failed: ${message}\n`)
    },
    stop: () => {
      if (stopped) return
      stopped = true
      // stop() renders the bars but drops lines still waiting in the log buffer: flush them first
      multi.update()
      multi.stop()
    },
  }
}

/** Bars on a TTY, plain lines otherwise. */
export const makeProgressDisplay = (stream: TextStream = process.stdout): ProgressDisplay =>
  stream.isTTY === true ? makeBarProgress(stream) : makeLineProgress(stream)

/** A progress display as a scoped resource (stopped when the scope closes). */
export const progressDisplay = (stream: TextStream = process.stdout): Effect.Effect<ProgressDisplay, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => makeProgressDisplay(stream)),
    (display) => Effect.sync(() => display.stop()),
  )
