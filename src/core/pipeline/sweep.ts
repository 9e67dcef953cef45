/**
 * Sweeps: one pipeline planned for several param sets (`--sweep lr=1e-3,3e-4 --sweep img_size=64,128`,
 * a cross product, or `--sweep-file`), all as ONE plan. Each variant is planned as a single run of
 * it would be; instances that are the same in several variants (same stage, params, fan-out
 * coordinates and inputs, so the same cache key: the data stages) are planned once, and the others
 * once per variant under `v<k>/` ids, so every variant's stages are scheduled together.
 */
import { Effect, Either } from "effect"
import { canonicalJson } from "../canonical.js"
import { ConfigError, type ParamError } from "../errors.js"
import type { Pipeline } from "./dsl.js"
import { type ParamOverride, parseOverride, writtenName } from "./params.js"
import { planPipeline } from "./plan.js"
import type { InputRef, Instance, Plan } from "./plan-types.js"

/** One `--sweep name=v1,v2,...`: the param as written (`lr`, `train.lr`) and its values as written. */
export interface SweepAxis {
  readonly param: string
  readonly values: ReadonlyArray<string>
}

/** One param set of a sweep: its name (`v1`...) and its values, by param as written, as `--param` takes them. */
export interface SweepVariant {
  readonly name: string
  readonly values: Readonly<Record<string, string>>
}

/** A variant planned: its own plan (ids as a single run has them), and where each instance went in the sweep's plan. */
export interface PlannedVariant {
  readonly variant: SweepVariant
  readonly plan: Plan
  /** Its instance id -> the id of that instance in the sweep's plan. */
  readonly idInSweep: ReadonlyMap<string, string>
}

export interface SweepPlan {
  /** Every variant's instances as one DAG, shared instances once. */
  readonly plan: Plan
  readonly variants: ReadonlyArray<PlannedVariant>
}

/** `train.lr=1e-3,3e-4` as `lr` over two values, as written: bad text says what is wrong with it. */
export const parseSweepAxis = (text: string): Either.Either<SweepAxis, ConfigError> => {
  const flag = `--sweep ${text}`
  const o = parseOverride(text)
  if (Either.isLeft(o)) return Either.left(new ConfigError({ file: flag, detail: "expected name=v1,v2,... or stage.name=v1,v2,..." }))
  const values = splitTopLevel(o.right.raw)
  if (values.some((v) => v === "")) return Either.left(new ConfigError({ file: flag, detail: "an empty value (two commas, or one at an end)" }))
  const seen = new Set<string>()
  for (const v of values) {
    if (seen.has(v)) return Either.left(new ConfigError({ file: flag, detail: `value ${v} appears twice` }))
    seen.add(v)
  }
  return Either.right({ param: writtenName(o.right), values })
}

/** Splits on commas outside brackets and quotes, so a JSON list or string can be one value. */
const splitTopLevel = (raw: string): Array<string> => {
  const out: Array<string> = []
  let depth = 0
  let quoted = false
  let start = 0
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]
    if (quoted) {
      if (c === "\\") i++
      else if (c === '"') quoted = false
    } else if (c === '"') quoted = true
    else if (c === "[" || c === "{") depth++
    else if (c === "]" || c === "}") depth--
    else if (c === "," && depth === 0) {
      out.push(raw.slice(start, i).trim())
      start = i + 1
    }
  }
  out.push(raw.slice(start).trim())
  return out
}

/** A value of a param set from a sweep file, as `--param` would take it (strings as they are, the rest as JSON). */
const asRaw = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v))

/**
 * The param sets a sweep file gives (a list of objects, param as written -> value), checked: `file`
 * names the file in errors.
 */
export const paramSets = (file: string, list: unknown): Either.Either<Array<Record<string, string>>, ConfigError> => {
  if (!Array.isArray(list) || list.length === 0) {
    return Either.left(new ConfigError({ file, detail: 'must hold a non-empty list of param sets (objects like {"lr": 0.001})' }))
  }
  const sets: Array<Record<string, string>> = []
  for (const [i, set] of list.entries()) {
    if (typeof set !== "object" || set === null || Array.isArray(set))
      return Either.left(new ConfigError({ file, detail: `entry ${i} is not an object of params` }))
    const out: Record<string, string> = {}
    for (const [name, value] of Object.entries(set as Record<string, unknown>)) {
      if (value === undefined || typeof value === "function")
        return Either.left(new ConfigError({ file, detail: `entry ${i}: ${name} has no value a param can take` }))
      out[name] = asRaw(value)
    }
    sets.push(out)
  }
  return Either.right(sets)
}

