/** `--param` parsing and the decoding of a stage's params from the pipeline's defaults and the overrides. */
import { Effect, Either, Schema, SchemaAST } from "effect"
import type { Json } from "../canonical.js"
import { canonicalJson } from "../canonical.js"
import { ConfigError, ParamError } from "../errors.js"
import { pathName, schemaProblem, shownValue } from "../schema-problem.js"
import type { AnyStage } from "../stage.js"
import type { Pipeline } from "./dsl.js"
import type { FanPoint } from "./plan-types.js"

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
export const cliValue = (raw: string): unknown => {
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
export const writtenName = (o: ParamOverride): string => (o.stage === null ? o.name : `${o.stage}.${o.name}`)

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
export const paramNames = (stage: AnyStage): ReadonlyArray<string> => SchemaAST.getPropertySignatures(stage.params.ast).map((p) => String(p.name))

/** Where a param's value came from: the `--param` that set it, or the pipeline file's entry (`params.lr`). */
type ValueOrigin = { readonly override: ParamOverride } | { readonly entry: string }

/**
 * The raw value of each of `names` for `stage`, and where it came from: pipeline `params`, then the
 * stage's `stageParams`, then `--param`s (global ones first, the last given of the most specific
 * wins), then the instance's fan-out coordinates.
 */
const rawParams = (
  pipeline: Pipeline,
  stage: AnyStage,
  names: ReadonlyArray<string>,
  overrides: ReadonlyArray<ParamOverride>,
  fan: ReadonlyArray<FanPoint>,
): { readonly raw: Record<string, unknown>; readonly origin: ReadonlyMap<string, ValueOrigin> } => {
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
  return { raw, origin }
}

/** The error for a bad value of param `name` (`subject` names the value: `train.epochs`, `train.seeds[0]`). */
const badParam = (
  pipeline: Pipeline,
  origin: ReadonlyMap<string, ValueOrigin>,
  name: string | undefined,
  subject: string,
  text: string,
): ConfigError | ParamError => {
  const from = name === undefined ? undefined : origin.get(name)
  if (from && "override" in from) return new ParamError({ param: writtenName(from.override), value: from.override.raw, detail: `${subject} ${text}` })
  if (from) return new ConfigError({ file: pipeline.file, detail: `${from.entry}: ${subject} ${text}` })
  const wayOut = name === undefined ? "" : ` (set it in the pipeline's params or with --param ${name}=VALUE)`
  return new ConfigError({ file: pipeline.file, detail: `${subject} ${text}${wayOut}` })
}

/**
 * `stage`'s params `names` decoded by its schema (what `run` sees) and encoded as canonical JSON (what
 * its key hashes). A bad value fails naming where it was set: the `--param` or the pipeline's entry.
 */
export const decodeParams = (
  pipeline: Pipeline,
  stage: AnyStage,
  names: ReadonlyArray<string>,
  overrides: ReadonlyArray<ParamOverride>,
  fan: ReadonlyArray<FanPoint>,
): Effect.Effect<{ decoded: unknown; encoded: Json }, ConfigError | ParamError> =>
  Effect.gen(function* () {
    const { raw, origin } = rawParams(pipeline, stage, names, overrides, fan)
    const bad = (name: string | undefined, subject: string, text: string) => badParam(pipeline, origin, name, subject, text)
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
