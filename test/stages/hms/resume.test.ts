/**
 * Resuming a fold's training (issue #22): `cairn run pipelines/hms-quick.ts` (tiny: 32 px, 4
 * epochs, 5 folds, one at a time) killed with SIGKILL of the whole process right after fold 1's
 * epoch 2 was saved (the failpoint `progress-saved:train/fold-1:2`: exactly a `kill -9`, at an
 * event, not a time),
 * then run again, continues fold 1 from epoch 2, trains only epochs 3-4, and ends with the result
 * of an uninterrupted run to the bit: the same cv_score text, the same stored outputs of every fold
 * (checkpoint, ONNX, predictions, history: one output hash) and the same submission.csv. A damaged
 * progress record is skipped with one line and the fold continues from the record before it; a save
 * killed before its record leaves the one before it; `--no-resume` starts over: all to the same bits.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { localLayout } from "../../../src/core/store/layout.js"
import { REPO, spawnCli } from "../../support/helpers.js"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-resume-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 5 }))

/** Outer bound of one CLI run (five tiny folds); not the expected time. */
const RUN_MS = 10 * 60_000
const FOLDS = 5
const PARAMS = ["spectrograms=40", "test_spectrograms=3", "max_rows=25", "img_size=32", "epochs=4", "batch_size=4"].flatMap((p) => ["--param", p])

const run = (name: string, extra: ReadonlyArray<string> = [], env: Record<string, string> = {}) => {
  const dir = path.join(tmp, name)
  return spawnCli(
    REPO,
    [
      "run",
      "pipelines/hms-quick.ts",
      ...PARAMS,
      "--jobs",
      "1",
      "--cache-dir",
      path.join(dir, "cache"),
      "--out",
      path.join(dir, "out"),
      "--json",
      path.join(dir, "report.json"),
      ...extra,
    ],
    { ...process.env, CAIRN_NO_FAST_PATH: "1", ...env },
    RUN_MS,
  )
}

interface Report {
  readonly ok: boolean
  readonly stages: ReadonlyArray<{ id: string; status: string; key: string | null; resumedFromEpoch?: number }>
}
const report = (name: string): Report => JSON.parse(fs.readFileSync(path.join(tmp, name, "report.json"), "utf8"))
const cvLine = (out: string) => /cv_score = \S+/.exec(out)?.[0]
const submission = (name: string) => fs.readFileSync(path.join(tmp, name, "out", "out/hms-quick/submission/submission.csv"))

/** Each train fold's stored output hash (files, value and metrics), from its run record. */
const foldOutputs = (name: string): Record<string, string> => {
  const layout = localLayout(path.join(tmp, name, "cache"))
  return Object.fromEntries(
    report(name)
      .stages.filter((s) => s.id.startsWith("train/"))
      .map((s) => [s.id, JSON.parse(fs.readFileSync(layout.record(s.key!), "utf8")).output.hash as string]),
  )
}

/** The lines fold 1 printed. */
const fold1Lines = (out: string) => out.split("\n").filter((l) => l.startsWith("[train/fold-1]"))
const trainedEpochs = (out: string) =>
  fold1Lines(out)
    .flatMap((l) => /\] epoch (\d+): train loss/.exec(l)?.[1] ?? [])
    .map(Number)

/** Kills the run with SIGKILL once fold 1's epoch 2 is saved; what the killed run left behind. */
const killAfterFold1Epoch2 = async (name: string, point = "progress-saved") => {
  // One fold at a time (--jobs 1): when fold 1 is killed, no other fold is half-trained.
  const killed = await run(name, [], { CAIRN_FAILPOINT: `${point}:train/fold-1:2` })
  expect(killed.code, killed.stdout + killed.stderr).toBe(-1)
  expect(trainedEpochs(killed.stdout + killed.stderr)).toEqual([1, 2])
  return killed
}

let cold: { code: number; stdout: string; stderr: string }

