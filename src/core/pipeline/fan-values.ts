/** Fan-out expansion: a fan-out's values (a list, a stage's param, a pipeline param), their product, instance ids. */
import { Effect, Either, Schema } from "effect"
import { ConfigError, ParamError } from "../errors.js"
import { pathName, schemaProblem } from "../schema-problem.js"
import type { AnyStage } from "../stage.js"
import type { FanOut, FanValue, Pipeline } from "./dsl.js"
import { cliValue, decodeParams, type ParamOverride, paramNames, writtenName } from "./params.js"
import type { FanPoint } from "./plan-types.js"

/** The id of a fanned-out instance: `train/fold-3`. */
export const fanId = (stage: AnyStage, points: ReadonlyArray<FanPoint>) => [stage.name, ...points.map((p) => `${p.param}-${p.value}`)].join("/")

/** Every combination of the dimensions' values, the first dimension varying slowest. */
export const product = (dims: ReadonlyArray<{ param: string; values: ReadonlyArray<FanValue> }>): Array<Array<FanPoint>> =>
  dims.reduce<Array<Array<FanPoint>>>((acc, d) => acc.flatMap((pts) => d.values.map((value) => [...pts, { param: d.param, value }])), [[]])

/**
 * The values of a fan-out: its list, or computed from the decoded param it names; undefined for a
 * pipeline-level fan param that is not set.
 */
export const fanValues = (
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
