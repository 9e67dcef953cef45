/**
 * The planner: expands a pipeline into its stage instances in topological order, with every
 * instance's params decoded and its inputs wired, failing on any mistake before anything runs.
 */
import { Effect, Either } from "effect"
import { ConfigError, ParamError } from "../errors.js"
import type { AnyStage, InputSpec, Slot } from "../stage.js"
import { type FanOut, type FanValue, type Pipeline, pipelineFanParam } from "./dsl.js"
import { fanId, fanValues, product } from "./fan-values.js"
import { cliValue, decodeParams, type ParamOverride, paramNames } from "./params.js"
import type { FanPoint, InputRef, Instance, Plan } from "./plan-types.js"

/**
 * Expands a pipeline into its stage instances in topological order, with every instance's params
 * decoded by its stage's schema. Unknown params and bad values fail here, before anything runs.
 */
export const planPipeline = (pipeline: Pipeline, overrides: ReadonlyArray<ParamOverride>): Effect.Effect<Plan, ConfigError | ParamError> =>
  Effect.gen(function* () {
    const bindings = new Map<Slot<any>, AnyStage>((pipeline.bind ?? []).map((b) => [b.slot, b.stage]))
    const stages = yield* collectStages(pipeline, bindings)
    yield* checkParamNames(pipeline, stages, overrides)
    const valuesOf = fanValuesOnce(pipeline, overrides)
    yield* checkFanOverrides(pipeline, overrides, valuesOf)
    const globals: Record<string, unknown> = { ...pipeline.params }
    for (const o of overrides) if (o.stage === null) globals[o.name] = cliValue(o.raw)
    const instances = yield* expandInstances(pipeline, stages.order, bindings, overrides, valuesOf)
    // Keep what the requested outputs (the targets and what is published) need: an instance that
    // only inputs turned off by their consumers' params lead to is not planned (nor checked, nor run).
    const needed = neededInstances(instances, [...pipeline.stages.map((t) => (t._tag === "AllOf" ? t.stage : t)), ...Object.values(pipeline.publish ?? {})])
    const kept = instances.filter((i) => needed.has(i.id))
    return { pipeline, instances: kept, byId: new Map(kept.map((i) => [i.id, i])), globals }
  })

/** The stages a pipeline reaches from its targets, inputs before consumers, and each by name. */
interface ReachedStages {
  readonly order: ReadonlyArray<AnyStage>
  readonly byName: ReadonlyMap<string, AnyStage>
}

/** The stage an input comes from: itself, the stage of an `allOf`, or the stage bound to a slot. */
const inputStage = (spec: InputSpec, bindings: ReadonlyMap<Slot<any>, AnyStage>, file: string, consumer: string): Either.Either<AnyStage, ConfigError> => {
  if (spec._tag === "When") return inputStage(spec.input, bindings, file, consumer)
  if (spec._tag === "Stage") return Either.right(spec)
  if (spec._tag === "AllOf") return Either.right(spec.stage)
  const bound = bindings.get(spec)
  return bound
    ? Either.right(bound)
    : Either.left(new ConfigError({ file, detail: `stage ${consumer} needs slot "${spec.name}", which the pipeline does not bind` }))
}

/** The stages reachable from the targets, depth first, inputs before consumers; a cycle or a name used twice fails. */
const collectStages = (pipeline: Pipeline, bindings: ReadonlyMap<Slot<any>, AnyStage>): Either.Either<ReachedStages, ConfigError> => {
  const file = pipeline.file
  const order: Array<AnyStage> = []
  const state = new Map<AnyStage, "visiting" | "done">()
  const byName = new Map<string, AnyStage>()
  const visit = (stage: AnyStage, trail: ReadonlyArray<string>): Either.Either<void, ConfigError> => {
    const s = state.get(stage)
    if (s === "done") return Either.right(undefined)
    if (s === "visiting") {
      return Either.left(new ConfigError({ file, detail: `cycle: ${[...trail, stage.name].join(" -> ")}` }))
    }
    const other = byName.get(stage.name)
    if (other && other !== stage) {
      return Either.left(new ConfigError({ file, detail: `two different stages are named "${stage.name}"` }))
    }
    byName.set(stage.name, stage)
    state.set(stage, "visiting")
    for (const spec of Object.values(stage.inputs as Record<string, InputSpec>)) {
      const up = inputStage(spec, bindings, file, stage.name)
      if (Either.isLeft(up)) return up
      const r = visit(up.right, [...trail, stage.name])
      if (Either.isLeft(r)) return r
    }
    state.set(stage, "done")
    order.push(stage)
    return Either.right(undefined)
  }
  for (const target of pipeline.stages) {
    const r = visit(target._tag === "AllOf" ? target.stage : target, [])
    if (Either.isLeft(r)) return Either.left(r.left)
  }
  return Either.right({ order, byName })
}

