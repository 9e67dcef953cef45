/**
 * The CLI's errors, written from issue 24's repros: a bad `--param` is one line naming the param as
 * written, its value and what it must be; `--force` of an unknown stage is refused as `--target`
 * is; `cairn runs` names the history files it leaves out; help is plain text into a pipe.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Either, Schema } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { colourWanted } from "../../src/cli/colour.js"
import { definePipeline, fanOut, fromPipelineParam, IntList, parseOverride, planPipeline } from "../../src/core/pipeline/index.js"
import { defineStage } from "../../src/core/stage.js"
import { localLayout } from "../../src/core/store/layout.js"
import { fixtureFiles } from "../support/fixture-project.js"
import { cli, makeProject, removeProjects, spawnCli, statuses } from "../support/helpers.js"

/** One stage declaring a param of every kind the shipped pipelines use. */
const kinds = defineStage({
  name: "train",
  params: Schema.Struct({
    fold: Schema.Int.pipe(Schema.nonNegative()),
    seed: Schema.Int.pipe(Schema.nonNegative()),
    epochs: Schema.Int.pipe(Schema.positive()),
    lr: Schema.Number.pipe(Schema.positive()),
    n_folds: Schema.Int.pipe(Schema.greaterThanOrEqualTo(2)),
    model: Schema.Literal("resnet34d", "resnet18d"),
    pretrained: Schema.String,
    verbose: Schema.Boolean,
    shuffle: Schema.optionalWith(Schema.Literal("numpy", "none"), { default: () => "numpy" as const }),
  }),
  run: () => Effect.succeed(0),
})
const kindsPipeline = definePipeline({
  name: "kinds",
  stages: [kinds],
  fanOut: [fanOut(kinds, "fold", [0]), fanOut(kinds, "seed", fromPipelineParam("seeds", IntList))],
  params: { seed: 0, epochs: 4, lr: 1e-3, n_folds: 5, model: "resnet18d", pretrained: "", verbose: false },
})

const planned = (params: ReadonlyArray<string>, p = kindsPipeline) =>
  Effect.runPromise(
    Effect.either(
      planPipeline(
        p,
        params.map((x) => Either.getOrThrow(parseOverride(x))),
      ),
    ),
  )

const messageOf = async (params: ReadonlyArray<string>) => {
  const r = await planned(params)
  return Either.isLeft(r) ? r.left.message : "(no error)"
}

describe("a bad --param: one line naming it as written, its value and what it must be", () => {
  it.each([
    ["epochs=abc", 'train.epochs must be an integer (got "abc")'],
    ["epochs=1.5", "train.epochs must be an integer (got 1.5)"],
    ["epochs=0", "train.epochs must be a positive number (got 0)"],
    ["train.epochs=abc", 'train.epochs must be an integer (got "abc")'],
    ["lr=fast", 'train.lr must be a positive number (got "fast")'],
    ["lr=-1", "train.lr must be a positive number (got -1)"],
    ["lr=1e999", "train.lr must be a finite number (got Infinity)"],
    ["lr=NaN", "train.lr must be a finite number (got NaN)"],
    ["lr=-Infinity", "train.lr must be a finite number (got -Infinity)"],
    ["n_folds=1", "train.n_folds must be a number greater than or equal to 2 (got 1)"],
    ["model=resnet50", 'train.model must be "resnet34d" or "resnet18d" (got "resnet50")'],
    ["shuffle=random", 'train.shuffle must be "numpy" or "none" (got "random")'],
    ["verbose=yes", 'train.verbose must be true or false (got "yes")'],
    ["seeds=a,b", 'seeds must be a list of integers like 1,2,3 (got "a,b")'],
    ["seeds=1.5", "seeds[0] must be an integer (got 1.5)"],
  ])("--param %s", async (param, detail) => {
    expect(await messageOf([param])).toBe(`--param ${param}: ${detail}`)
  })

  it("names the param at fault, not the first one given (model before epochs in the schema)", async () => {
    expect(await messageOf(["model=resnet18d", "epochs=abc"])).toBe('--param epochs=abc: train.epochs must be an integer (got "abc")')
  })

  it("a string param takes text that reads as a non-finite number", async () => {
    const r = await planned(["pretrained=Infinity"])
    expect(Either.isRight(r) && r.right.instances[0]!.params).toMatchObject({ pretrained: "Infinity" })
  })

  it("a bad value in the pipeline file names the file's entry, not a --param", async () => {
    const p = definePipeline({ ...kindsPipeline, name: "kinds-bad", params: { ...kindsPipeline.params, epochs: "four" } })
    const r = await planned([], p)
    expect(Either.isLeft(r) && r.left._tag).toBe("ConfigError")
    expect(Either.isLeft(r) && r.left.message).toMatch(/: params\.epochs: train\.epochs must be an integer \(got "four"\)$/)
  })
})

