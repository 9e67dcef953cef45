/**
 * Shared by the cache-attack tests: a small project, a `cairn run` through either the full path
 * or the no-op fast path, and what a run did. Every attack runs on both paths and must give the
 * same outcome on each (the fast path replays a run only when the full path would run nothing).
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fixtureFiles } from "../support/fixture-project.js"
import { type CliResult, cliAsync, makeProject } from "../support/helpers.js"

/** The two ways into `cairn run`: both must agree on every attack. */
export const PATHS = [
  { name: "full path", env: { CAIRN_NO_FAST_PATH: "1" } },
  { name: "fast path", env: {} },
] as const

export type CachePath = (typeof PATHS)[number]

export interface StageLine {
  readonly id: string
  readonly status: string
  readonly error?: string
}

export interface RunResult extends CliResult {
  /** Stage statuses from the run's JSON report (empty when the run wrote none). */
  readonly statuses: Record<string, string>
  readonly stages: ReadonlyArray<StageLine>
  /** The fast path replayed this run. */
  readonly replayed: boolean
}

/** A project with the core fixture files (see fixture-project.ts) and `extra` on top. */
export const attackProject = (extra: Record<string, string> = {}): string => makeProject({ ...fixtureFiles(), ...extra })

/** Starts any cairn command without blocking the test worker (vitest's RPC must keep flowing). */
export const cairn = (dir: string, args: ReadonlyArray<string>, env: Record<string, string> = {}): Promise<CliResult> => cliAsync(dir, args, env).done

/**
 * `cairn run <pipeline> ...args` on the given path, with a fixed report file (so the fast path's
 * invocation stays the same between runs) and `--verbose` (causes on stderr).
 */
export const run = async (
  dir: string,
  via: CachePath,
  pipeline: string,
  args: ReadonlyArray<string> = [],
  env: Record<string, string> = {},
): Promise<RunResult> => {
  const reportFile = path.join(dir, "report.json")
  fs.rmSync(reportFile, { force: true })
  const r = await cairn(dir, ["run", pipeline, "--json", "report.json", "--verbose", ...args], { ...via.env, ...env })
  const report = fs.existsSync(reportFile)
    ? (JSON.parse(fs.readFileSync(reportFile, "utf8")) as { stages: Array<StageLine>; replayed?: boolean })
    : { stages: [] }
  return {
    ...r,
    stages: report.stages,
    statuses: Object.fromEntries(report.stages.map((s) => [s.id, s.status])),
    replayed: report.replayed === true,
  }
}

/** Ids of the stages that ran. */
export const ran = (r: RunResult): Array<string> => r.stages.filter((s) => s.status === "ran").map((s) => s.id)

/** Writes a project file as an editor would (`@cairn` stands for this checkout's index). */
export { writeFile as edit } from "../support/helpers.js"

/** The stored copy of clean's output (a hard link to its object in the store). */
export const storedCleanFile = (dir: string): string => {
  const trees = path.join(dir, "cache", "trees")
  const hit = fs
    .readdirSync(trees)
    .map((t) => path.join(trees, t, "clean.txt"))
    .find((f) => fs.existsSync(f))
  if (!hit) throw new Error("no stored clean.txt")
  return hit
}

/**
 * Flips a bit of a file's first byte; with `keepMtime`, puts its mtime back to the nanosecond, as
 * `touch -r` does (a Date or a float keeps only part of it): only its ctime, or a rehash, sees it.
 */
export const flipFirstByte = (file: string, keepMtime: boolean): void => {
  const reference = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cairn-stamp-")), "reference")
  if (keepMtime) execFileSync("cp", ["--preserve=timestamps", file, reference])
  const bytes = fs.readFileSync(file)
  bytes[0] = bytes[0]! ^ 0x20
  fs.writeFileSync(file, bytes)
  if (keepMtime) {
    execFileSync("touch", ["-r", reference, file])
    fs.rmSync(path.dirname(reference), { recursive: true })
  }
}

/** What the chain pipeline published from `other` (its right content: "t:Hello World\nSecond File"). */
export const taggedOutput = (dir: string): string => fs.readFileSync(path.join(dir, "out/other/tagged.txt"), "utf8")

/** A pipeline file running `stages` (named exports of the given modules) with `params`. */
export const pipelineFile = (name: string, imports: Record<string, string>, params: Record<string, unknown>): string => `
import { definePipeline } from "@cairn"
${Object.entries(imports)
  .map(([stage, mod]) => `import { ${stage} } from "${mod}"`)
  .join("\n")}
export default definePipeline({ name: ${JSON.stringify(name)}, stages: [${Object.keys(imports).join(", ")}], params: ${JSON.stringify(params)} })
`
