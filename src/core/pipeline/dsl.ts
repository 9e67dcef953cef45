/**
 * The pipeline DSL: what a pipeline file writes (`definePipeline`, `fanOut`, `bind`, where a
 * fan-out's values come from) and what an `afterRun` hook sees of a run.
 */
import { type Effect, type Either, ParseResult, Schema } from "effect"
import { type AllOf, type AnyStage, type Artifact, callerFile, type Slot, type Stage } from "../stage.js"

/** One value a stage is fanned out over (`fold-3`, `seed-1086`). */
export type FanValue = string | number

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
export const pipelineFanParam = (f: FanOut): FanFromPipelineParam | undefined =>
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
      typeof input === "number"
        ? [input]
        : Array.isArray(input)
          ? input
          : typeof input === "string"
            ? input
                .split(",")
                .map((x) => x.trim())
                .filter((x) => x !== "")
            : undefined
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
  return { _tag: "Pipeline", ...def, file: callerFile(["/src/core/pipeline/dsl.ts", "/src/core/pipeline/dsl.js"]) ?? "<pipeline>" }
}

export const fanOut = <S extends AnyStage>(stage: S, param: keyof ParamsOf<S> & string, values: FanValues): FanOut => ({ stage, param, values })

export const bind = <V>(slot: Slot<V>, stage: Stage<string, any, any, V>): Binding => ({ slot, stage })
