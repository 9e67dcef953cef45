/**
 * PyTorch's `torch.optim.lr_scheduler.OneCycleLR`, step for step.
 *
 * What torch does, and so what this does:
 * - `total_steps = epochs * steps_per_epoch`; phase ends are `pct_start * total - 1` (a float) and
 *   `total - 1` (two phases) or `pct_start * total - 1`, `2 * pct_start * total - 2`, `total - 1`
 *   (three phases).
 * - The constructor already takes one step: the optimizer's first update uses the lr of step 0,
 *   which for `pct_start = 0` is NOT `max_lr` — phase 1 ends at step -1, so step 0 is a fraction
 *   `1 / total_steps` into the annealing phase.
 * - `pct = (step - start) / (end - start)` where `start` is the previous phase's end step; the cosine
 *   anneal is `end + (start - end) / 2 * (cos(pi * pct) + 1)`.
 * - With `cycle_momentum` (the default) the optimizer's beta1 is cycled in the opposite direction,
 *   between `max_momentum` (0.95) and `base_momentum` (0.85); AdamW then uses that beta1 for its
 *   moving average AND its bias correction `1 - beta1 ** step`.
 * - Stepping beyond `total_steps` is an error (`ValueError` in torch).
 */
import { Either } from "effect"
import { TrainConfigError } from "../ml-errors.js"

export type AnnealStrategy = "cos" | "linear"

export interface OneCycleConfig {
  readonly maxLr: number
  readonly epochs: number
  readonly stepsPerEpoch: number
  readonly pctStart: number
  readonly divFactor: number
  readonly finalDivFactor: number
  readonly annealStrategy: AnnealStrategy
  readonly threePhase: boolean
  readonly cycleMomentum: boolean
  readonly baseMomentum: number
  readonly maxMomentum: number
}

/** torch's defaults for everything but the lr and the step counts. */
export const TORCH_ONE_CYCLE_DEFAULTS = {
  pctStart: 0.3,
  divFactor: 25,
  finalDivFactor: 1e4,
  annealStrategy: "cos",
  threePhase: false,
  cycleMomentum: true,
  baseMomentum: 0.85,
  maxMomentum: 0.95,
} as const satisfies Omit<OneCycleConfig, "maxLr" | "epochs" | "stepsPerEpoch">

/** A full config from the required fields, torch's defaults for the rest. */
export const oneCycleConfig = (
  required: Pick<OneCycleConfig, "maxLr" | "epochs" | "stepsPerEpoch">,
  overrides: Partial<Omit<OneCycleConfig, "maxLr" | "epochs" | "stepsPerEpoch">> = {},
): OneCycleConfig => ({ ...TORCH_ONE_CYCLE_DEFAULTS, ...overrides, ...required })

/** The lr and (when momentum is cycled) the beta1 the optimizer uses at one step. */
export interface ScheduledValues {
  readonly lr: number
  /** undefined when `cycleMomentum` is false: the optimizer keeps its own beta1. */
  readonly beta1: number | undefined
}

type LrKey = "initial" | "max" | "min"
type MomentumKey = "max" | "base"

interface Phase {
  readonly endStep: number
  readonly startLr: LrKey
  readonly endLr: LrKey
  readonly startMomentum: MomentumKey
  readonly endMomentum: MomentumKey
}

const annealCos = (start: number, end: number, pct: number): number => {
  const cosOut = Math.cos(Math.PI * pct) + 1
  return end + ((start - end) / 2.0) * cosOut
}

const annealLinear = (start: number, end: number, pct: number): number => (end - start) * pct + start

const positiveInteger = (field: string, value: number): Either.Either<number, TrainConfigError> =>
  Number.isInteger(value) && value > 0
    ? Either.right(value)
    : Either.left(new TrainConfigError({ field, value: String(value), detail: "must be a positive integer" }))

/** A validated OneCycle schedule: `at(step)` gives what torch's scheduler sets after `step` steps. */
export class OneCycleSchedule {
  readonly totalSteps: number
  readonly initialLr: number
  readonly minLr: number
  private readonly phases: ReadonlyArray<Phase>
  private readonly anneal: (start: number, end: number, pct: number) => number

  private constructor(readonly config: OneCycleConfig) {
    this.totalSteps = config.epochs * config.stepsPerEpoch
    this.initialLr = config.maxLr / config.divFactor
    this.minLr = this.initialLr / config.finalDivFactor
    this.anneal = config.annealStrategy === "cos" ? annealCos : annealLinear
    const total = this.totalSteps
    const pct = config.pctStart
    this.phases = config.threePhase
      ? [
          { endStep: pct * total - 1, startLr: "initial", endLr: "max", startMomentum: "max", endMomentum: "base" },
          { endStep: 2 * pct * total - 2, startLr: "max", endLr: "initial", startMomentum: "base", endMomentum: "max" },
          { endStep: total - 1, startLr: "initial", endLr: "min", startMomentum: "max", endMomentum: "max" },
        ]
      : [
          { endStep: pct * total - 1, startLr: "initial", endLr: "max", startMomentum: "max", endMomentum: "base" },
          { endStep: total - 1, startLr: "max", endLr: "min", startMomentum: "base", endMomentum: "max" },
        ]
  }

