/**
 * `hms-quick` end to end through the CLI, with a very small row cap: synthetic data -> folds ->
 * windows -> five fold models -> OOF score -> submission.csv and the run report. Then the same
 * models on the real competition test sample (shared/fixtures/hms-real), when it is there.
 *
 * The pipeline runs once, in `beforeAll`, into a cache shared by the file; each test reads that run
 * and writes only under its own folder, so any test passes alone (`-t`) or in any order.
 *
 * Each CLI run trains or scores five folds: about a minute on an idle 2-core machine, several on a
 * busy one. The hook and the tests have their own generous timeouts (outer bounds only), and the
 * temp folder is removed only once every CLI process this file started has exited (a run cut off by
 * a timeout would still be writing into it).
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { SUBMISSION_COLUMNS } from "../../../stages/hms/constants.js"

const REPO = path.resolve(__dirname, "../../..")
const BIN = path.join(REPO, "bin", "cairn.js")
const REAL = process.env.CAIRN_HMS_REAL_DIR ?? path.join(REPO, "test", "fixtures", "hms-real")
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-e2e-"))

/** Outer bound of the base run (the hook) and of each test (one or two CLI runs); not the expected time. */
const RUN_MS = 15 * 60_000
/** How long a CLI process stopped by SIGTERM has to finish its finalizers before it is killed. */
const STOP_MS = 30_000

/** The CLI processes still running. */
const children = new Set<ChildProcess>()
const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once("exit", () => resolve()))

afterAll(async () => {
  // A run cut off by a timeout is stopped as Ctrl-C would (its finalizers remove their staging), then killed.
  await Promise.all(
    [...children].map(async (child) => {
      child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_MS)
      await exited(child)
      clearTimeout(timer)
    }),
  )
  fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 5 })
}, 2 * STOP_MS)

/** Tiny but complete: 40 spectrograms, 25 rows kept, 32x32 images, one epoch, five folds. */
const SMALL = ["spectrograms=40", "test_spectrograms=3", "max_rows=25", "img_size=32", "epochs=1", "batch_size=4"].flatMap((p) => ["--param", p])
/** Runs the CLI without blocking this process (a long synchronous spawn starves vitest's RPC). */
const cairn = (args: ReadonlyArray<string>) =>
  new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args, "--cache-dir", path.join(tmp, "cache")], { cwd: REPO })
    children.add(child)
    let out = ""
    child.stdout.on("data", (d) => (out += d))
    child.stderr.on("data", (d) => (out += d))
    child.on("exit", (code) => {
      children.delete(child)
      resolve({ code, out })
    })
  })

const readCsv = (file: string) => {
  const [header, ...rows] = fs.readFileSync(file, "utf8").trimEnd().split("\n")
  return { header: header!.split(","), rows: rows.map((r) => r.split(",")) }
}

