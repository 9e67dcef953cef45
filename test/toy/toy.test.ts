/**
 * The toy pipeline (test/toy/pipeline.ts: generated stripe images, three classes, cross-entropy,
 * a narrow three-channel ResNet) through the CLI in a throwaway project, on the same engine
 * service as the HMS stages: the run succeeds, the model beats chance, a rerun is all cached, and
 * the whole thing takes well under a minute of CPU time.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import type { Readable } from "node:stream"
import { afterAll, describe, expect, it } from "vitest"
import { BIN, type CliResult, makeProject, REPO, removeProjects, statuses } from "../support/helpers.js"

const TOY = path.join(REPO, "test/toy")
/**
 * The toy files import cairn by its package name (`cairn`, `cairn/ml`, ...), which resolves only inside
 * this checkout: in the throwaway project each becomes the absolute path of the file package.json's
 * `exports` names for it.
 */
const CAIRN_IMPORT = /(["'])(cairn(?:\/[\w-]+)?)\1/g
const CAIRN_EXPORTS = (JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as { exports: Record<string, string> }).exports
const cairnFile = (specifier: string): string => {
  const target = CAIRN_EXPORTS[`.${specifier.slice("cairn".length)}`]
  if (target === undefined) throw new Error(`package.json exports no ${specifier}`)
  return path.join(REPO, target)
}

/** The toy's pipeline and stages, laid out as in the repo, importing cairn from this checkout. */
const toyFiles = (): Record<string, string> => {
  const files: Record<string, string> = {}
  for (const rel of ["pipeline.ts", ...fs.readdirSync(path.join(TOY, "stages")).map((f) => `stages/${f}`)]) {
    files[rel] = fs.readFileSync(path.join(TOY, rel), "utf8").replace(CAIRN_IMPORT, (_, q: string, spec: string) => `${q}${cairnFile(spec)}${q}`)
  }
  return files
}

afterAll(removeProjects)

/**
 * The toy must stay quick: both runs, CLI start-up and worker threads included, in CPU time (user +
 * system), which a busy machine does not stretch as it does the wall time.
 */
const BUDGET_MS = 60_000

/**
 * `cairn ...args` in `dir`, with the CPU time it used (its threads included): the shell's `times`
 * prints its own user and system time, then its children's ("0m1.70s 0m0.02s"), here on fd 3.
 */
const timedCli = (dir: string, args: ReadonlyArray<string>): Promise<CliResult & { cpuMs: number }> =>
  new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", '"$@"; code=$?; times >&3; exit $code', "sh", process.execPath, BIN, ...args], {
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe", "pipe"],
    })
    const timesOut = child.stdio[3] as Readable
    let [stdout, stderr, times] = ["", "", ""]
    child.stdout?.on("data", (d) => (stdout += d))
    child.stderr?.on("data", (d) => (stderr += d))
    timesOut.on("data", (d) => (times += d))
    child.once("error", reject)
    child.once("close", (code) => {
      const seconds = [...(times.trim().split("\n")[1] ?? "").matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]))
      if (seconds.length !== 2) reject(new Error(`unreadable output of the shell's times: ${JSON.stringify(times)}`))
      else resolve({ code: code ?? -1, stdout, stderr, cpuMs: Math.round(1000 * (seconds[0]! + seconds[1]!)) })
    })
  })

describe("toy pipeline (not HMS) through the CLI", () => {
  it(
    "trains above chance, reruns fully cached, and fits the time budget",
    async () => {
      const dir = makeProject(toyFiles())
      const first = await timedCli(dir, ["run", "pipeline.ts", "--json", "r1.json"])
      expect(first.code, first.stdout + first.stderr).toBe(0)
      const report = JSON.parse(fs.readFileSync(path.join(dir, "r1.json"), "utf8")) as {
        stages: Array<{ id: string; status: string }>
        metrics: Record<string, number>
      }
      expect(report.stages.map((s) => [s.id, s.status])).toEqual([
        ["toy-data", "ran"],
        ["toy-train", "ran"],
        ["toy-eval", "ran"],
      ])
      // three classes: chance is 1/3 accuracy and log(3) cross-entropy
      expect(report.metrics.val_accuracy).toBeGreaterThan(0.6)
      expect(report.metrics.test_accuracy).toBeGreaterThan(0.6)
      expect(report.metrics.val_loss).toBeLessThan(Math.log(3))
      expect(report.metrics.last_train_loss).toBeLessThan(report.metrics.first_train_loss! / 2)
      expect(first.stdout).toMatch(/test_accuracy = [\d.]+/)

      const second = await timedCli(dir, ["run", "pipeline.ts", "--json", "r2.json"])
      expect(second.code, second.stdout + second.stderr).toBe(0)
      expect(Object.values(statuses(path.join(dir, "r2.json")))).toEqual(["cached", "cached", "cached"])
      expect(first.cpuMs + second.cpuMs, `CPU time: first run ${first.cpuMs} ms, second ${second.cpuMs} ms`).toBeLessThan(BUDGET_MS)
      // Its wall time is bounded only by the test's timeout, an outer bound for a busy machine.
    },
    10 * BUDGET_MS,
  )
})