/** The variants: every param set (one empty set without a file) crossed with every axis' values, first axis slowest. */
export const sweepVariants = (sets: ReadonlyArray<Readonly<Record<string, string>>>, axes: ReadonlyArray<SweepAxis>): Array<SweepVariant> => {
  let combos: Array<Record<string, string>> = (sets.length > 0 ? sets : [{}]).map((s) => ({ ...s }))
  for (const axis of axes) combos = combos.flatMap((c) => axis.values.map((v) => ({ ...c, [axis.param]: v })))
  return combos.map((values, i) => ({ name: `v${i + 1}`, values }))
}

/** `lr=0.001 epochs=2`: a variant's values as typed. */
export const variantLabel = (v: SweepVariant): string =>
  Object.entries(v.values)
    .map(([k, x]) => `${k}=${x}`)
    .join(" ")

/** The `--param` text of an override. */
const overrideText = (o: ParamOverride) => `${writtenName(o)}=${o.raw}`

/**
 * Plans every variant (the run's `--param`s, then the variant's values) and merges them into one
 * plan: an instance whose stage, params, coordinates and inputs are those of one already planned is
 * that one (its key will be the same), so the data stages are planned, and run, once.
 */
export const planSweep = (
  pipeline: Pipeline,
  base: ReadonlyArray<ParamOverride>,
  variants: ReadonlyArray<SweepVariant>,
): Effect.Effect<SweepPlan, ConfigError> =>
  Effect.gen(function* () {
    const planned: Array<{ variant: SweepVariant; plan: Plan; params: Array<string> }> = []
    for (const variant of variants) {
      const own: Array<ParamOverride> = []
      for (const [name, raw] of Object.entries(variant.values)) {
        const o = parseOverride(`${name}=${raw}`)
        if (Either.isLeft(o)) return yield* new ConfigError({ file: "--sweep", detail: `variant ${variant.name}: ${o.left.message}` })
        own.push(o.right)
      }
      const overrides = [...base, ...own]
      const plan = yield* Effect.catchTag(planPipeline(pipeline, overrides), "ParamError", (e: ParamError) =>
        Effect.fail(
          new ConfigError({ file: "--sweep", detail: `variant ${variant.name} (${variantLabel(variant)}): ${e.param}=${e.value ?? ""}: ${e.detail}` }),
        ),
      )
      planned.push({ variant, plan, params: overrides.map(overrideText) })
    }
    return mergePlans(planned)
  })

/** An instance's identity apart from its id: what its key is made of, its inputs by their merged slot. */
const signature = (inst: Instance, inputs: Readonly<Record<string, InputRef>>): string =>
  JSON.stringify([inst.stage.name, inst.fan, Either.getOrElse(canonicalJson(inst.encodedParams), () => JSON.stringify(inst.encodedParams)), inputs])

const mapRef = (ref: InputRef, to: (id: string) => string): InputRef =>
  ref.kind === "one" ? { kind: "one", id: to(ref.id) } : { kind: "all", ids: ref.ids.map(to) }

/** Merges the variants' plans (see planSweep): shared instances keep their id, the others get `v<k>/` of the first variant that has them. */
const mergePlans = (planned: ReadonlyArray<{ variant: SweepVariant; plan: Plan; params: ReadonlyArray<string> }>): SweepPlan => {
  // First pass: slots by signature, in a topological order (each variant's plan is one).
  const slots: Array<{ inst: Instance; inputs: Record<string, InputRef>; users: Set<number>; params: ReadonlyArray<string> }> = []
  const slotOf = new Map<string, number>()
  const slotIn = planned.map(() => new Map<string, number>())
  planned.forEach(({ plan, params }, v) => {
    for (const inst of plan.instances) {
      const inputs = Object.fromEntries(Object.entries(inst.inputs).map(([k, ref]) => [k, mapRef(ref, (id) => String(slotIn[v]!.get(id)!))]))
      const sig = signature(inst, inputs)
      let slot = slotOf.get(sig)
      if (slot === undefined) {
        slot = slots.length
        slots.push({ inst, inputs, users: new Set(), params })
        slotOf.set(sig, slot)
      }
      slots[slot]!.users.add(v)
      slotIn[v]!.set(inst.id, slot)
    }
  })
  // Second pass: ids.
  const idOf = slots.map((s) => (s.users.size === planned.length ? s.inst.id : `${planned[Math.min(...s.users)]!.variant.name}/${s.inst.id}`))
  const instances: Array<Instance> = slots.map((s, i) => ({
    ...s.inst,
    id: idOf[i]!,
    inputs: Object.fromEntries(Object.entries(s.inputs).map(([k, ref]) => [k, mapRef(ref, (slot) => idOf[Number(slot)]!)])),
    origin: { id: s.inst.id, params: s.params },
  }))
  const first = planned[0]!.plan
  return {
    plan: { pipeline: first.pipeline, instances, byId: new Map(instances.map((i) => [i.id, i])), globals: first.globals },
    variants: planned.map(({ variant, plan }, v) => ({ variant, plan, idInSweep: new Map([...slotIn[v]!].map(([id, slot]) => [id, idOf[slot]!])) })),
  }
}
