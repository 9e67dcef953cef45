import { Effect, Either, ParseResult, Schema, SchemaAST } from "effect"
import type { Json } from "./canonical.js"
import { canonicalJson } from "./canonical.js"
import { ConfigError, ParamError } from "./errors.js"
import { pathName, schemaProblem, shownValue } from "./schema-problem.js"
import { type AllOf, type AnyStage, type Artifact, callerFile, type InputSpec, type Slot, type Stage } from "./stage.js"

type FanValue = string | number

/** The params a stage's `run` sees. */
export type ParamsOf<S> = S extends Stage<string, infer P, any, any> ? P : never

/**
 * Where a fan-out's values come from: a fixed list, or a typed param of a stage (decoded by that
 * stage's schema with the pipeline's defaults and `--param` overrides, stage-scoped ones included),
 * so a bad or changed width fails or re-plans before anything runs.
 */
export type FanValues = ReadonlyArray<FanValue> | FanFromParam | FanFromPipelineParam

export interface FanFromParam {
  readonly _tag: "FromParam"
  readonly stage: AnyStage
  readonly param: string
  readonly values: (value: any) => ReadonlyArray<FanValue>
}

/**
 * Fan-out values from a param of the pipeline itself (no stage declares it, so it enters no key):
 * `--param seeds=1086,1,2`. Decoded by `schema`; unset, the stage is not fanned out on it.
 */
export interface FanFromPipelineParam {
  readonly _tag: "FromPipelineParam"
  readonly name: string
  readonly decode: (input: unknown) => Either.Either<ReadonlyArray<FanValue>, ParseResult.ParseError>
}

/** One stage run once per value of one of its params (`train/fold-0` ... `train/fold-4`). */
export interface FanOut {
  readonly stage: AnyStage
  readonly param: string
  readonly values: FanValues
}

/** Fan-out values computed from `stage`'s decoded param `param` (e.g. `n_folds` -> 0..n-1). */
export const fromParam = <S extends AnyStage, K extends keyof ParamsOf<S> & string>(
  stage: S,
  param: K,
  values: (value: ParamsOf<S>[K]) => ReadonlyArray<FanValue>,
): FanFromParam => ({ _tag: "FromParam", stage, param, values })

/** The pipeline-level param a fan-out takes its values from, when it takes them from one. */
const pipelineFanParam = (f: FanOut): FanFromPipelineParam | undefined =>
  !Array.isArray(f.values) && (f.values as FanFromParam | FanFromPipelineParam)._tag === "FromPipelineParam" ? (f.values as FanFromPipelineParam) : undefined

/** Fan-out values from the pipeline-level param `name` (see FanFromPipelineParam). */
export const fromPipelineParam = <V extends FanValue>(name: string, schema: Schema.Schema<ReadonlyArray<V>, any, never>): FanFromPipelineParam => ({
  _tag: "FromPipelineParam",
  name,
  decode: Schema.decodeUnknownEither(schema),
})

/** A list of integers given as `1,2,3` on the command line (or a number, or a JSON array). */
export const IntList: Schema.Schema<ReadonlyArray<number>, unknown, never> = Schema.transformOrFail(Schema.Unknown, Schema.Array(Schema.Int), {
  strict: true,
  decode: (input, _, ast) => {
    const items =
      typeof input === "number" ? [input] : Array.isArray(input) ? input : typeof input === "string" ? input.split(",").map((x) => x.trim()).filter((x) => x !== "") : undefined
    // Text items are numbers only when they read as one: `a,b` is no list of integers (Number("a") is NaN).
    const numbers = items?.map((x) => (typeof x === "string" && /^[-+]?\d+$/.test(x) ? Number(x) : x))
    return numbers === undefined || numbers.some((x) => typeof x === "string")
      ? ParseResult.fail(new ParseResult.Type(ast, input))
      : ParseResult.succeed(numbers)
  },
  encode: (list) => ParseResult.succeed(list.join(",")),
}).annotations({ description: "a list of integers like 1,2,3" })

/** 0, 1, ..., n-1: the usual fan-out over a count. */
export const range = (n: number): ReadonlyArray<number> => Array.from({ length: n }, (_, i) => i)

