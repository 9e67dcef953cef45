/**
 * Attack 1: a dependency upgrade (`npm install pkg@x`: node_modules and package-lock.json change)
 * reruns the stages whose code imports the package, on the full path and the fast path alike, and
 * `status` names the package.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { REPO, removeProjects } from "../support/helpers.js"
import { attackProject, cairn, PATHS, pipelineFile, ran, run } from "./attack.js"

const padStage = `
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
import { pad } from "fake-pad"
import { clean } from "./clean.js"
export const padded = defineStage({
  name: "padded",
  params: Schema.Struct({}),
  inputs: { clean },
  run: (ctx) => Effect.succeed(pad(String(ctx.inputs.clean.value.lines))),
})
`

/** Installs `fake-pad@version` into the project's own node_modules, as npm would record it. */
const install = (dir: string, version: string, padding: string) => {
  const pkgDir = path.join(dir, "node_modules", "fake-pad")
  fs.mkdirSync(pkgDir, { recursive: true })
  fs.writeFileSync(path.join(pkgDir, "package.json"), JSON.stringify({ name: "fake-pad", version, type: "module", main: "index.js" }))
  fs.writeFileSync(path.join(pkgDir, "index.js"), `export const pad = (s) => ${JSON.stringify(padding)} + s\n`)
  for (const lockfile of [path.join(dir, "node_modules", ".package-lock.json"), path.join(dir, "package-lock.json")]) {
    const lock = JSON.parse(fs.readFileSync(lockfile, "utf8")) as { packages: Record<string, unknown> }
    lock.packages["node_modules/fake-pad"] = { version, resolved: `https://registry.npmjs.org/fake-pad/-/fake-pad-${version}.tgz` }
    fs.writeFileSync(lockfile, JSON.stringify(lock, null, 2))
  }
}

/** A project whose node_modules is its own folder (links to the repo's packages) plus fake-pad. */
const project = () => {
  const dir = attackProject({
    "stages/padded.ts": padStage,
    "pipelines/pad.ts": pipelineFile("pad", { padded: "../stages/padded.js", other: "../stages/other.js" }, { data: "data", lower: true, tag: "t" }),
  })
  const modules = path.join(dir, "node_modules")
  fs.rmSync(modules)
  fs.mkdirSync(modules)
  for (const name of fs.readdirSync(path.join(REPO, "node_modules"))) {
    if (name === ".package-lock.json") fs.copyFileSync(path.join(REPO, "node_modules", name), path.join(modules, name))
    else fs.symlinkSync(path.join(REPO, "node_modules", name), path.join(modules, name))
  }
  fs.copyFileSync(path.join(REPO, "package-lock.json"), path.join(dir, "package-lock.json"))
  install(dir, "1.0.0", "-")
  return dir
}

describe.each(PATHS)("a dependency upgrade ($name)", (via) => {
  afterAll(removeProjects)

  it("reruns the stage importing the package, and only it; status names the package", async () => {
    const dir = project()
    const first = await run(dir, via, "pipelines/pad.ts")
    expect(first.code, first.stderr).toBe(0)
    expect((await run(dir, via, "pipelines/pad.ts")).statuses).toEqual({ data: "cached", clean: "cached", padded: "cached", other: "cached" })

    install(dir, "2.0.0", "+")
    const status = await cairn(dir, ["status", "pipelines/pad.ts"])
    expect(status.stdout).toMatch(/STALE\s+padded\s+engine package fake-pad: "1\.0\.0" -> "2\.0\.0"/)
    expect(status.stdout).toMatch(/fresh\s+other/)
    const upgraded = await run(dir, via, "pipelines/pad.ts")
    expect(upgraded.code, upgraded.stderr).toBe(0)
    expect(upgraded.replayed).toBe(false)
    expect(ran(upgraded)).toEqual(["padded"])
    const report = JSON.parse(fs.readFileSync(path.join(dir, "report.json"), "utf8")) as { stages: Array<{ id: string }> }
    expect(report.stages.map((s) => s.id)).toContain("padded")

    // Back to 1.0.0: the old result is the right one again, served from the cache.
    install(dir, "1.0.0", "-")
    const back = await run(dir, via, "pipelines/pad.ts")
    expect(back.statuses.padded).toBe("cached")
  })

  it("an edit of the lockfile alone (same installed tree) reruns nothing", async () => {
    const dir = project()
    expect((await run(dir, via, "pipelines/pad.ts")).code).toBe(0)
    const lockfile = path.join(dir, "package-lock.json")
    fs.writeFileSync(lockfile, `${fs.readFileSync(lockfile, "utf8")}\n`)
    const again = await run(dir, via, "pipelines/pad.ts")
    expect(again.code, again.stderr).toBe(0)
    expect(ran(again)).toEqual([])
  })
})