  static make(config: OneCycleConfig): Either.Either<OneCycleSchedule, TrainConfigError> {
    return Either.gen(function* () {
      yield* positiveInteger("epochs", config.epochs)
      yield* positiveInteger("stepsPerEpoch", config.stepsPerEpoch)
      if (!(config.pctStart >= 0 && config.pctStart <= 1)) {
        return yield* Either.left(new TrainConfigError({ field: "pctStart", value: String(config.pctStart), detail: "must be in [0, 1]" }))
      }
      for (const field of ["maxLr", "divFactor", "finalDivFactor"] as const) {
        const value = config[field]
        if (!(Number.isFinite(value) && value > 0)) {
          return yield* Either.left(new TrainConfigError({ field, value: String(value), detail: "must be a positive finite number" }))
        }
      }
      return new OneCycleSchedule(config)
    })
  }

  private lrOf(key: LrKey): number {
    return key === "initial" ? this.initialLr : key === "max" ? this.config.maxLr : this.minLr
  }

  private momentumOf(key: MomentumKey): number {
    return key === "max" ? this.config.maxMomentum : this.config.baseMomentum
  }

  /**
   * The values after `step` scheduler steps (0 = right after construction): the lr (and beta1) of
   * the optimizer's `step + 1`-th update. `step` may equal `totalSteps` (torch allows that last
   * call); beyond it is a RangeError, a caller bug.
   */
  at(step: number): ScheduledValues {
    if (!Number.isInteger(step) || step < 0 || step > this.totalSteps) {
      throw new RangeError(`Tried to step ${step} times. The specified number of total steps is ${this.totalSteps}`)
    }
    let startStep = 0.0
    const last = this.phases.length - 1
    for (let i = 0; i <= last; i++) {
      const phase = this.phases[i]!
      const endStep = phase.endStep
      if (step <= endStep || i === last) {
        const pct = (step - startStep) / (endStep - startStep)
        const lr = this.anneal(this.lrOf(phase.startLr), this.lrOf(phase.endLr), pct)
        const beta1 = this.config.cycleMomentum ? this.anneal(this.momentumOf(phase.startMomentum), this.momentumOf(phase.endMomentum), pct) : undefined
        return { lr, beta1 }
      }
      startStep = phase.endStep
    }
    // The loop always returns at the last phase.
    throw new RangeError("OneCycleSchedule has no phases")
  }

  /** The learning rates of every optimizer update, in order (`totalSteps` values). */
  lrs(): Float64Array {
    const out = new Float64Array(this.totalSteps)
    for (let i = 0; i < this.totalSteps; i++) out[i] = this.at(i).lr
    return out
  }
}

// ---- the schedule a training run asks for ---------------------------------------------------------

/**
 * A training run's learning-rate schedule, stepped after every optimizer step:
 * - "one-cycle": `OneCycleLR(max_lr=lr, epochs, steps_per_epoch)` with torch's defaults for
 *   whatever is not given (cycles AdamW's beta1 unless `cycleMomentum: false`);
 * - "constant": the lr throughout; the optimizer keeps its own beta1.
 */
export type LrSchedule = ({ readonly kind: "one-cycle" } & Partial<Omit<OneCycleConfig, "maxLr" | "epochs" | "stepsPerEpoch">>) | { readonly kind: "constant" }

/** What the training loop asks of a schedule: the values of each optimizer update. */
export interface Schedule {
  /** The values of the optimizer's `step + 1`-th update (0 <= step <= total steps). */
  at(step: number): ScheduledValues
}

class ConstantSchedule implements Schedule {
  constructor(
    private readonly lr: number,
    private readonly totalSteps: number,
  ) {}

  at(step: number): ScheduledValues {
    if (!Number.isInteger(step) || step < 0 || step > this.totalSteps) {
      throw new RangeError(`Tried to step ${step} times. The specified number of total steps is ${this.totalSteps}`)
    }
    return { lr: this.lr, beta1: undefined }
  }
}

/** The schedule `spec` asks for, over `epochs * stepsPerEpoch` steps peaking (or staying) at `lr`. */
export const makeSchedule = (
  spec: LrSchedule,
  run: { readonly lr: number; readonly epochs: number; readonly stepsPerEpoch: number },
): Either.Either<Schedule, TrainConfigError> => {
  if (spec.kind === "one-cycle") {
    const { kind: _kind, ...overrides } = spec
    return OneCycleSchedule.make(oneCycleConfig({ maxLr: run.lr, epochs: run.epochs, stepsPerEpoch: run.stepsPerEpoch }, overrides))
  }
  return Either.gen(function* () {
    yield* positiveInteger("epochs", run.epochs)
    yield* positiveInteger("stepsPerEpoch", run.stepsPerEpoch)
    if (!(Number.isFinite(run.lr) && run.lr > 0)) {
      return yield* Either.left(new TrainConfigError({ field: "lr", value: String(run.lr), detail: "must be a positive finite number" }))
    }
    return new ConstantSchedule(run.lr, run.epochs * run.stepsPerEpoch)
  })
}