export interface Binding {
  readonly slot: Slot<any>
  readonly stage: AnyStage
}

export interface PipelineDefinition {
  readonly name: string
  readonly description?: string
  /** The stages to produce; everything they depend on is included. */
  readonly stages: ReadonlyArray<AnyStage | AllOf<AnyStage>>
  readonly bind?: ReadonlyArray<Binding>
  readonly fanOut?: ReadonlyArray<FanOut>
  /** Default values for params, by name: every stage that declares the name receives it. */
  readonly params?: Readonly<Record<string, unknown>>
  /** Default values for one stage's params, by stage name (they win over `params`). */
  readonly stageParams?: Readonly<Record<string, Readonly<Record<string, unknown>>>>
  /**
   * Artifacts copied out of the store after a successful run, by destination folder relative to the
   * project root (e.g. `{ "out/quick/submission": infer }`): the files a user opens.
   */
  readonly publish?: Readonly<Record<string, AnyStage>>
  /**
   * Runs after every successful `cairn run` of the whole pipeline, also when everything was cached
   * (a report of the run, say): `write` receives the run and a folder, relative to the project root,
   * that it owns.
   */
  readonly afterRun?: AfterRun
  /** The metrics `cairn run` prints at the end (names or patterns; default: all). All go to `--json`. */
  readonly printMetrics?: ReadonlyArray<string | RegExp>
}

/** What an `afterRun` hook sees of a run. */
export interface RunInfo {
  readonly pipeline: string
  readonly startedAt: string
  readonly seconds: number
  readonly params: Readonly<Record<string, unknown>>
  /**
   * Each stage's outcome in this run (`seconds`: this run's time for it) and, for a stored result,
   * when it was computed and how long that took (`computed`; for a cached stage, an earlier run).
   */
  readonly stages: ReadonlyArray<{
    readonly id: string
    readonly status: "ran" | "cached" | "failed" | "skipped"
    readonly seconds: number
    readonly computed?: { readonly at: string; readonly seconds: number }
  }>
  /** The run was replayed by the no-op fast path (nothing was loaded, nothing ran). */
  readonly replayed?: boolean
  readonly edges: ReadonlyArray<readonly [string, string]>
  /** Each instance's artifact, by instance id. */
  readonly artifacts: ReadonlyMap<string, Artifact<unknown>>
  /**
   * The artifacts of every instance of `stage` (one, or its fan-out instances), in plan order. Their
   * values are JSON from the store: decode them (a Schema) before trusting their shape.
   */
  readonly artifactsOf: (stage: AnyStage) => ReadonlyArray<Artifact<unknown>>
  /** The folder to write into (absolute, created empty). */
  readonly outDir: string
}

export interface AfterRun {
  readonly outDir: string
  readonly write: (run: RunInfo) => Effect.Effect<unknown, unknown>
}

export interface Pipeline extends PipelineDefinition {
  readonly _tag: "Pipeline"
  /** The pipeline's own file. */
  readonly file: string
}

export const definePipeline = (def: PipelineDefinition): Pipeline => {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(def.name)) throw new Error(`definePipeline: name "${def.name}" must be kebab-case`)
  return { _tag: "Pipeline", ...def, file: callerFile(["/src/core/pipeline.ts", "/src/core/pipeline.js"]) ?? "<pipeline>" }
}

export const fanOut = <S extends AnyStage>(stage: S, param: keyof ParamsOf<S> & string, values: FanValues): FanOut => ({ stage, param, values })

export const bind = <V>(slot: Slot<V>, stage: Stage<string, any, any, V>): Binding => ({ slot, stage })

/** One stage instance's wiring: a single upstream instance, or every instance of a fanned-out stage. */
export type InputRef =
  | { readonly kind: "one"; readonly id: string }
  | { readonly kind: "all"; readonly ids: ReadonlyArray<string> }

