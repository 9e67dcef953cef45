/**
 * The HMS data stages through the runner, on a small synthetic dataset read in place as the
 * Kaggle folder (pipelines/hms-baseline.ts up to split-spectrograms): the fold CSV and windows,
 * per-spectrogram caching, and every bad input failing with a clear error and nothing cached.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Either, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { loadPipeline } from "../../../src/cli/project.js"
import { parseOverride, planPipeline, restrictPlan } from "../../../src/core/pipeline/index.js"
import { collectingReporter, Reporter } from "../../../src/core/reporter.js"
import { runPlan } from "../../../src/core/runner.js"
import { storeLayer } from "../../../src/core/store/store-layer.js"
import { decodeNpy } from "../../../src/data/npy.js"
import { FOLD_TABLE_COLUMNS, TRAIN_CSV, TRAIN_SPECTROGRAMS_DIR } from "../../../stages/hms/constants.js"
import { writeSynthDataset } from "../../../stages/hms/synth/index.js"
import { buildFoldTable, foldTableColumns, loadTrainTable } from "../../../stages/hms/train-table.js"
import { formatCsv } from "../../../src/data/csv.js"
import { DuckDbLive } from "../../../src/data/duckdb/index.js"

const REPO = path.resolve(__dirname, "../../..")
const root = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-hms-stages-"))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))
const clean = path.join(root, "clean")

beforeAll(async () => {
  await Effect.runPromise(writeSynthDataset(clean, { trainSpectrograms: 30, testSpectrograms: 2, seed: 11 }))
})

/** A copy of the clean dataset, edited by `edit`. */
const variant = (name: string, edit: (dir: string) => void): string => {
  const dir = path.join(root, name)
  fs.cpSync(clean, dir, { recursive: true })
  edit(dir)
  return dir
}

const editCsv = (dir: string, f: (lines: Array<Array<string>>) => void) => {
  const file = path.join(dir, TRAIN_CSV)
  const rows = fs
    .readFileSync(file, "utf8")
    .trimEnd()
    .split("\n")
    .map((l) => l.split(","))
  f(rows)
  fs.writeFileSync(file, `${rows.map((r) => r.join(",")).join("\n")}\n`)
}

/** The data rows (indices into `rows`, 0 = header) that are their spectrogram's first. */
const firstRowsOfSpectrograms = (rows: ReadonlyArray<ReadonlyArray<string>>): Array<number> => {
  const seen = new Set<string>()
  const first: Array<number> = []
  rows.forEach((r, i) => {
    if (i > 0 && !seen.has(r[3]!)) {
      seen.add(r[3]!)
      first.push(i)
    }
  })
  return first
}

const run = (data: string, cache: string, target = "split-spectrograms") =>
  Effect.runPromise(
    Effect.gen(function* () {
      const pipeline = yield* loadPipeline(path.join(REPO, "pipelines/hms-baseline.ts"))
      const plan = yield* planPipeline(pipeline, [Either.getOrThrow(parseOverride(`data=${data}`))])
      const only = Either.getOrThrow(restrictPlan(plan, [target]))
      const collected = collectingReporter()
      const report = yield* runPlan(only, { jobs: 2, force: [] }).pipe(Effect.provide(Layer.succeed(Reporter, collected.reporter)))
      return { report, status: Object.fromEntries(report.stages.map((s) => [s.id, s.status])), lines: collected.lines }
    }).pipe(Effect.provide(storeLayer(cache, REPO))),
  )

const records = (cache: string): Array<{ id: string }> => {
  const dir = path.join(cache, "runs")
  if (!fs.existsSync(dir)) return []
  return fs.readdirSync(dir).flatMap((s) => fs.readdirSync(path.join(dir, s)).map((f) => JSON.parse(fs.readFileSync(path.join(dir, s, f), "utf8"))))
}

