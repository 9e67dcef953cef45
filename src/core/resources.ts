/**
 * Memory planning: each stage instance's declared need (its stage's `resources` hook), asked and
 * checked against the run's memory budget before anything runs, and how many instances of each
 * stage fit at once. The runner admits instances under the budget (runner.ts). The budget is a
 * scheduling setting of one run: it is part of no key.
 */
import * as os from "node:os"
import { Data, Effect, Either } from "effect"
import { describeError } from "./errors.js"
import { formatBytes, SIZE_UNITS } from "./fs-util.js"
import type { Plan } from "./pipeline/index.js"

export const GIB = 1024 ** 3
export const MIB = 1024 ** 2

/** The environment variable that sets the budget when `--memory` does not. */
export const MEMORY_ENV = "CAIRN_MEMORY"

/**
 * What the default budget leaves to everything but the stages' declared needs: the OS, cairn's own
 * process and the data the stages read (tables held on the main thread, the page cache). Never more
 * than half the machine: a small machine still gets half its memory.
 */
export const RESERVED_MEMORY_BYTES = 4 * GIB

/** How much memory the stages that run at once may declare together. */
export interface MemoryBudget {
  readonly bytes: number
  /** Where it came from, as the user would change it: `--memory 16G`, `CAIRN_MEMORY=16G`, or the default's rule. */
  readonly origin: string
}

/** The machine's memory less `RESERVED_MEMORY_BYTES` (at most half of it). */
export const defaultMemoryBudget = (total: number = os.totalmem()): MemoryBudget => {
  const reserved = Math.min(RESERVED_MEMORY_BYTES, total / 2)
  return { bytes: total - reserved, origin: `default: ${formatBytes(total)} of memory less ${formatBytes(reserved)}` }
}

const SIZE = /^(\d+(?:\.\d+)?)\s*([kmgt])(?:i?b)?$/i

/** `16G`, `16GiB`, `1.5T`, `512M` (binary units, a unit required) as bytes, or why not. */
export const parseMemorySize = (text: string): Either.Either<number, string> => {
  const m = SIZE.exec(text.trim())
  if (!m) return Either.left(`expected a size with a unit, like 16G or 512M`)
  const bytes = Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!
  return bytes >= MIB ? Either.right(Math.floor(bytes)) : Either.left("must be at least 1M")
}

/** A stage's `resources` hook refused its params (a configuration its engine cannot hold, say): nothing ran. */
export class ResourcesRefused extends Data.TaggedError("ResourcesRefused")<{
  readonly stage: string
  readonly cause: unknown
}> {
  override get message(): string {
    return `${this.stage}: ${describeError(this.cause)}`
  }
}

/** An instance needs more memory than the whole budget: it could never be admitted, so nothing ran. */
export class MemoryOverBudget extends Data.TaggedError("MemoryOverBudget")<{
  readonly stage: string
  /** What the need is of ("resnet34d 512px batch 32"), when the stage says. */
  readonly subject: string | undefined
  readonly needBytes: number
  readonly budget: MemoryBudget
}> {
  override get message(): string {
    return (
      `${this.stage}: ${this.subject ? `${this.subject} needs` : "needs"} ~${formatBytes(this.needBytes)} of memory, more than this run's budget of ` +
      `${formatBytes(this.budget.bytes)} (${this.budget.origin}): nothing ran; give it more with --memory or ${MEMORY_ENV} if the machine has it, ` +
      `or change the stage's params so that it needs less`
    )
  }
}

/** One stage's declared need, for the plan line. */
export interface StageMemory {
  readonly stage: string
  readonly subject: string | undefined
  /** The largest need among its instances. */
  readonly bytes: number
  readonly instances: number
  /** How many of its instances the budget and `--jobs` let run at once. */
  readonly atOnce: number
}

export interface MemoryPlan {
  readonly budget: MemoryBudget
  /** Each instance's declared need in bytes (instances that declare none are absent: never held back). */
  readonly needs: ReadonlyMap<string, number>
  /** The stages that declare a need, in plan order. */
  readonly stages: ReadonlyArray<StageMemory>
}

/**
 * Asks every instance's `resources` hook, before anything runs: a hook's failure refuses the run
 * (`ResourcesRefused`), and so does a need above the whole budget (`MemoryOverBudget`).
 */
export const planMemory = (plan: Plan, budget: MemoryBudget, jobs: number): Effect.Effect<MemoryPlan, ResourcesRefused | MemoryOverBudget> =>
  Effect.gen(function* () {
    const needs = new Map<string, number>()
    const byStage = new Map<string, { subject: string | undefined; bytes: number; instances: number }>()
    for (const inst of plan.instances) {
      const hook = inst.stage.resources
      if (hook === undefined) continue
      const stage = inst.stage.name
      const declared = yield* Effect.mapError(hook(inst.params), (cause) => new ResourcesRefused({ stage, cause }))
      const bytes = declared.memoryBytes
      if (bytes === undefined) continue
      if (!Number.isFinite(bytes) || bytes < 0) {
        return yield* new ResourcesRefused({ stage, cause: `its resources hook declared memoryBytes ${bytes}, which is no byte count (a bug in the stage)` })
      }
      if (bytes > budget.bytes) return yield* new MemoryOverBudget({ stage, subject: declared.subject, needBytes: bytes, budget })
      needs.set(inst.id, bytes)
      const seen = byStage.get(stage)
      byStage.set(stage, { subject: seen?.subject ?? declared.subject, bytes: Math.max(seen?.bytes ?? 0, bytes), instances: (seen?.instances ?? 0) + 1 })
    }
    const stages = [...byStage].map(([stage, s]): StageMemory => {
      const fit = s.bytes === 0 ? s.instances : Math.floor(budget.bytes / s.bytes)
      return { stage, ...s, atOnce: Math.max(1, Math.min(s.instances, jobs, fit)) }
    })
    return { budget, needs, stages }
  })

/** The plan line's memory part: `memory 19.5 GiB (train: ~10.2 GiB each, 1 at a time)`; undefined when no stage declares a need. */
export const memorySummary = (memory: MemoryPlan): string | undefined => {
  if (memory.stages.length === 0) return undefined
  const parts = memory.stages.map((s) =>
    s.instances === 1 ? `${s.stage}: ~${formatBytes(s.bytes)}` : `${s.stage}: ~${formatBytes(s.bytes)} each, ${s.atOnce} at a time`,
  )
  return `memory ${formatBytes(memory.budget.bytes)} (${parts.join("; ")})`
}
