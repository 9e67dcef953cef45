/**
 * Shared by the cache-attack tests: a small project, a `cairn run` through either the full path
 * or the no-op fast path, and what a run did. Every attack runs on both paths and must give the
 * same outcome on each (the fast path replays a run only when the full path would run nothing).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fixtureFiles } from "../core/fixture-project.js"
import { type CliResult, cliAsync, makeProject } from "../core/helpers.js"

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
export const cairn = (dir: string, args: ReadonlyArray<string>, env: Record<string, string> = {}): Promise<CliResult> =>
  cliAsync(dir, args, env).done

/**
 * `cairn run <pipeline> ...args` on the given path, with a fixed report file (so the fast path's
 * invocation stays the same between runs) and `--verbose` (causes on stderr).
 */
export const run = async (dir: string, via: CachePath, pipeline: string, args: ReadonlyArray<string> = [], env: Record<string, string> = {}): Promise<RunResult> => {
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

/** Every stage of the run was served from the cache. */
export const allCached = (r: RunResult): boolean => r.stages.length > 0 && r.stages.every((s) => s.status === "cached")

/** Ids of the stages that ran. */
export const ran = (r: RunResult): Array<string> => r.stages.filter((s) => s.status === "ran").map((s) => s.id)

/** Writes a project file as an editor would (`@cairn` stands for this checkout's index). */
export { writeFile as edit } from "../core/helpers.js"

/** Files under the store's objects folder. */
export const storedObjects = (dir: string): Array<string> => {
  const root = path.join(dir, "cache", "objects")
  if (!fs.existsSync(root)) return []
  return fs.readdirSync(root).flatMap((s) => fs.readdirSync(path.join(root, s)).map((f) => path.join(root, s, f)))
}

/** A pipeline file running `stages` (named exports of the given modules) with `params`. */
export const pipelineFile = (name: string, imports: Record<string, string>, params: Record<string, unknown>): string => `
import { definePipeline } from "@cairn"
${Object.entries(imports)
  .map(([stage, mod]) => `import { ${stage} } from "${mod}"`)
  .join("\n")}
export default definePipeline({ name: ${JSON.stringify(name)}, stages: [${Object.keys(imports).join(", ")}], params: ${JSON.stringify(params)} })
`
