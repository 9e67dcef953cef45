/**
 * The fast path parses `cairn run` argv with RUN_OPTIONS (src/cli/run-argv.js): the table must
 * name exactly the options the full CLI declares, with the same arity and aliases, and parse argv
 * the way it does.
 */
import { describe, expect, it } from "vitest"
import { parseRunArgv, RUN_OPTIONS } from "../../src/cli/run-argv.js"
import { REPO, cli } from "../support/helpers.js"

describe("run argv", () => {
  it("RUN_OPTIONS lists every option of `cairn run --help`, with its arity and alias", async () => {
    const help = (await cli(REPO, ["run", "--help"])).stdout.replace(/\x1b\[[0-9;]*m/g, "")
    const usage = help.split("\n").find((l) => l.startsWith("$ run "))
    expect(usage).toBeDefined()
    const declared: Record<string, { value: boolean; alias?: string }> = {}
    for (const m of usage!.matchAll(/(?:-(\w), )?--([\w-]+)( (?:text|integer))?/g)) {
      declared[m[2]!] = { value: m[3] !== undefined, ...(m[1] ? { alias: m[1] } : {}) }
    }
    expect(declared).toEqual(RUN_OPTIONS)
  })

  it("parses values, aliases, = forms and flags; anything unknown is left to the full CLI", () => {
    expect(parseRunArgv(["run", "-p", "a=1", "pipelines/x.ts", "--param=b=2", "--verbose", "--json", "r.json", "-j", "2"])).toEqual({
      pipeline: "pipelines/x.ts",
      values: { param: ["a=1", "b=2"], json: ["r.json"], jobs: ["2"] },
      flags: new Set(["verbose"]),
    })
    expect(parseRunArgv(["status", "pipelines/x.ts"])).toBeUndefined()
    expect(parseRunArgv(["run", "--what", "pipelines/x.ts"])).toBeUndefined()
    expect(parseRunArgv(["run", "pipelines/x.ts", "pipelines/y.ts"])).toBeUndefined()
    expect(parseRunArgv(["run", "pipelines/x.ts", "--json"])).toBeUndefined()
    expect(parseRunArgv(["run", "--verbose=1", "pipelines/x.ts"])).toBeUndefined()
  })
})
