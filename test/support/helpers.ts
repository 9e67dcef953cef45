import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { KEY_FORMAT, type KeyRecord } from "../../src/core/key.js"

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..")
export const CAIRN_INDEX = path.join(REPO, "src/index.ts")
export const BIN = path.join(REPO, "bin/cairn.js")

/**
 * A throwaway project: files written under a temp dir with a package.json and the repo's
 * node_modules linked in; stage files import cairn from this checkout by absolute path.
 */
const made: Array<string> = []

/** The processes `cliAsync` started that are still running, with the folder each runs in. */
const live = new Map<ChildProcess, string>()

/**
 * Removes every project made by this test file (call in afterAll). A process a failed test left
 * running in one is killed first (it would write into the folder as it goes: ENOTEMPTY), and the
 * removal is retried while the killed process exits; tests that start processes await their exit.
 */
export const removeProjects = () => {
  for (const dir of made.splice(0)) {
    for (const [child, cwd] of live) if (cwd === dir || cwd.startsWith(`${dir}${path.sep}`)) child.kill("SIGKILL")
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 10 })
  }
}

export const makeProject = (files: Record<string, string>): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-test-"))
  made.push(dir)
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "cairn-test-project", type: "module", private: true }))
  fs.symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"))
  for (const [rel, text] of Object.entries(files)) writeFile(dir, rel, text)
  return dir
}

export const writeFile = (dir: string, rel: string, text: string) => {
  const abs = path.join(dir, rel)
  fs.mkdirSync(path.dirname(abs), { recursive: true })
  fs.writeFileSync(abs, text.replaceAll("@cairn", CAIRN_INDEX))
}

export interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs `cairn ...args` in `cwd` as a separate process (as a user would), with exactly `env` as its
 * environment. Asynchronous on purpose: a test worker blocked in a synchronous spawn for over 60 s
 * (an hms-quick run on a loaded machine) misses vitest's RPC deadline (`Timeout calling
 * "onTaskUpdate"`). Killed after `timeoutMs` (generous: an outer bound, not a timing check).
 */
export const spawnCli = (cwd: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv, timeoutMs = 600_000): Promise<CliResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"], env })
    live.set(child, path.resolve(cwd))
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.once("error", (e) => {
      clearTimeout(timer)
      live.delete(child)
      reject(e)
    })
    // "close", not "exit": the pipes are drained when it fires.
    child.once("close", (code) => {
      clearTimeout(timer)
      live.delete(child)
      resolve({ code: code ?? -1, stdout, stderr })
    })
  })

/** Runs `cairn ...args` in `cwd` with the test's environment plus `env`. */
export const cli = (cwd: string, args: ReadonlyArray<string>, env: Record<string, string> = {}): Promise<CliResult> =>
  spawnCli(cwd, args, { ...process.env, ...env })

/** Starts `cairn ...args` without waiting. */
export const cliAsync = (cwd: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } })
  live.set(child, path.resolve(cwd))
  child.once("exit", () => live.delete(child))
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (d) => (stdout += d))
  child.stderr.on("data", (d) => (stderr += d))
  const done = new Promise<CliResult>((resolve) => child.on("exit", (code) => resolve({ code: code ?? -1, stdout, stderr })))
  return { child, done, output: () => stdout + stderr }
}

/**
 * The processes a suite starts with `cliAsync`, tracked so that `stopAll` (an `afterEach`) kills
 * whatever still runs (SIGKILL) and waits for each to exit before its folders are removed.
 */
export const startedProcesses = () => {
  const running: Array<ReturnType<typeof cliAsync>> = []
  return {
    started: (p: ReturnType<typeof cliAsync>) => {
      running.push(p)
      return p
    },
    stopAll: async () => {
      for (const p of running.splice(0)) {
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL")
        await p.done
      }
    },
  }
}

/** The non-empty lines of a log file a test's stages append to; none when it does not exist yet. */
export const loggedLines = (file: string): Array<string> => (fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean) : [])

/** Polls until `cond` holds or the timeout passes. */
export const waitFor = async (cond: () => boolean, timeoutMs: number, what: string) => {
  const t0 = Date.now()
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Status of each stage in a `--json` report. */
export const statuses = (reportFile: string): Record<string, string> =>
  Object.fromEntries((JSON.parse(fs.readFileSync(reportFile, "utf8")) as { stages: Array<{ id: string; status: string }> }).stages.map((s) => [s.id, s.status]))

/** The key fields of a stage with no code, params or inputs of note (store tests that need a record). */
export const plainKeyRecord = (stage: string): KeyRecord => ({
  format: KEY_FORMAT,
  stage,
  version: 1,
  code: "c".repeat(64),
  params: {},
  inputs: {},
  env: {},
  reads: {},
  engine: { node: "20", packages: {} },
})
