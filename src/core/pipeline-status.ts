import { Effect, Either } from "effect"
import { describeError } from "./errors.js"
import { instanceKey, stageExportsOf, UNKNOWN_INPUT } from "./instance-key.js"
import { describeChange, diffKeys, type KeyChange } from "./key.js"
import type { Instance, Plan } from "./pipeline/index.js"
import { type Resolved, resolvedFromRecord } from "./instance-output.js"
import { resolveSource } from "./source.js"
import type { StageExports } from "./closure/code-closure.js"
import { Cache } from "./store/cache.js"
import { RunHistory } from "./store/run-history.js"
import { agoText } from "./executor/stage-steps.js"

export interface InstanceStatus {
  readonly id: string
  /** fresh: a run would be a cache hit. stale: it would run. */
  readonly state: "fresh" | "stale"
  readonly key: string | undefined
  /** Why it is stale, one line each (which param, which code file, which input). */
  readonly reasons: ReadonlyArray<string>
  readonly changes: ReadonlyArray<KeyChange>
  /** A stale stage that works in steps and was interrupted: the progress saved under its key (not yet checked). */
  readonly partial?: { readonly unit: string; readonly step: number; readonly total: number; readonly savedAt: string }
}

/**
 * Says, without running anything, which instances a `cairn run` would rerun and why: each stale
 * instance's key is computed as a run would and compared field by field with the key it had in the
 * last run of this pipeline.
 */
export const pipelineStatus = (plan: Plan): Effect.Effect<ReadonlyArray<InstanceStatus>, never, Cache | RunHistory> =>
  Effect.gen(function* () {
    const store = yield* Cache
    const resolved = new Map<string, Resolved>()
    const stale = new Set<string>()
    const out: Array<InstanceStatus> = []
    const exports = yield* Effect.either(stageExportsOf(plan))
    for (const inst of plan.instances) {
      const st = Either.isLeft(exports) ? undefined : yield* Effect.either(statusOf(plan, inst, resolved, stale, exports.right))
      const s: InstanceStatus =
        st && Either.isRight(st)
          ? st.right
          : { id: inst.id, state: "stale", key: undefined, reasons: [describeError(st ? st.left : Either.isLeft(exports) ? exports.left : "")], changes: [] }
      if (s.state === "stale") stale.add(inst.id)
      out.push(s)
    }
    yield* Effect.orElse(store.saveMemos(), () => Effect.void)
    return out
  })

const statusOf = (plan: Plan, inst: Instance, resolved: Map<string, Resolved>, stale: ReadonlySet<string>, exports: StageExports) =>
  Effect.gen(function* () {
    const store = yield* Cache
    const last = yield* (yield* RunHistory).readState(plan.pipeline.name, inst.id)
    if (inst.stage.source) {
      const src = yield* resolveSource(store, inst)
      resolved.set(inst.id, src.resolved)
      const key = src.resolved.key
      if (!last) return { id: inst.id, state: "stale" as const, key, reasons: ["never hashed"], changes: [] }
      if (last.key === key) return { id: inst.id, state: "fresh" as const, key, reasons: [], changes: [] }
      const before = last.manifest ?? {}
      const changed: Array<string> = []
      for (const [f, h] of Object.entries(src.manifest)) if (before[f] !== h) changed.push(`${f} (${before[f] ? "modified" : "added"})`)
      for (const f of Object.keys(before)) if (!(f in src.manifest)) changed.push(`${f} (removed)`)
      const shown = changed.slice(0, 10).join(", ") + (changed.length > 10 ? `, and ${changed.length - 10} more` : "")
      return { id: inst.id, state: "stale" as const, key, reasons: [`data changed: ${shown}`], changes: [] }
    }
    const k = yield* instanceKey(store, inst, resolved, exports)
    if (!inst.stage.cache) {
      return { id: inst.id, state: "stale" as const, key: k.key, reasons: ["not cached (cache: false): runs on every cairn run"], changes: [] }
    }
    const staleUp = Object.values(inst.inputs)
      .flatMap((r) => (r.kind === "one" ? [r.id] : r.ids))
      .filter((id) => stale.has(id))
    if (staleUp.length === 0) {
      const hit = yield* Effect.orElseSucceed(store.lookup(k.key), () => undefined)
      if (hit) {
        resolved.set(inst.id, resolvedFromRecord(inst.id, hit))
        return { id: inst.id, state: "fresh" as const, key: k.key, reasons: [], changes: [] }
      }
    }
    const reasons: Array<string> = []
    let changes: ReadonlyArray<KeyChange> = []
    if (staleUp.length > 0) reasons.push(`upstream stale: ${staleUp.join(", ")}`)
    if (!last?.fields) {
      reasons.push("never run in this pipeline")
    } else {
      changes = diffKeys({ record: last.fields, codeFiles: last.codeFiles }, { record: k.record, codeFiles: k.codeFiles }).filter(
        // An input whose upstream is stale is already explained by "upstream stale".
        (c) => !(c.field === "input" && JSON.stringify(k.record.inputs[c.name]).includes(UNKNOWN_INPUT)),
      )
      reasons.push(...changes.map(describeChange))
      if (reasons.length === 0) reasons.push("its last result is no longer in the cache (or was found damaged)")
    }
    // Its key is known and was interrupted with progress saved: a run continues from there.
    const saved = staleUp.length > 0 ? undefined : yield* store.progress.peek(k.key)
    if (saved === undefined) return { id: inst.id, state: "stale" as const, key: staleUp.length > 0 ? undefined : k.key, reasons, changes }
    const partial = { unit: saved.unit, step: saved.step, total: saved.total, savedAt: saved.savedAt }
    reasons.unshift(`partial: ${saved.unit} ${saved.step}/${saved.total}, saved ${agoText(saved.savedAt)}`)
    return { id: inst.id, state: "stale" as const, key: k.key, reasons, changes, partial }
  })