export interface Instance {
  readonly id: string
  readonly stage: AnyStage
  /** Its fan-out coordinates, one per fanned param, in declaration order (empty: not fanned out). */
  readonly fan: ReadonlyArray<FanPoint>
  /** Decoded params (what `run` sees). */
  readonly params: unknown
  /** Encoded params (what the key hashes). */
  readonly encodedParams: Json
  readonly inputs: Readonly<Record<string, InputRef>>
}

export interface Plan {
  readonly pipeline: Pipeline
  /** Topological order: every instance after its inputs. */
  readonly instances: ReadonlyArray<Instance>
  readonly byId: ReadonlyMap<string, Instance>
  /** Pipeline-level params after `--param` (for reports and `cairn runs`). */
  readonly globals: Readonly<Record<string, unknown>>
}

/** A `--param` as given on the command line. */
export interface ParamOverride {
  /** `null` for a global param, else the stage name of `stage.param=value`. */
  readonly stage: string | null
  readonly name: string
  readonly raw: string
}

export const parseOverride = (text: string): Either.Either<ParamOverride, ParamError> => {
  const eq = text.indexOf("=")
  if (eq <= 0) return Either.left(new ParamError({ param: text, value: undefined, detail: "expected k=v or stage.k=v" }))
  const lhs = text.slice(0, eq)
  const raw = text.slice(eq + 1)
  const dot = lhs.lastIndexOf(".")
  return Either.right(dot > 0 ? { stage: lhs.slice(0, dot), name: lhs.slice(dot + 1), raw } : { stage: null, name: lhs, raw })
}

/** Number spellings JSON lacks: read as numbers, so that a number param given one is told it must be finite. */
const NON_FINITE_TEXT: ReadonlyMap<string, number> = new Map([
  ["NaN", Number.NaN],
  ["Infinity", Number.POSITIVE_INFINITY],
  ["+Infinity", Number.POSITIVE_INFINITY],
  ["-Infinity", Number.NEGATIVE_INFINITY],
])

/**
 * A CLI value as JSON when it parses ("3", "1e-3", "true", "[1,2]"; "1e999" is Infinity), NaN and
 * Infinity as numbers, else the string itself.
 */
const cliValue = (raw: string): unknown => {
  const nonFinite = NON_FINITE_TEXT.get(raw)
  if (nonFinite !== undefined) return nonFinite
  try {
    return JSON.parse(raw)
  } catch (error) {
    if (error instanceof SyntaxError) return raw
    throw error
  }
}

/** `epochs` or `train.epochs`: the left side of a `--param` as the user wrote it. */
const writtenName = (o: ParamOverride): string => (o.stage === null ? o.name : `${o.stage}.${o.name}`)

/** Whether a param field's encoded schema takes numbers (so a non-finite one is a number that cannot be hashed). */
const takesNumbers = (ast: SchemaAST.AST): boolean => {
  switch (ast._tag) {
    case "NumberKeyword":
      return true
    case "Literal":
      return typeof ast.literal === "number"
    case "Union":
      return ast.types.some(takesNumbers)
    case "Refinement":
    case "Transformation":
      return takesNumbers(ast.from)
    default:
      return false
  }
}

/** The names of the params a stage declares. */
export const paramNames = (stage: AnyStage): ReadonlyArray<string> =>
  SchemaAST.getPropertySignatures(stage.params.ast).map((p) => String(p.name))

const inputStage = (spec: InputSpec, bindings: ReadonlyMap<Slot<any>, AnyStage>, file: string, consumer: string): Either.Either<AnyStage, ConfigError> => {
  if (spec._tag === "When") return inputStage(spec.input, bindings, file, consumer)
  if (spec._tag === "Stage") return Either.right(spec)
  if (spec._tag === "AllOf") return Either.right(spec.stage)
  const bound = bindings.get(spec)
  return bound
    ? Either.right(bound)
    : Either.left(new ConfigError({ file, detail: `stage ${consumer} needs slot "${spec.name}", which the pipeline does not bind` }))
}

/** One coordinate of a fanned-out instance: `fold-3`. */
export interface FanPoint {
  readonly param: string
  readonly value: FanValue
}

const fanId = (stage: AnyStage, points: ReadonlyArray<FanPoint>) => [stage.name, ...points.map((p) => `${p.param}-${p.value}`)].join("/")