describe("resume a fold's training after kill -9", () => {
  beforeAll(async () => {
    cold = await run("cold")
  }, RUN_MS)

  it(
    "continues from the last epoch saved, trains only the rest, and ends bit for bit as an uninterrupted run",
    async () => {
      expect(cold.code, cold.stdout + cold.stderr).toBe(0)
      expect(cvLine(cold.stdout)).toBeDefined()
      await killAfterFold1Epoch2("killed")

      // `cairn status` shows the interrupted fold with its saved progress.
      const status = await spawnCli(REPO, ["status", "pipelines/hms-quick.ts", ...PARAMS, "--cache-dir", path.join(tmp, "killed", "cache")], process.env)
      expect(status.stdout).toMatch(/STALE\s+train\/fold-1\s+partial: epoch 2\/4, saved \d+ (s|min) ago/)

      // gc keeps the progress of a key that has no result yet.
      const gc = await spawnCli(REPO, ["gc", "--cache-dir", path.join(tmp, "killed", "cache")], process.env)
      expect(gc.code, gc.stderr).toBe(0)
      const progressDir = localLayout(path.join(tmp, "killed", "cache")).progressDir
      const progressFiles = () =>
        fs.existsSync(progressDir) ? fs.readdirSync(progressDir, { recursive: true }).filter((f) => String(f).endsWith(".json")) : []
      // Killed right after epoch 2's record was written: epoch 1's is still there (a save drops it after its own record).
      expect(
        progressFiles()
          .map((f) => path.basename(String(f)))
          .sort(),
      ).toEqual(["000001.json", "000002.json"])

      const resumed = await run("killed")
      const out = resumed.stdout + resumed.stderr
      expect(resumed.code, out).toBe(0)
      expect(fold1Lines(out)).toContainEqual(expect.stringMatching(/^\[train\/fold-1\] resumed from epoch 2 of 4 \(saved /))
      expect(trainedEpochs(out)).toEqual([3, 4])
      const stages = report("killed").stages
      expect(stages.find((s) => s.id === "train/fold-1")).toMatchObject({ status: "ran", resumedFromEpoch: 2 })
      // Folds finished before the kill are cached, those not started train whole: only fold 1 resumes.
      expect(stages.filter((s) => s.resumedFromEpoch !== undefined).map((s) => s.id)).toEqual(["train/fold-1"])

      expect(cvLine(resumed.stdout)).toBe(cvLine(cold.stdout))
      expect(foldOutputs("killed")).toEqual(foldOutputs("cold"))
      expect(Object.keys(foldOutputs("cold"))).toHaveLength(FOLDS)
      expect(submission("killed").equals(submission("cold"))).toBe(true)
      // Committed: its progress is gone.
      expect(progressFiles()).toHaveLength(0)
    },
    4 * RUN_MS,
  )

  it(
    "skips a damaged progress record (one line) and continues from the one before it, to the same bits",
    async () => {
      expect(cold.code, cold.stdout + cold.stderr).toBe(0)
      await killAfterFold1Epoch2("damaged")
      // Flip one byte of epoch 2's state file: epoch 1's record (still there, see above) names another.
      const layout = localLayout(path.join(tmp, "damaged", "cache"))
      const newest = fs
        .readdirSync(layout.progressDir, { recursive: true })
        .map(String)
        .find((f) => f.endsWith("000002.json"))!
      const record = JSON.parse(fs.readFileSync(path.join(layout.progressDir, newest), "utf8")) as { key: string; files: Record<string, { hash: string }> }
      const blob = layout.progressBlob(record.key, record.files["state.safetensors"]!.hash)
      fs.chmodSync(blob, 0o644)
      const bytes = fs.readFileSync(blob)
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1
      fs.writeFileSync(blob, bytes)
      const again = await run("damaged")
      const out = again.stdout + again.stderr
      expect(again.code, out).toBe(0)
      const skipped = fold1Lines(out).filter((l) => l.includes("skipped"))
      expect(skipped).toEqual([
        "[train/fold-1] progress record of epoch 2 skipped (its file state.safetensors does not hash to what the record says): resuming from epoch 1",
      ])
      expect(fold1Lines(out)).toContainEqual(expect.stringMatching(/resumed from epoch 1 of 4/))
      expect(trainedEpochs(out)).toEqual([2, 3, 4])
      expect(cvLine(again.stdout)).toBe(cvLine(cold.stdout))
      expect(foldOutputs("damaged")).toEqual(foldOutputs("cold"))
    },
    3 * RUN_MS,
  )

  it(
    "a save killed before its record is written leaves the previous record: the fold resumes from epoch 1",
    async () => {
      expect(cold.code, cold.stdout + cold.stderr).toBe(0)
      await killAfterFold1Epoch2("torn", "progress-blobs")
      const again = await run("torn")
      const out = again.stdout + again.stderr
      expect(again.code, out).toBe(0)
      expect(fold1Lines(out)).toContainEqual(expect.stringMatching(/resumed from epoch 1 of 4/))
      expect(trainedEpochs(out)).toEqual([2, 3, 4])
      expect(foldOutputs("torn")).toEqual(foldOutputs("cold"))
    },
    3 * RUN_MS,
  )

  it(
    "--no-resume starts the interrupted fold over",
    async () => {
      expect(cold.code, cold.stdout + cold.stderr).toBe(0)
      await killAfterFold1Epoch2("over")
      const fresh = await run("over", ["--no-resume"])
      const out = fresh.stdout + fresh.stderr
      expect(fresh.code, out).toBe(0)
      expect(out).not.toContain("resumed from")
      expect(trainedEpochs(out)).toEqual([1, 2, 3, 4])
      expect(foldOutputs("over")).toEqual(foldOutputs("cold"))
    },
    3 * RUN_MS,
  )
})
