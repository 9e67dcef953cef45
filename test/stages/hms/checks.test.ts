/**
 * Issue 24's unclear errors of the HMS pipeline, through the runner on a small synthetic dataset
 * read in place as the Kaggle folder (pipelines/hms-baseline.ts up to train/fold-0):
 * - a test.csv naming a missing spectrogram fails `check-testset` before any fold trains (it was
 *   found by `infer` only, after all training);
 * - a given checkpoint with 5 outputs, or with NaN weights, fails naming the user's file (not the
 *   run's temporary copy, and not `cannot hash the value at metrics.best_val_loss: NaN`);
 * - training that diverges fails its fold saying where and what to do;
 * - OOF scoring checks each fold's prediction table before use.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as tf from "@tensorflow/tfjs"
import { Effect, Either, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { loadPipeline } from "../../../src/cli/project.js"
import { parseOverride, planPipeline, restrictPlan } from "../../../src/core/pipeline/index.js"
import { collectingReporter, Reporter } from "../../../src/core/reporter.js"
import { runPlan } from "../../../src/core/runner.js"
import { storeLayer } from "../../../src/core/store/store-layer.js"
import { saveCheckpoint, stateDictTensors } from "../../../src/ml/model/checkpoint.js"
import { buildResNet } from "../../../src/ml/model/resnet.js"
import { writeSafetensors } from "../../../src/ml/model/safetensors.js"
import { SAMPLE_SUBMISSION_CSV, TEST_CSV, TEST_SPECTROGRAMS_DIR, VOTE_COLUMNS } from "../../../stages/hms/constants.js"
import { writeSynthDataset } from "../../../stages/hms/synth/index.js"
import { readValPredictions } from "../../../stages/hms/tables.js"
import { writeArrowTable } from "../../../src/data/arrow.js"

const REPO = path.resolve(__dirname, "../../..")
const root = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-hms-checks-"))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))
const clean = path.join(root, "clean")

/** Small and quick: a random init (no download), resnet18d at 32 px, one epoch. */
const QUICK = ["pretrained=", "model=resnet18d", "img_size=32", "batch_size=4", "epochs=1"]

beforeAll(async () => {
  await tf.setBackend("cpu")
  await Effect.runPromise(writeSynthDataset(clean, { trainSpectrograms: 30, testSpectrograms: 3, seed: 11 }))
})

const variant = (name: string, edit: (dir: string) => void): string => {
  const dir = path.join(root, name)
  fs.cpSync(clean, dir, { recursive: true })
  edit(dir)
  return dir
}

const run = (data: string, params: ReadonlyArray<string> = []) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const pipeline = yield* loadPipeline(path.join(REPO, "pipelines/hms-baseline.ts"))
      const overrides = [`data=${data}`, ...QUICK, ...params].map((p) => Either.getOrThrow(parseOverride(p)))
      const plan = yield* planPipeline(pipeline, overrides)
      const only = Either.getOrThrow(restrictPlan(plan, ["train/fold-0"]))
      const collected = collectingReporter()
      const report = yield* runPlan(only, { jobs: 2, force: [] }).pipe(Effect.provide(Layer.succeed(Reporter, collected.reporter)))
      const stage = (id: string) => report.stages.find((s) => s.id === id)
      return { report, stage }
    }).pipe(Effect.provide(storeLayer(path.join(root, "cache"), REPO))),
  )

/** test.csv's data rows, split. */
const testRows = (dir: string): Array<Array<string>> =>
  fs
    .readFileSync(path.join(dir, TEST_CSV), "utf8")
    .trimEnd()
    .split("\n")
    .slice(1)
    .map((l) => l.split(","))

describe("the test folder is checked before any fold trains", () => {
  it("a test.csv row naming a missing spectrogram fails check-testset, naming the row and the file; no fold starts", async () => {
    let missing = ""
    const data = variant("missing-test-spectrogram", (d) => {
      missing = path.join(d, TEST_SPECTROGRAMS_DIR, `${testRows(d)[1]![0]}.parquet`)
      fs.rmSync(missing)
    })
    const r = await run(data)
    expect(r.stage("check-testset")?.status).toBe("failed")
    expect(r.stage("check-testset")?.error).toContain(
      `${path.join(data, TEST_CSV)}: data row 2 (line 3) names spectrogram_id ${testRows(data)[1]![0]}, but ${missing} does not exist`,
    )
    expect(r.stage("train/fold-0")?.status).toBe("skipped")
  })

  it("a truncated test spectrogram, and a sample_submission eeg_id missing from test.csv, fail there too", async () => {
    const truncated = variant("truncated-test-spectrogram", (d) => {
      const f = path.join(d, TEST_SPECTROGRAMS_DIR, `${testRows(d)[0]![0]}.parquet`)
      fs.truncateSync(f, Math.floor(fs.statSync(f).size / 2))
    })
    const a = await run(truncated)
    expect(a.stage("check-testset")?.error).toMatch(
      /data row 1 \(line 2\) names spectrogram_id \d+, but .*\.parquet does not end as a parquet file does \(PAR1\): truncated\?/,
    )
    expect(a.stage("train/fold-0")?.status).toBe("skipped")

    const unknownEeg = variant("unknown-eeg", (d) => fs.appendFileSync(path.join(d, SAMPLE_SUBMISSION_CSV), "4242,0.1,0.1,0.1,0.1,0.1,0.5\n"))
    const b = await run(unknownEeg)
    expect(b.stage("check-testset")?.error).toContain(`${path.join(unknownEeg, SAMPLE_SUBMISSION_CSV)}: row 4, eeg_id 4242: eeg_id is not in test.csv`)
    expect(b.stage("train/fold-0")?.status).toBe("skipped")
  })
})

