/**
 * `ctx.steps` of a stage that works in steps (`StageDefinition.steps`): its progress records in the
 * cache under the instance's key. Resuming trusts only a record whose files all hash to what it
 * says (the store checks them); a damaged one is skipped with one line, and the run continues from
 * the one before it or from the start. `--no-resume` drops the key's records and starts over.
 */
import { Effect } from "effect"
import type { Json } from "../canonical.js"
import { FileError } from "../errors.js"
import type { StageKey } from "../hashes.js"
import type { Instance } from "../pipeline/index.js"
import type { StepsContext } from "../stage.js"
import type { Cache } from "../store/cache.js"
import type { StoreError } from "../store/records.js"

const toFileError = (e: StoreError) => new FileError({ file: e.path, operation: e.operation, detail: e.detail, cause: e })

/** How long ago `iso` was, in words: "12 min ago". */
export const agoText = (iso: string, now = Date.now()): string => {
  const seconds = Math.max(0, (now - Date.parse(iso)) / 1000)
  if (!Number.isFinite(seconds)) return "at an unknown time"
  if (seconds < 60) return `${Math.round(seconds)} s ago`
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h ago`
  return `${(seconds / 86400).toFixed(1)} days ago`
}

export interface StepsOptions {
  /** Continue from saved progress (false: `--no-resume`, start over). */
  readonly resume: boolean
}

/** The steps context of `inst` (undefined when its params do not work in steps), and the step it resumed from. */
export const stepsContext = (
  store: Cache,
  inst: Instance,
  key: StageKey,
  options: StepsOptions,
  log: (message: string) => Effect.Effect<void>,
): { readonly ctx: StepsContext | undefined; readonly resumedFrom: () => number | undefined } => {
  const plan = inst.stage.steps?.(inst.params)
  let resumedFrom: number | undefined
  if (plan === undefined) return { ctx: undefined, resumedFrom: () => undefined }
  const { unit, total } = plan
  const resume = Effect.gen(function* () {
    if (!options.resume) {
      yield* Effect.mapError(store.progress.drop(key), toFileError)
      return undefined
    }
    const loaded = yield* Effect.mapError(store.progress.load(key), toFileError)
    const found = loaded.found && loaded.found.record.total === total && loaded.found.record.unit === unit ? loaded.found : undefined
    for (const [i, s] of loaded.skipped.entries()) {
      const next = i < loaded.skipped.length - 1 ? undefined : found ? `resuming from ${unit} ${found.record.step}` : `starting from ${unit} 1`
      yield* log(`progress record of ${unit} ${s.step} skipped (${s.why})${next ? `: ${next}` : ""}`)
    }
    if (found === undefined) return undefined
    resumedFrom = found.record.step
    yield* log(`resumed from ${unit} ${found.record.step} of ${total} (saved ${agoText(found.record.savedAt)})`)
    return { step: found.record.step, value: found.record.value, files: found.files }
  })
  const ctx: StepsContext = {
    unit,
    total,
    resume,
    newFolder: Effect.mapError(store.progress.newFolder(inst.id), toFileError),
    save: (step: number, dir: string, value: Json) =>
      Effect.mapError(Effect.asVoid(store.progress.save({ key, id: inst.id, unit, step, total, value }, dir)), toFileError),
  }
  return { ctx, resumedFrom: () => resumedFrom }
}