/** Pipeline defaults, stage defaults and overrides must each name a param some stage (or the pipeline's fan-out) declares. */
const checkParamNames = (
  pipeline: Pipeline,
  { order, byName }: ReachedStages,
  overrides: ReadonlyArray<ParamOverride>,
): Effect.Effect<void, ConfigError | ParamError> =>
  Effect.gen(function* () {
    const file = pipeline.file
    const declared = new Map<string, Set<string>>() // param -> stage names
    for (const stage of order) {
      for (const p of paramNames(stage)) {
        if (!declared.has(p)) declared.set(p, new Set())
        declared.get(p)!.add(stage.name)
      }
    }
    for (const f of pipeline.fanOut ?? []) {
      const name = pipelineFanParam(f)?.name
      if (name !== undefined) declared.set(name, new Set([`the pipeline's fan-out`]))
    }
    for (const k of Object.keys(pipeline.params ?? {})) {
      if (!declared.has(k)) yield* new ConfigError({ file, detail: `params.${k}: no stage of the pipeline declares "${k}"` })
    }
    for (const [stageName, values] of Object.entries(pipeline.stageParams ?? {})) {
      const stage = byName.get(stageName)
      if (!stage) yield* new ConfigError({ file, detail: `stageParams.${stageName}: no such stage in the pipeline` })
      for (const k of Object.keys(values)) {
        if (!paramNames(stage!).includes(k)) {
          yield* new ConfigError({ file, detail: `stageParams.${stageName}.${k}: stage ${stageName} declares no param "${k}"` })
        }
      }
    }
    for (const o of overrides) {
      if (o.stage === null) {
        if (!declared.has(o.name)) {
          yield* new ParamError({
            param: o.name,
            value: o.raw,
            detail: `no stage of pipeline ${pipeline.name} declares it (known: ${[...declared.keys()].sort().join(", ")})`,
          })
        }
      } else {
        const stage = byName.get(o.stage)
        if (!stage) {
          yield* new ParamError({ param: `${o.stage}.${o.name}`, value: o.raw, detail: `no stage named ${o.stage} in pipeline ${pipeline.name}` })
        } else if (!paramNames(stage).includes(o.name)) {
          yield* new ParamError({
            param: `${o.stage}.${o.name}`,
            value: o.raw,
            detail: `stage ${o.stage} declares no param "${o.name}" (it has: ${paramNames(stage).join(", ") || "none"})`,
          })
        }
      }
    }
  })

type FanValuesOf = (f: FanOut) => Effect.Effect<ReadonlyArray<FanValue> | undefined, ConfigError | ParamError>

/** Each fan-out's values, decoded once (the override check and the expansion both need them). */
const fanValuesOnce = (pipeline: Pipeline, overrides: ReadonlyArray<ParamOverride>): FanValuesOf => {
  const decoded = new Map<FanOut, ReadonlyArray<FanValue> | undefined>()
  return (f) => (decoded.has(f) ? Effect.succeed(decoded.get(f)) : Effect.tap(fanValues(pipeline, f, overrides), (v) => Effect.sync(() => decoded.set(f, v))))
}

/** A `--param` may not set a fan-out's param: the pipeline sets it per instance. */
const checkFanOverrides = (pipeline: Pipeline, overrides: ReadonlyArray<ParamOverride>, valuesOf: FanValuesOf): Effect.Effect<void, ConfigError | ParamError> =>
  Effect.gen(function* () {
    for (const f of pipeline.fanOut ?? []) {
      const o = overrides.find((x) => x.name === f.param && (x.stage === null || x.stage === f.stage.name))
      // A fan-out over an unset pipeline-level param (no `seeds`) leaves its param to the user.
      const active = o !== undefined && (yield* valuesOf(f)) !== undefined
      if (o && active && (o.stage !== null || paramNames(f.stage).includes(o.name))) {
        yield* new ParamError({
          param: o.stage ? `${o.stage}.${o.name}` : o.name,
          value: o.raw,
          detail: `"${f.param}" is the fan-out param of stage ${f.stage.name}: the pipeline sets it per instance`,
        })
      }
    }
  })

/** The instances made of each stage so far, with their fan-out coordinates. */
type MadeInstances = Map<AnyStage, ReadonlyArray<{ readonly id: string; readonly fan: Instance["fan"] }>>