const checkSubmission = (file: string, sampleFile: string) => {
  const sub = readCsv(file)
  const sample = readCsv(sampleFile)
  expect(sub.header).toEqual([...SUBMISSION_COLUMNS])
  expect(sub.rows.map((r) => r[0])).toEqual(sample.rows.map((r) => r[0]))
  for (const row of sub.rows) {
    const p = row.slice(1).map(Number)
    expect(p).toHaveLength(6)
    for (const v of p) expect(v >= 0 && v <= 1).toBe(true)
    expect(Math.abs(p.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-6)
  }
}

type RunReport = { stages: Array<{ id: string; status: string }>; metrics: Record<string, number> }
const readJson = (file: string): RunReport => JSON.parse(fs.readFileSync(file, "utf8"))

/** The synthetic run every test starts from: trains the five folds into the shared cache. */
const BASE_OUT = path.join(tmp, "base")
const BASE_JSON = path.join(tmp, "base.json")
let base: { code: number | null; out: string }

describe("hms-quick end to end", () => {
  beforeAll(async () => {
    base = await cairn(["run", "pipelines/hms-quick.ts", ...SMALL, "--out", BASE_OUT, "--json", BASE_JSON])
  }, RUN_MS)

  /** The base run's report, once it is known to have succeeded. */
  const baseReport = (): RunReport => {
    expect(base.code, base.out).toBe(0)
    return readJson(BASE_JSON)
  }

  it(
    "synthetic data -> submission.csv, report and CV through `cairn run`",
    async () => {
      const report = baseReport()
      expect(report.stages.map((s) => s.id)).toContain("train/fold-4")
      expect(report.stages.every((s) => s.status === "ran")).toBe(true)
      expect(report.metrics.cv_score).toBeGreaterThan(0)
      expect(report.metrics.prior_baseline).toBeGreaterThan(0)
      expect(base.out).toMatch(/cv_score = [\d.]+/)
      expect(base.out).toMatch(/prior_baseline = [\d.]+/)

      // The dataset the run generated, for sample_submission's eeg_id order.
      const data = path.join(fs.mkdtempSync(path.join(tmp, "synth-")), "data")
      expect((await cairn(["export", "pipelines/hms-quick.ts", "synth-data", data, ...SMALL])).code).toBe(0)
      checkSubmission(path.join(BASE_OUT, "out/hms-quick/submission/submission.csv"), path.join(data, "sample_submission.csv"))
      const oof = readCsv(path.join(BASE_OUT, "out/hms-quick/oof/oof.csv"))
      expect(oof.header).toEqual(["label_id", ...SUBMISSION_COLUMNS.slice(1)])
      expect(oof.rows).toHaveLength(25)
      const page = fs.readFileSync(path.join(BASE_OUT, "out/hms-quick/report/report.html"), "utf8")
      expect(page).toContain("hms-quick")
      for (const chart of ["dag", "loss-curves", "confusion", "per-class-kl", "cv-vs-baseline", "stage-times"]) {
        expect(fs.existsSync(path.join(BASE_OUT, "out/hms-quick/report/charts", `${chart}.svg`))).toBe(true)
      }
    },
    RUN_MS,
  )

  it(
    "--param checkpoints=DIR uses given fold weights instead of training, and scores them identically",
    async () => {
      const trained = baseReport()
      const dir = fs.mkdtempSync(path.join(tmp, "ckpt-"))
      const exported = path.join(dir, "models")
      expect((await cairn(["export", "pipelines/hms-quick.ts", "train", exported, ...SMALL])).code).toBe(0)
      const weights = path.join(dir, "weights")
      fs.mkdirSync(weights)
      for (let k = 0; k < 5; k++) {
        const file = `best_model_fold${k}.safetensors`
        fs.copyFileSync(path.join(exported, "train", `fold-${k}`, file), path.join(weights, file))
      }
      const out = path.join(dir, "out")
      const json = path.join(dir, "run.json")
      const r = await cairn(["run", "pipelines/hms-quick.ts", ...SMALL, "--param", `checkpoints=${weights}`, "--out", out, "--json", json])
      expect(r.code, r.out).toBe(0)
      const given = readJson(json)
      expect(given.stages.find((s) => s.id === "train/fold-0")?.status).toBe("ran")
      // Same weights, same backend: the out-of-fold predictions and the CV are the same, bit for bit.
      expect(given.metrics.cv_score).toBe(trained.metrics.cv_score)
      expect(fs.readFileSync(path.join(out, "out/hms-quick/oof/oof.csv"), "utf8")).toBe(
        fs.readFileSync(path.join(BASE_OUT, "out/hms-quick/oof/oof.csv"), "utf8"),
      )
    },
    RUN_MS,
  )

  it.skipIf(!fs.existsSync(path.join(REAL, "test.csv")))(
    "the same models score the real competition test sample",
    async () => {
      baseReport()
      const dir = fs.mkdtempSync(path.join(tmp, "real-"))
      const out = path.join(dir, "out")
      const json = path.join(dir, "run.json")
      const r = await cairn(["run", "pipelines/hms-quick-real-test.ts", ...SMALL, "--param", `test_data=${REAL}`, "--out", out, "--json", json])
      expect(r.code, r.out).toBe(0)
      const statuses = Object.fromEntries(readJson(json).stages.map((s) => [s.id, s.status]))
      // The base run trained the folds; this pipeline reuses them from the cache.
      expect(statuses["train/fold-0"]).toBe("cached")
      expect(statuses.infer).toBe("ran")
      checkSubmission(path.join(out, "out/hms-quick-real-test/submission/submission.csv"), path.join(REAL, "sample_submission.csv"))
    },
    RUN_MS,
  )
})
