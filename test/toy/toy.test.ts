/**
 * The toy pipeline (test/toy/pipeline.ts: generated stripe images, three classes, cross-entropy,
 * a narrow three-channel ResNet) through the CLI in a throwaway project, on the same engine
 * service as the HMS stages: the run succeeds, the model beats chance, a rerun is all cached, and
 * the whole thing takes well under a minute on two cores.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { cliAsync, makeProject, REPO, removeProjects, statuses } from "../core/helpers.js"

const TOY = path.join(REPO, "test/toy")
/** The repo-relative imports of the toy files (`../../src/x.js`, `../../../src/x.js`), made absolute. */
const SRC_IMPORT = /(["'])(?:\.\.\/)+src\/([^"']+)\.js\1/g

/** The toy's pipeline and stages, laid out as in the repo, importing cairn from this checkout. */
const toyFiles = (): Record<string, string> => {
  const files: Record<string, string> = {}
  for (const rel of ["pipeline.ts", ...fs.readdirSync(path.join(TOY, "stages")).map((f) => `stages/${f}`)]) {
    files[rel] = fs.readFileSync(path.join(TOY, rel), "utf8").replace(SRC_IMPORT, (_, q: string, mod: string) => `${q}${path.join(REPO, "src", `${mod}.ts`)}${q}`)
  }
  return files
}

afterAll(removeProjects)

/** The toy must stay quick: both runs, CLI start-up and worker threads included. */
const BUDGET_MS = 60_000

describe("toy pipeline (not HMS) through the CLI", () => {
  it("trains above chance, reruns fully cached, and fits the time budget", async () => {
    const dir = makeProject(toyFiles())
    const t0 = Date.now()
    const first = await cliAsync(dir, ["run", "pipeline.ts", "--json", "r1.json"]).done
    const firstMs = Date.now() - t0
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

    const second = await cliAsync(dir, ["run", "pipeline.ts", "--json", "r2.json"]).done
    const totalMs = Date.now() - t0
    expect(second.code, second.stdout + second.stderr).toBe(0)
    expect(Object.values(statuses(path.join(dir, "r2.json")))).toEqual(["cached", "cached", "cached"])
    expect(totalMs, `first run ${firstMs} ms, both ${totalMs} ms`).toBeLessThan(BUDGET_MS)
  }, 2 * BUDGET_MS)
})