/** Every stage's instances (one per point of its fan-outs' product), params decoded and inputs wired, in `order`. */
const expandInstances = (
  pipeline: Pipeline,
  order: ReadonlyArray<AnyStage>,
  bindings: ReadonlyMap<Slot<any>, AnyStage>,
  overrides: ReadonlyArray<ParamOverride>,
  valuesOf: FanValuesOf,
): Effect.Effect<Array<Instance>, ConfigError | ParamError> =>
  Effect.gen(function* () {
    const instances: Array<Instance> = []
    const made: MadeInstances = new Map()
    for (const stage of order) {
      const names = paramNames(stage)
      const dims = yield* fanDimensions(pipeline, stage, names, valuesOf)
      const ofStage: Array<{ id: string; fan: Instance["fan"] }> = []
      for (const points of product(dims)) {
        const id = fanId(stage, points)
        const { decoded, encoded } = yield* decodeParams(pipeline, stage, names, overrides, points)
        const inputs = yield* wireInputs(pipeline, stage, decoded, points, bindings, made)
        instances.push({ id, stage, fan: points, params: decoded, encodedParams: encoded, inputs })
        ofStage.push({ id, fan: points })
      }
      made.set(stage, ofStage)
    }
    return instances
  })

/** The fan-out dimensions of `stage`: one per fan-out declared on it whose values are set. */
const fanDimensions = (
  pipeline: Pipeline,
  stage: AnyStage,
  names: ReadonlyArray<string>,
  valuesOf: FanValuesOf,
): Effect.Effect<Array<{ param: string; values: ReadonlyArray<FanValue> }>, ConfigError | ParamError> =>
  Effect.gen(function* () {
    const file = pipeline.file
    const dims: Array<{ param: string; values: ReadonlyArray<FanValue> }> = []
    for (const fan of (pipeline.fanOut ?? []).filter((f) => f.stage === stage)) {
      if (!names.includes(fan.param)) {
        yield* new ConfigError({ file, detail: `fanOut(${stage.name}, "${fan.param}"): the stage declares no param "${fan.param}"` })
      }
      if (dims.some((d) => d.param === fan.param)) yield* new ConfigError({ file, detail: `fanOut(${stage.name}, "${fan.param}") is declared twice` })
      const values = yield* valuesOf(fan)
      if (values === undefined) continue // an unset pipeline-level fan param: no such dimension
      if (values.length === 0) yield* new ConfigError({ file, detail: `fanOut(${stage.name}, "${fan.param}") has no values` })
      dims.push({ param: fan.param, values })
    }
    return dims
  })

/** One instance's inputs: which upstream instance (or, for `allOf`, instances) each comes from. */
const wireInputs = (
  pipeline: Pipeline,
  stage: AnyStage,
  decoded: unknown,
  points: ReadonlyArray<FanPoint>,
  bindings: ReadonlyMap<Slot<any>, AnyStage>,
  made: MadeInstances,
): Effect.Effect<Record<string, InputRef>, ConfigError> =>
  Effect.gen(function* () {
    const inputs: Record<string, InputRef> = {}
    for (const [name, given] of Object.entries(stage.inputs as Record<string, InputSpec>)) {
      // An input these params do not need is not wired (see `When`).
      if (given._tag === "When" && !given.needed(decoded)) continue
      const spec = given._tag === "When" ? given.input : given
      const up = Either.getOrThrow(inputStage(spec, bindings, pipeline.file, stage.name))
      const upIds = made.get(up)!
      if (spec._tag === "AllOf") {
        inputs[name] = { kind: "all", ids: upIds.map((u) => u.id) }
      } else if (upIds.length === 1) {
        inputs[name] = { kind: "one", id: upIds[0]!.id }
      } else {
        // The upstream instance at this instance's coordinates (it must have all of them).
        const match = upIds.filter((u) => u.fan.every((p) => points.some((q) => q.param === p.param && q.value === p.value)))
        if (match.length !== 1) {
          yield* new ConfigError({
            file: pipeline.file,
            detail: `stage ${stage.name} takes input "${name}" from fanned-out stage ${up.name}: use allOf(${up.name})`,
          })
        }
        inputs[name] = { kind: "one", id: match[0]!.id }
      }
    }
    return inputs
  })

/** Ids of the instances of `roots` and of every instance they take an input from, transitively. */
const neededInstances = (instances: ReadonlyArray<Instance>, roots: ReadonlyArray<AnyStage>): ReadonlySet<string> => {
  const byId = new Map(instances.map((i) => [i.id, i]))
  const out = new Set<string>()
  const stack = instances.filter((i) => roots.includes(i.stage)).map((i) => i.id)
  while (stack.length > 0) {
    const id = stack.pop()!
    if (out.has(id)) continue
    out.add(id)
    for (const ref of Object.values(byId.get(id)!.inputs)) stack.push(...(ref.kind === "one" ? [ref.id] : ref.ids))
  }
  return out
}
