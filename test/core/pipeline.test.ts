import { Effect, Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import {
  bind,
  definePipeline,
  effectiveParams,
  fanOut,
  fromParam,
  fromPipelineParam,
  IntList,
  parseOverride,
  planPipeline,
  range,
  restrictPlan,
} from "../../src/core/pipeline/index.js"
import { allOf, defineSource, defineStage, slot } from "../../src/core/stage.js"

const dataset = slot<{ readonly path: string }>("dataset")
const source = defineSource({ name: "raw", param: "data", params: Schema.Struct({ data: Schema.String }) })
const prep = defineStage({
  name: "prep",
  params: Schema.Struct({ size: Schema.Number, mode: Schema.optionalWith(Schema.Literal("fast", "exact"), { default: () => "exact" as const }) }),
  inputs: { data: dataset },
  run: () => Effect.succeed(1),
})
const train = defineStage({
  name: "train",
  params: Schema.Struct({ fold: Schema.Number, lr: Schema.Number, size: Schema.Number }),
  inputs: { prep },
  run: (ctx) => Effect.succeed(ctx.params.fold),
})
const evalFold = defineStage({
  name: "eval",
  params: Schema.Struct({ fold: Schema.Number }),
  inputs: { model: train },
  run: () => Effect.succeed(0),
})
const score = defineStage({
  name: "score",
  params: Schema.Struct({ name: Schema.String }),
  inputs: { models: allOf(train), evals: allOf(evalFold) },
  run: () => Effect.succeed(0),
})

const pipeline = definePipeline({
  name: "demo",
  stages: [score],
  bind: [bind(dataset, source)],
  fanOut: [fanOut(train, "fold", [0, 1, 2]), fanOut(evalFold, "fold", [0, 1, 2])],
  params: { data: "/data", size: 64, lr: 0.001, name: "run" },
})

const plan = (params: ReadonlyArray<string>, p = pipeline) =>
  Effect.runPromise(
    Effect.either(
      planPipeline(
        p,
        params.map((x) => Either.getOrThrow(parseOverride(x))),
      ),
    ),
  )

describe("planPipeline", () => {
  it("expands fan-outs, binds slots, orders inputs first and decodes params", async () => {
    const r = Either.getOrThrow(await plan([]))
    expect(r.instances.map((i) => i.id)).toEqual([
      "raw",
      "prep",
      "train/fold-0",
      "train/fold-1",
      "train/fold-2",
      "eval/fold-0",
      "eval/fold-1",
      "eval/fold-2",
      "score",
    ])
    expect(r.byId.get("prep")!.params).toEqual({ size: 64, mode: "exact" })
    expect(r.byId.get("train/fold-1")!.params).toEqual({ fold: 1, lr: 0.001, size: 64 })
    // A fanned-out consumer of a fanned-out stage takes the matching instance; allOf takes all.
    expect(r.byId.get("eval/fold-2")!.inputs.model).toEqual({ kind: "one", id: "train/fold-2" })
    expect(r.byId.get("score")!.inputs.models).toEqual({ kind: "all", ids: ["train/fold-0", "train/fold-1", "train/fold-2"] })
    expect(r.byId.get("prep")!.inputs.data).toEqual({ kind: "one", id: "raw" })
  })

  it("applies --param globally, per stage, and as strings when the schema wants one", async () => {
    const r = Either.getOrThrow(await plan(["size=128", "train.lr=1e-2", "name=007", "mode=fast"]))
    expect(r.byId.get("prep")!.params).toEqual({ size: 128, mode: "fast" })
    expect(r.byId.get("train/fold-0")!.params).toEqual({ fold: 0, lr: 0.01, size: 128 })
    expect(r.byId.get("score")!.params).toEqual({ name: "007" })
    expect(r.byId.get("prep")!.encodedParams).toEqual({ size: 128, mode: "fast" })
  })

  it("refuses unknown params and bad values before anything runs", async () => {
    const unknown = await plan(["sise=3"])
    expect(Either.isLeft(unknown) && unknown.left.message).toMatch(
      /param sise=3: no stage of pipeline demo declares it \(known: data, fold, lr, mode, name, size\)/,
    )
    const bad = await plan(["size=big"])
    expect(Either.isLeft(bad) && bad.left._tag).toBe("ParamError")
    expect(Either.isLeft(bad) && bad.left.message).toBe('--param size=big: prep.size must be a number (got "big")')
    const badLiteral = await plan(["mode=slow"])
    expect(Either.isLeft(badLiteral) && badLiteral.left.message).toBe('--param mode=slow: prep.mode must be "fast" or "exact" (got "slow")')
    const wrongStage = await plan(["prep.lr=1"])
    expect(Either.isLeft(wrongStage) && wrongStage.left.message).toMatch(/stage prep declares no param "lr"/)
    const fan = await plan(["fold=1"])
    expect(Either.isLeft(fan) && fan.left.message).toMatch(/fan-out param/)
    const noStage = await plan(["nope.x=1"])
    expect(Either.isLeft(noStage) && noStage.left.message).toMatch(/no stage named nope/)
  })

  it("reports pipeline mistakes as config errors", async () => {
    const unbound = await plan([], definePipeline({ name: "x", stages: [prep], params: { size: 1 } }))
    expect(Either.isLeft(unbound) && unbound.left.message).toMatch(/needs slot "dataset"/)
    const typo = await plan([], definePipeline({ name: "x", stages: [prep], bind: [bind(dataset, source)], params: { size: 1, data: "/d", lrr: 1 } }))
    expect(Either.isLeft(typo) && typo.left.message).toMatch(/params.lrr: no stage of the pipeline declares "lrr"/)
    const twin = defineStage({ name: "prep", params: Schema.Struct({}), inputs: { p: prep }, run: () => Effect.succeed(0) })
    const dup = await plan([], definePipeline({ name: "x", stages: [twin], bind: [bind(dataset, source)], params: { size: 1, data: "/d" } }))
    expect(Either.isLeft(dup) && dup.left.message).toMatch(/two different stages are named "prep"/)
    const notAll = defineStage({ name: "bad", params: Schema.Struct({}), inputs: { m: train }, run: () => Effect.succeed(0) })
    const needsAll = await plan(
      [],
      definePipeline({
        name: "x",
        stages: [notAll],
        bind: [bind(dataset, source)],
        fanOut: [fanOut(train, "fold", [0, 1])],
        params: { size: 1, data: "/d", lr: 1 },
      }),
    )
    expect(Either.isLeft(needsAll) && needsAll.left.message).toMatch(/use allOf\(train\)/)
  })

  it("restricts a plan to a target and what it needs", async () => {
    const r = Either.getOrThrow(await plan(["folds=2"].filter(() => false)))
    const only = Either.getOrThrow(restrictPlan(r, ["train/fold-1"]))
    expect(only.instances.map((i) => i.id)).toEqual(["raw", "prep", "train/fold-1"])
    const all = Either.getOrThrow(restrictPlan(r, ["train"]))
    expect(all.instances.map((i) => i.id)).toEqual(["raw", "prep", "train/fold-0", "train/fold-1", "train/fold-2"])
    expect(Either.isLeft(restrictPlan(r, ["nope"]))).toBe(true)
  })

  it("a fan-out width from a typed param: decoded by its stage's schema, stage-scoped overrides included, checked at plan time", async () => {
    const folds = defineStage({
      name: "folds",
      params: Schema.Struct({ n_folds: Schema.Int.pipe(Schema.greaterThanOrEqualTo(2)) }),
      inputs: { prep },
      run: () => Effect.succeed(0),
    })
    const fold = defineStage({ name: "fold", params: Schema.Struct({ fold: Schema.Number }), inputs: { folds }, run: () => Effect.succeed(0) })
    const p = definePipeline({
      name: "widths",
      stages: [allOf(fold)],
      bind: [bind(dataset, source)],
      fanOut: [fanOut(fold, "fold", fromParam(folds, "n_folds", range))],
      params: { data: "/data", size: 1, n_folds: 5 },
    })
    const ids = (r: Awaited<ReturnType<typeof plan>>) =>
      Either.getOrThrow(r)
        .instances.filter((i) => i.stage === fold)
        .map((i) => i.id)
    expect(ids(await plan([], p))).toEqual(["fold/fold-0", "fold/fold-1", "fold/fold-2", "fold/fold-3", "fold/fold-4"])
    expect(ids(await plan(["folds.n_folds=3"], p))).toEqual(["fold/fold-0", "fold/fold-1", "fold/fold-2"])
    expect(ids(await plan(["n_folds=2"], p))).toEqual(["fold/fold-0", "fold/fold-1"])
    for (const bad of ["n_folds=1", "folds.n_folds=2.5", "n_folds=many"]) {
      const r = await plan([bad], p)
      expect(Either.isLeft(r), bad).toBe(true)
      expect(Either.isLeft(r) && r.left._tag).toBe("ParamError")
    }
  })

  it("fans out over two params (fold x seed), the seed list a pipeline-level param that enters no key", async () => {
    const fit = defineStage({ name: "fit", params: Schema.Struct({ fold: Schema.Number, seed: Schema.Int }), inputs: { prep }, run: () => Effect.succeed(0) })
    const gather = defineStage({ name: "gather", params: Schema.Struct({}), inputs: { fits: allOf(fit) }, run: () => Effect.succeed(0) })
    const p = definePipeline({
      name: "seeds",
      stages: [gather],
      bind: [bind(dataset, source)],
      fanOut: [fanOut(fit, "fold", [0, 1]), fanOut(fit, "seed", fromPipelineParam("seeds", IntList))],
      params: { data: "/data", size: 1, seed: 1086 },
    })
    const single = Either.getOrThrow(await plan([], p))
    expect(single.instances.filter((i) => i.stage === fit).map((i) => i.id)).toEqual(["fit/fold-0", "fit/fold-1"])
    const spread = Either.getOrThrow(await plan(["seeds=1086,1,2"], p))
    const fits = spread.instances.filter((i) => i.stage === fit)
    expect(fits.map((i) => i.id)).toEqual([
      "fit/fold-0/seed-1086",
      "fit/fold-0/seed-1",
      "fit/fold-0/seed-2",
      "fit/fold-1/seed-1086",
      "fit/fold-1/seed-1",
      "fit/fold-1/seed-2",
    ])
    // Same params as the single-seed instance: the same key, so a seed spread reuses that run.
    expect(fits[0]!.encodedParams).toEqual(single.byId.get("fit/fold-0")!.encodedParams)
    expect(spread.byId.get("gather")!.inputs.fits).toEqual({ kind: "all", ids: fits.map((i) => i.id) })
    expect(spread.byId.get("gather")!.encodedParams).toEqual(single.byId.get("gather")!.encodedParams)
    for (const bad of ["seeds=1,x", "seeds=1,1", "seeds=1,2 fit.seed=3"]) expect(Either.isLeft(await plan(bad.split(" "), p)), bad).toBe(true)
    // Without a seed spread, the seed is an ordinary param (scoped or not).
    expect(Either.getOrThrow(await plan(["fit.seed=7"], p)).byId.get("fit/fold-0")!.encodedParams).toMatchObject({ seed: 7 })

    const perFold = defineStage({ name: "per-fold", params: Schema.Struct({ fold: Schema.Number }), inputs: { fit }, run: () => Effect.succeed(0) })
    const ambiguous = definePipeline({ ...p, name: "ambiguous", stages: [allOf(perFold)], fanOut: [...p.fanOut!, fanOut(perFold, "fold", [0, 1])] })
    expect(Either.isRight(await plan([], ambiguous))).toBe(true)
    const r = await plan(["seeds=1,2"], ambiguous)
    expect(Either.isLeft(r) && r.left.message).toContain("use allOf(fit)")
  })

  it("the run's params record every param that reached a stage: a stage-scoped override is named by its stage", async () => {
    const a = defineStage({ name: "a", params: Schema.Struct({ seed: Schema.Int, lr: Schema.Number }), inputs: { prep }, run: () => Effect.succeed(0) })
    const b = defineStage({ name: "b", params: Schema.Struct({ seed: Schema.Int }), inputs: { a }, run: () => Effect.succeed(0) })
    const p = definePipeline({ name: "scoped", stages: [b], bind: [bind(dataset, source)], params: { data: "/data", size: 1, seed: 1086, lr: 0.1 } })
    expect(effectiveParams(Either.getOrThrow(await plan([], p)))).toEqual({ data: "/data", lr: 0.1, mode: "exact", seed: 1086, size: 1 })
    expect(effectiveParams(Either.getOrThrow(await plan(["a.seed=1"], p)))).toEqual({
      data: "/data",
      lr: 0.1,
      mode: "exact",
      "a.seed": 1,
      "b.seed": 1086,
      size: 1,
    })
  })
})
