/** Questions asked of a plan after planning: its effective params, a restriction to targets, what lies downstream. */
import { Either } from "effect"
import type { Json } from "../canonical.js"
import { ConfigError } from "../errors.js"
import { pipelineFanParam } from "./dsl.js"
import type { Plan } from "./plan-types.js"

/**
 * Every param that reached a stage, as the run's record of what it computed with (for `cairn runs`
 * and `cairn diff`): `name: value` where every stage declaring it got the same value, else
 * `stage.name: value` per stage (a stage-scoped override); fan-out coordinates are left out (they
 * are the instances' ids), pipeline-level fan params (`seeds`) are kept as given.
 */
export const effectiveParams = (plan: Plan): Record<string, Json> => {
  const byParam = new Map<string, Map<string, Json>>()
  for (const inst of plan.instances) {
    const fanned = new Set(inst.fan.map((p) => p.param))
    for (const [name, value] of Object.entries(inst.encodedParams as Record<string, Json>)) {
      if (fanned.has(name)) continue
      const perStage = byParam.get(name) ?? new Map<string, Json>()
      perStage.set(inst.stage.name, value)
      byParam.set(name, perStage)
    }
  }
  const out: Record<string, Json> = {}
  for (const [name, perStage] of [...byParam].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const values = [...perStage.values()]
    const same = values.every((v) => JSON.stringify(v) === JSON.stringify(values[0]))
    if (same) out[name] = values[0]!
    else for (const [stage, v] of perStage) out[`${stage}.${name}`] = v
  }
  for (const f of plan.pipeline.fanOut ?? []) {
    const name = pipelineFanParam(f)?.name
    const given = name === undefined ? undefined : plan.globals[name]
    if (name !== undefined && given !== undefined && given !== "") out[name] = given as Json
  }
  return out
}

/**
 * The error for stage names (or instance ids) that name nothing in the plan, or undefined when all
 * do: `flag` (`--target`, `--force`) says which option named them, `where` what the plan is.
 */
export const unknownStages = (plan: Plan, names: ReadonlyArray<string>, flag?: string, where = `pipeline ${plan.pipeline.name}`): ConfigError | undefined => {
  const unknown = names.find((t) => !plan.instances.some((i) => i.id === t || i.stage.name === t))
  if (unknown === undefined) return undefined
  return new ConfigError({
    file: plan.pipeline.file,
    detail: `${flag ? `${flag} ${unknown}: ` : ""}no stage "${unknown}" in ${where} (stages: ${plan.instances.map((i) => i.id).join(", ")})`,
  })
}

/** Instances needed for `targets` (stage names or instance ids): the targets and their ancestors. */
export const restrictPlan = (plan: Plan, targets: ReadonlyArray<string>, flag?: string): Either.Either<Plan, ConfigError> => {
  if (targets.length === 0) return Either.right(plan)
  const unknown = unknownStages(plan, targets, flag)
  if (unknown) return Either.left(unknown)
  const keep = new Set<string>()
  const stack: Array<string> = plan.instances.filter((i) => targets.includes(i.id) || targets.includes(i.stage.name)).map((i) => i.id)
  while (stack.length > 0) {
    const id = stack.pop()!
    if (keep.has(id)) continue
    keep.add(id)
    for (const ref of Object.values(plan.byId.get(id)!.inputs)) {
      if (ref.kind === "one") stack.push(ref.id)
      else stack.push(...ref.ids)
    }
  }
  const instances = plan.instances.filter((i) => keep.has(i.id))
  return Either.right({ ...plan, instances, byId: new Map(instances.map((i) => [i.id, i])) })
}

/** Ids of the instances that consume `id`, transitively. */
export const downstreamOf = (plan: Plan, id: string): ReadonlySet<string> => {
  const out = new Set<string>()
  let frontier = new Set([id])
  while (frontier.size > 0) {
    const next = new Set<string>()
    for (const inst of plan.instances) {
      if (out.has(inst.id)) continue
      const refs = Object.values(inst.inputs).flatMap((r) => (r.kind === "one" ? [r.id] : r.ids))
      if (refs.some((r) => frontier.has(r))) {
        out.add(inst.id)
        next.add(inst.id)
      }
    }
    frontier = next
  }
  return out
}