/** Every combination of the dimensions' values, the first dimension varying slowest. */
const product = (dims: ReadonlyArray<{ param: string; values: ReadonlyArray<FanValue> }>): Array<Array<FanPoint>> =>
  dims.reduce<Array<Array<FanPoint>>>((acc, d) => acc.flatMap((pts) => d.values.map((value) => [...pts, { param: d.param, value }])), [[]])

/**
 * Expands a pipeline into its stage instances in topological order, with every instance's params
 * decoded by its stage's schema. Unknown params and bad values fail here, before anything runs.
 */
export const planPipeline = (
  pipeline: Pipeline,
  overrides: ReadonlyArray<ParamOverride>,
): Effect.Effect<Plan, ConfigError | ParamError> =>
  Effect.gen(function* () {
    const file = pipeline.file
    const bindings = new Map<Slot<any>, AnyStage>((pipeline.bind ?? []).map((b) => [b.slot, b.stage]))
    const fans = new Map<AnyStage, Array<FanOut>>()
    for (const f of pipeline.fanOut ?? []) fans.set(f.stage, [...(fans.get(f.stage) ?? []), f])
    const pipelineParams = new Set((pipeline.fanOut ?? []).flatMap((f) => pipelineFanParam(f)?.name ?? []))

    // 1. Collect the stages reachable from the targets, depth first, inputs before consumers.
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
      yield* visit(target._tag === "AllOf" ? target.stage : target, [])
    }

    // 2. Check param names: pipeline defaults and overrides must each be declared by some stage.
    const declared = new Map<string, Set<string>>() // param -> stage names
    for (const stage of order) {
      for (const p of paramNames(stage)) {
        if (!declared.has(p)) declared.set(p, new Set())
        declared.get(p)!.add(stage.name)
      }
    }
    for (const k of pipelineParams) declared.set(k, new Set([`the pipeline's fan-out`]))
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

    // Each fan-out's values, decoded once (the override check and the expansion both need them).
    const decodedFans = new Map<FanOut, ReadonlyArray<FanValue> | undefined>()
    const valuesOf = (f: FanOut) =>
      decodedFans.has(f) ? Effect.succeed(decodedFans.get(f)) : Effect.tap(fanValues(pipeline, f, overrides), (v) => Effect.sync(() => decodedFans.set(f, v)))
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
    const globals: Record<string, unknown> = { ...pipeline.params }
    for (const o of overrides) if (o.stage === null) globals[o.name] = cliValue(o.raw)

    // 3. Expand fan-outs and decode params per instance.
    const instances: Array<Instance> = []
    const idsOf = new Map<AnyStage, Array<{ id: string; fan: Instance["fan"] }>>()
    for (const stage of order) {
      const names = paramNames(stage)
      const dims: Array<{ param: string; values: ReadonlyArray<FanValue> }> = []
      for (const fan of fans.get(stage) ?? []) {
        if (!names.includes(fan.param)) {
          yield* new ConfigError({ file, detail: `fanOut(${stage.name}, "${fan.param}"): the stage declares no param "${fan.param}"` })
        }
        if (dims.some((d) => d.param === fan.param)) yield* new ConfigError({ file, detail: `fanOut(${stage.name}, "${fan.param}") is declared twice` })
        const values = yield* valuesOf(fan)
        if (values === undefined) continue // an unset pipeline-level fan param: no such dimension
        if (values.length === 0) yield* new ConfigError({ file, detail: `fanOut(${stage.name}, "${fan.param}") has no values` })
        dims.push({ param: fan.param, values })
      }
      const made: Array<{ id: string; fan: Instance["fan"] }> = []
      for (const points of product(dims)) {
        const id = fanId(stage, points)
        const { decoded, encoded } = yield* decodeParams(pipeline, stage, names, overrides, points)
        const inputs: Record<string, InputRef> = {}
        for (const [name, given] of Object.entries(stage.inputs as Record<string, InputSpec>)) {
          // An input these params do not need is not wired (see `When`).
          if (given._tag === "When" && !given.needed(decoded)) continue
          const spec = given._tag === "When" ? given.input : given
          const up = Either.getOrThrow(inputStage(spec, bindings, file, stage.name))
          const upIds = idsOf.get(up)!
          if (spec._tag === "AllOf") {
            inputs[name] = { kind: "all", ids: upIds.map((u) => u.id) }
          } else if (upIds.length === 1) {
            inputs[name] = { kind: "one", id: upIds[0]!.id }
          } else {
            // The upstream instance at this instance's coordinates (it must have all of them).
            const match = upIds.filter((u) => u.fan.every((p) => points.some((q) => q.param === p.param && q.value === p.value)))
            if (match.length !== 1) {
              yield* new ConfigError({
                file,
                detail: `stage ${stage.name} takes input "${name}" from fanned-out stage ${up.name}: use allOf(${up.name})`,
              })
            }
            inputs[name] = { kind: "one", id: match[0]!.id }
          }
        }
        instances.push({ id, stage, fan: points, params: decoded, encodedParams: encoded, inputs })
        made.push({ id, fan: points })
      }
      idsOf.set(stage, made)
    }
    // 4. Keep what the requested outputs (the targets and what is published) need: an instance that
    // only inputs turned off by their consumers' params lead to is not planned (nor checked, nor run).
    const needed = neededInstances(instances, [...pipeline.stages.map((t) => (t._tag === "AllOf" ? t.stage : t)), ...Object.values(pipeline.publish ?? {})])
    const kept = instances.filter((i) => needed.has(i.id))
    return { pipeline, instances: kept, byId: new Map(kept.map((i) => [i.id, i])), globals }
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

/**
 * The values of a fan-out: its list, or computed from the decoded param it names; undefined for a
 * pipeline-level fan param that is not set.
 */
const fanValues = (
  pipeline: Pipeline,
  fan: FanOut,
  overrides: ReadonlyArray<ParamOverride>,
): Effect.Effect<ReadonlyArray<FanValue> | undefined, ConfigError | ParamError> =>
  Effect.gen(function* () {
    const from = fan.values
    let values: ReadonlyArray<FanValue>
    if (!("_tag" in from)) values = from as ReadonlyArray<FanValue>
    else if (from._tag === "FromPipelineParam") {
      const o = overrides.filter((x) => x.name === from.name && x.stage === null).at(-1)
      const raw = o ? o.raw : pipeline.params?.[from.name]
      if (raw === undefined || raw === "") return undefined
      const decoded = from.decode(o ? cliValue(o.raw) : raw)
      if (Either.isLeft(decoded)) {
        const problem = schemaProblem(decoded.left)
        const detail = `${pathName(from.name, problem.path)} ${problem.text}`
        return yield* o
          ? new ParamError({ param: writtenName(o), value: o.raw, detail })
          : new ConfigError({ file: pipeline.file, detail: `params.${from.name}: ${detail}` })
      }
      values = decoded.right
    } else {
      const names = paramNames(from.stage)
      if (!names.includes(from.param)) {
        return yield* new ConfigError({ file: pipeline.file, detail: `fanOut(${fan.stage.name}): stage ${from.stage.name} declares no param "${from.param}"` })
      }
      // Only that param, decoded by its own field's schema (the stage may be the fanned one itself).
      const picked: AnyStage = { ...from.stage, params: from.stage.params.pipe(Schema.pick(from.param)) }
      const { decoded } = yield* decodeParams(pipeline, picked, [from.param], overrides, [])
      values = from.values((decoded as Record<string, unknown>)[from.param])
    }
    const seen = new Set<FanValue>()
    for (const v of values) {
      if (seen.has(v)) return yield* new ConfigError({ file: pipeline.file, detail: `fanOut(${fan.stage.name}, "${fan.param}"): value ${v} appears twice` })
      seen.add(v)
    }
    return values
  })

/** Where a param's value came from: the `--param` that set it, or the pipeline file's entry (`params.lr`). */
type ValueOrigin = { readonly override: ParamOverride } | { readonly entry: string }

const decodeParams = (
  pipeline: Pipeline,
  stage: AnyStage,
  names: ReadonlyArray<string>,
  overrides: ReadonlyArray<ParamOverride>,
  fan: ReadonlyArray<FanPoint>,
): Effect.Effect<{ decoded: unknown; encoded: Json }, ConfigError | ParamError> =>
  Effect.gen(function* () {
    const raw: Record<string, unknown> = {}
    const origin = new Map<string, ValueOrigin>()
    for (const name of names) {
      if (pipeline.params && name in pipeline.params) {
        raw[name] = pipeline.params[name]
        origin.set(name, { entry: `params.${name}` })
      }
      const own = pipeline.stageParams?.[stage.name]
      if (own && name in own) {
        raw[name] = own[name]
        origin.set(name, { entry: `stageParams.${stage.name}.${name}` })
      }
      // Global overrides first, then the stage's own: the last one given of the most specific wins.
      for (const o of [...overrides.filter((x) => x.stage === null), ...overrides.filter((x) => x.stage === stage.name)]) {
        if (o.name !== name) continue
        raw[name] = cliValue(o.raw)
        origin.set(name, { override: o })
      }
    }
    for (const p of fan) {
      raw[p.param] = p.value
      origin.set(p.param, { entry: `fanOut(${stage.name}, "${p.param}")` })
    }
    /** The error for a bad value of param `name` (`subject` names the value: `train.epochs`, `train.seeds[0]`). */
    const bad = (name: string | undefined, subject: string, text: string): ConfigError | ParamError => {
      const from = name === undefined ? undefined : origin.get(name)
      if (from && "override" in from) return new ParamError({ param: writtenName(from.override), value: from.override.raw, detail: `${subject} ${text}` })
      if (from) return new ConfigError({ file: pipeline.file, detail: `${from.entry}: ${subject} ${text}` })
      const wayOut = name === undefined ? "" : ` (set it in the pipeline's params or with --param ${name}=VALUE)`
      return new ConfigError({ file: pipeline.file, detail: `${subject} ${text}${wayOut}` })
    }
    const fields = SchemaAST.getPropertySignatures(SchemaAST.encodedAST(stage.params.ast))
    for (const [name, from] of origin) {
      const value = raw[name]
      const field = fields.find((f) => f.name === name)
      // Infinity (`1e999`) and NaN decode as numbers but no key can hold them: say so before anything else.
      if ("override" in from && typeof value === "number" && !Number.isFinite(value) && field && takesNumbers(field.type)) {
        return yield* bad(name, `${stage.name}.${name}`, `must be a finite number (got ${shownValue(value)})`)
      }
    }
    const decode = Schema.decodeUnknownEither(stage.params)
    let result = decode(raw)
    if (Either.isLeft(result)) {
      // A CLI value that looked like JSON may have been meant as a string ("007", "1e3").
      const asStrings = { ...raw }
      for (const [name, from] of origin) if ("override" in from) asStrings[name] = from.override.raw
      const retry = decode(asStrings)
      if (Either.isRight(retry)) result = retry
    }
    if (Either.isLeft(result)) {
      const problem = schemaProblem(result.left)
      const name = typeof problem.path[0] === "string" ? problem.path[0] : undefined
      return yield* bad(name, pathName(stage.name, problem.path), problem.text)
    }
    const encoded = Schema.encodeEither(stage.params)(result.right)
    if (Either.isLeft(encoded)) {
      const problem = schemaProblem(encoded.left)
      const name = typeof problem.path[0] === "string" ? problem.path[0] : undefined
      return yield* bad(name, pathName(stage.name, problem.path), `cannot be encoded: it ${problem.text}`)
    }
    const canon = canonicalJson(encoded.right)
    if (Either.isLeft(canon)) {
      const name = /^[^.[]+/.exec(canon.left.path)?.[0]
      return yield* bad(name, `${stage.name}.${canon.left.path}`, `cannot be part of a cache key: ${canon.left.reason}`)
    }
    return { decoded: result.right, encoded: JSON.parse(canon.right) as Json }
  })

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
export const unknownStages = (
  plan: Plan,
  names: ReadonlyArray<string>,
  flag?: string,
  where = `pipeline ${plan.pipeline.name}`,
): ConfigError | undefined => {
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