describe("HMS data stages", () => {
  it("write the seed's fold table and one (400, 300) window per label, and rerun only a new spectrogram's split", async () => {
    const cache = path.join(root, "cache-good")
    const data = variant("good", () => {})
    const r = await run(data, cache)
    expect(r.report.ok, JSON.stringify(r.report.stages)).toBe(true)
    const folds = r.report.artifacts.get("assign-folds")!.dir
    // The fold CSV equals the data layer's (itself checked byte for byte against pandas + scikit-learn).
    const table = await Effect.runPromise(loadTrainTable(path.join(data, TRAIN_CSV)).pipe(Effect.provide(DuckDbLive)))
    const expected = Either.getOrThrow(buildFoldTable(table))
    const csv = fs.readFileSync(path.join(folds, "folds.csv"), "utf8")
    expect(csv).toBe(formatCsv(foldTableColumns(expected)))
    expect(csv.split("\n")[0]).toBe(FOLD_TABLE_COLUMNS.join(","))
    const windows = r.report.artifacts.get("split-spectrograms")!.dir
    const npys = fs.readdirSync(windows).sort()
    expect(npys).toEqual([...expected.labelId].map((id) => `${id}.npy`).sort())
    const one = Either.getOrThrow(decodeNpy(fs.readFileSync(path.join(windows, npys[0]!)), npys[0]!))
    expect(one.shape).toEqual([400, 300])

    // One more spectrogram (a copy of the first under a new id, with one new label row).
    const first = fs.readdirSync(path.join(data, TRAIN_SPECTROGRAMS_DIR)).sort()[0]!
    fs.copyFileSync(path.join(data, TRAIN_SPECTROGRAMS_DIR, first), path.join(data, TRAIN_SPECTROGRAMS_DIR, "999999.parquet"))
    editCsv(data, (rows) => {
      const row = [...rows[1]!]
      row[3] = "999999" // spectrogram_id
      row[5] = "0.0" // offset
      row[6] = "4000000001" // label_id
      rows.push(row)
    })
    const again = await run(data, cache)
    expect(again.status["split-spectrograms"]).toBe("ran")
    expect(again.lines.join("\n")).toContain(`1 of ${expected.rows + 1} spectrograms processed, ${expected.rows} reused`)
    expect(fs.existsSync(path.join(again.report.artifacts.get("split-spectrograms")!.dir, "4000000001.npy"))).toBe(true)
  })

  const cases: Array<[string, (dir: string) => void, string, RegExp]> = [
    ["missing column", (d) => editCsv(d, (rows) => rows.forEach((r) => r.pop())), "load-csv", /train\.csv.*other_vote/],
    ["extra column", (d) => editCsv(d, (rows) => rows.forEach((r, i) => r.push(i === 0 ? "extra" : "1"))), "load-csv", /train\.csv.*extra/],
    ["non-numeric id", (d) => editCsv(d, (rows) => (rows[3]![7] = "abc")), "load-csv", /train\.csv.*row 3.*patient_id/],
    ["negative vote", (d) => editCsv(d, (rows) => (rows[2]![10] = "-1")), "load-csv", /train\.csv.*row 2.*lpd_vote/],
    ["NaN vote", (d) => editCsv(d, (rows) => (rows[2]![11] = "NaN")), "load-csv", /train\.csv.*row 2.*gpd_vote/],
    ["empty file", (d) => fs.writeFileSync(path.join(d, TRAIN_CSV), ""), "load-csv", /train\.csv.*empty/],
    [
      "votes summing to 0",
      (d) => editCsv(d, (rows) => rows[4]!.splice(9, 6, "0", "0", "0", "0", "0", "0")),
      "normalize-votes",
      /train\.csv: data row 4 \(label_id \d+\) has no votes/,
    ],
    ["window past the end", (d) => editCsv(d, (rows) => (rows[1]![5] = "100000.0")), "split-spectrograms", /spectrogram \d+, label \d+: offset 100000 s/],
    // Two rows that normalize-votes both keeps (first rows of two spectrograms): split-spectrograms
    // used to fail with an internal `EEXIST ... link`.
    [
      "duplicate label_id, both rows kept",
      (d) =>
        editCsv(d, (rows) => {
          const [a, b] = firstRowsOfSpectrograms(rows)
          rows[b!]![6] = rows[a!]![6]!
        }),
      "load-csv",
      /train\.csv: data rows \d+ and \d+ \(lines \d+ and \d+\): label_id \d+ appears twice/,
    ],
    // A second row of a spectrogram (dropped by normalize-votes) repeating a kept row's id: used to pass unseen.
    [
      "duplicate label_id, one row dropped",
      (d) =>
        editCsv(d, (rows) => {
          const kept = new Set(firstRowsOfSpectrograms(rows))
          const dropped = rows.findIndex((_, i) => i > 0 && !kept.has(i))
          if (dropped < 0) throw new Error("the synthetic train.csv has no second row of a spectrogram")
          rows[dropped]![6] = rows[[...kept][0]!]![6]!
        }),
      "load-csv",
      /train\.csv: data rows \d+ and \d+ \(lines \d+ and \d+\): label_id \d+ appears twice/,
    ],
    [
      "missing parquet",
      (d) => fs.rmSync(path.join(d, TRAIN_SPECTROGRAMS_DIR, fs.readdirSync(path.join(d, TRAIN_SPECTROGRAMS_DIR)).sort()[3]!)),
      "split-spectrograms",
      /train_spectrograms\/\d+\.parquet/,
    ],
    [
      "truncated parquet",
      (d) => {
        const f = path.join(d, TRAIN_SPECTROGRAMS_DIR, fs.readdirSync(path.join(d, TRAIN_SPECTROGRAMS_DIR)).sort()[2]!)
        fs.truncateSync(f, Math.floor(fs.statSync(f).size / 2))
      },
      "split-spectrograms",
      /train_spectrograms\/\d+\.parquet/,
    ],
  ]

  for (const [name, edit, stage, message] of cases) {
    it(`${name}: ${stage} fails naming the file, row and column, and caches nothing of it`, async () => {
      const cache = path.join(root, `cache-${name.replace(/\W+/g, "-")}`)
      const r = await run(variant(name.replace(/\W+/g, "-"), edit), cache)
      expect(r.report.ok).toBe(false)
      const failed = r.report.stages.find((s) => s.status === "failed")!
      expect(failed.id).toBe(stage)
      expect(failed.error).toMatch(message)
      expect(records(cache).some((rec) => rec.id === stage)).toBe(false)
      expect(fs.existsSync(path.join(cache, "items")) ? fs.readdirSync(path.join(cache, "items")) : []).toEqual([])
      expect(fs.readdirSync(path.join(cache, "tmp"))).toEqual([])
    })
  }
})