/** `cairn ...` with the colour settings of `env` only (the test runner may set FORCE_COLOR). */
const cliColour = (cwd: string, args: ReadonlyArray<string>, env: Record<string, string>) => {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "FORCE_COLOR" && k !== "NO_COLOR"))
  return spawnCli(cwd, args, { ...base, ...env })
}

describe("cairn CLI errors (as a user runs it)", () => {
  afterAll(removeProjects)
  let dir: string
  let log: string
  beforeAll(() => {
    dir = makeProject(fixtureFiles())
    log = path.join(dir, "runs.log")
  })
  const ran = () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").split("\n").filter(Boolean) : [])

  it("--param min=abc and min=1e999: one line, exit 2, nothing run", async () => {
    const bad = await cli(dir, ["run", "pipelines/chain.ts", "--param", "min=abc"], { CAIRN_TEST_LOG: log })
    expect(bad.code).toBe(2)
    expect(bad.stderr.trim()).toBe('cairn: --param min=abc: count.min must be a number (got "abc")')
    const huge = await cli(dir, ["run", "pipelines/chain.ts", "--param", "count.min=1e999"], { CAIRN_TEST_LOG: log })
    expect(huge.code).toBe(2)
    expect(huge.stderr.trim()).toBe("cairn: --param count.min=1e999: count.min must be a finite number (got Infinity)")
    const notBool = await cli(dir, ["run", "pipelines/chain.ts", "-p", "lower=no"], { CAIRN_TEST_LOG: log })
    expect(notBool.code).toBe(2)
    expect(notBool.stderr.trim()).toBe('cairn: --param lower=no: clean.lower must be true or false (got "no")')
    expect(ran()).toEqual([])
  })

  it("--force of an unknown stage fails as --target does, naming it and the known stages", async () => {
    const target = await cli(dir, ["run", "pipelines/chain.ts", "--target", "no-such-stage"], { CAIRN_TEST_LOG: log })
    expect(target.code).toBe(2)
    const stages = "(stages: data, clean, count, split/part-0, split/part-1, split/part-2, merge, other)"
    expect(target.stderr).toContain(`--target no-such-stage: no stage "no-such-stage" in pipeline chain ${stages}`)
    const force = await cli(dir, ["run", "pipelines/chain.ts", "--force", "no-such-stage"], { CAIRN_TEST_LOG: log })
    expect(force.code).toBe(2)
    expect(force.stderr).toContain(`--force no-such-stage: no stage "no-such-stage" in pipeline chain ${stages}`)
    // A stage of the pipeline that the --target does not run would be ignored as well.
    const outside = await cli(dir, ["run", "pipelines/chain.ts", "--target", "count", "--force", "other"], { CAIRN_TEST_LOG: log })
    expect(outside.code).toBe(2)
    expect(outside.stderr).toContain('--force other: no stage "other" in what --target count runs (stages: data, clean, count)')
    expect(ran()).toEqual([])
  })

  it("a no-op replay never hides an invalid --param: the full path plans it and fails", async () => {
    const report = (f: string) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"))
    expect((await cli(dir, ["run", "pipelines/chain.ts", "--param", "min=2", "--json", "r.json"])).code).toBe(0)
    expect((await cli(dir, ["run", "pipelines/chain.ts", "--param", "min=2", "--json", "r.json"])).code).toBe(0)
    expect(report("r.json").replayed).toBe(true) // the stamp holds for that command
    for (let i = 0; i < 2; i++) {
      // The same command with a bad value added (the last one wins): never replayed, never stamped.
      const bad = await cli(dir, ["run", "pipelines/chain.ts", "--param", "min=2", "--json", "r.json", "--param", "min=1e999"])
      expect(bad.code).toBe(2)
      expect(bad.stderr.trim()).toBe("cairn: --param min=1e999: count.min must be a finite number (got Infinity)")
    }
    expect(statuses(path.join(dir, "r.json"))).toMatchObject({ count: "cached" })
  })

  it("cairn runs names each history file it leaves out, and why, and lists the rest", async () => {
    expect((await cli(dir, ["run", "pipelines/chain.ts"])).code).toBe(0)
    const history = localLayout(path.join(dir, "cache")).history("chain")
    const garbage = path.join(history, "2000-01-01T00-00-00-000Z-1.json")
    const notRun = path.join(history, "2000-01-01T00-00-00-000Z-2.json")
    fs.writeFileSync(garbage, "{ half a record")
    fs.writeFileSync(notRun, JSON.stringify({ hello: "world" }))
    const runs = await cli(dir, ["runs", "pipelines/chain.ts"])
    expect(runs.code, runs.stderr).toBe(0)
    const warnings = runs.stderr.trim().split("\n")
    expect(warnings).toHaveLength(2)
    expect(warnings[0]).toMatch(new RegExp(`^warning: run history file ${garbage.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} left out: .*JSON`))
    expect(warnings[1]).toBe(`warning: run history file ${notRun} left out: it holds no run record (no startedAt or stages)`)
    expect(runs.stdout.split("\n").filter((l) => /\bok\b/.test(l)).length).toBeGreaterThanOrEqual(1)
    // Every pipeline's history (no pipeline named): the same warnings.
    expect((await cli(dir, ["runs"])).stderr.trim().split("\n")).toEqual(warnings)
    fs.rmSync(garbage)
    fs.rmSync(notRun)
  })

  it("help and usage errors carry no colour codes into a pipe; FORCE_COLOR keeps them", async () => {
    for (const args of [["--help"], ["run", "--help"]]) {
      const plain = await cliColour(dir, args, {})
      expect(plain.code).toBe(0)
      expect(plain.stdout).toContain("USAGE")
      expect(plain.stdout).not.toContain("\x1b")
    }
    const usage = await cliColour(dir, ["frobnicate"], {})
    expect(usage.code).toBe(2)
    expect(usage.stderr).toContain("Invalid subcommand")
    expect(usage.stderr).not.toContain("\x1b")
    expect((await cliColour(dir, ["--help"], { FORCE_COLOR: "1" })).stdout).toContain("\x1b[")
    expect((await cliColour(dir, ["--help"], { FORCE_COLOR: "0" })).stdout).not.toContain("\x1b")
  })

  it("colour: FORCE_COLOR over NO_COLOR over the stream being a terminal", () => {
    const tty = { isTTY: true }
    const pipe = { isTTY: false }
    expect(colourWanted(tty, {})).toBe(true)
    expect(colourWanted(pipe, {})).toBe(false)
    expect(colourWanted(tty, { NO_COLOR: "1" })).toBe(false)
    expect(colourWanted(tty, { NO_COLOR: "" })).toBe(true)
    expect(colourWanted(pipe, { FORCE_COLOR: "1" })).toBe(true)
    expect(colourWanted(pipe, { FORCE_COLOR: "" })).toBe(true)
    expect(colourWanted(tty, { FORCE_COLOR: "0", NO_COLOR: "" })).toBe(false)
    expect(colourWanted(pipe, { FORCE_COLOR: "1", NO_COLOR: "1" })).toBe(true)
  })
})