describe("given checkpoints are checked before use, and named as the user knows them", () => {
  const weights = (name: string) => {
    const dir = path.join(root, name)
    fs.mkdirSync(dir, { recursive: true })
    return { dir, file: path.join(dir, "best_model_fold0.safetensors") }
  }

  it("a checkpoint with 5 outputs fails train/fold-0 naming the file in DIR, expected [batch, 6] vs found [batch, 5]", async () => {
    const w = weights("five-classes")
    const five = buildResNet({ variant: "resnet18d", inChans: 1, numClasses: 5 }, 1)
    await Effect.runPromise(saveCheckpoint(five, w.file))
    five.dispose()
    const r = await run(clean, [`checkpoints=${w.dir}`])
    const error = r.stage("train/fold-0")?.error ?? ""
    expect(r.stage("train/fold-0")?.status).toBe("failed")
    expect(error).toContain(`model ${w.file}: its output is [batch, 5] (fc.weight [5, 512]), expected [batch, 6] (one logit per class)`)
    // Not the run's working copy (`.../tmp/<pid>-train_fold-0-.../best_model_fold0.safetensors`).
    expect(error).not.toContain(path.join(root, "cache"))
  })

  it("all-NaN weights fail naming the file and tensor, not `cannot hash the value at metrics.best_val_loss: NaN`", async () => {
    const w = weights("nan-weights")
    const model = buildResNet({ variant: "resnet18d", inChans: 1, numClasses: 6 }, 1)
    await Effect.runPromise(
      writeSafetensors(
        w.file,
        stateDictTensors(model).map((t) => (t.dtype === "F32" ? { ...t, data: new Float32Array(t.data.length).fill(Number.NaN) } : t)),
      ),
    )
    model.dispose()
    const r = await run(clean, [`checkpoints=${w.dir}`])
    const error = r.stage("train/fold-0")?.error ?? ""
    expect(error).toMatch(new RegExp(`checkpoint ${w.file}, tensor conv1\\.0\\.weight \\(values\\): \\d+ of \\d+ values are NaN or infinite`))
    expect(error).not.toContain("cannot hash")
  })
})

describe("training that diverges", () => {
  it("fails its fold with where the loss became NaN and the way out", async () => {
    const r = await run(clean, ["lr=1e30"])
    expect(r.stage("train/fold-0")?.status).toBe("failed")
    expect(r.stage("train/fold-0")?.error).toMatch(
      /fold 0: the training loss became (NaN|Infinity|-Infinity) at epoch 1 step \d+ \(lr [\d.e+]+\): training diverged; lower lr/,
    )
  })
})

describe("OOF scoring checks each fold's predictions before use", () => {
  const NAME = "val_predictions.arrow (output of train/fold-0)"
  const table = (name: string, columns: ReadonlyArray<string>, value = 1 / 6) => {
    const file = path.join(root, name)
    return Effect.runPromise(
      Effect.as(
        writeArrowTable(file, { label_id: Float64Array.of(7, 8), ...Object.fromEntries(columns.map((c) => [c, Float64Array.of(1 / 6, value)])) }),
        file,
      ),
    )
  }
  const read = async (file: string) => Effect.runPromise(Effect.either(readValPredictions(file, NAME)))

  it("a model's table with the six classes is read", async () => {
    const r = await read(await table("six.arrow", VOTE_COLUMNS))
    expect(Either.isRight(r) && r.right.rows).toBe(2)
  })

  it("a table with 5 or 7 class columns, or a NaN probability, names the fold's file and what was expected", async () => {
    const five = await read(await table("five.arrow", VOTE_COLUMNS.slice(0, 5)))
    expect(Either.isLeft(five) && five.left.message).toBe(
      `${NAME}: expected columns [label_id, ${VOTE_COLUMNS.join(", ")}], found [label_id, ${VOTE_COLUMNS.slice(0, 5).join(", ")}]: ` +
        "the fold model was made for another task or configuration; retrain it (--force train)",
    )
    const seven = await read(await table("seven.arrow", [...VOTE_COLUMNS, "extra_vote"]))
    expect(Either.isLeft(seven) && seven.left.message).toContain(`found [label_id, ${VOTE_COLUMNS.join(", ")}, extra_vote]`)
    const nan = await read(await table("nan.arrow", VOTE_COLUMNS, Number.NaN))
    expect(Either.isLeft(nan) && nan.left.message).toContain(`${NAME}: expected probabilities in [0, 1], found seizure_vote = NaN at row 2 (label_id 8)`)
  })
})
