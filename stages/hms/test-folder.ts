/**
 * A competition-layout test folder as inference reads it: test.csv, sample_submission.csv (the
 * submission's eeg_id order) and one spectrogram parquet per test row. Read and checked by
 * `check-testset` before any fold trains, and again by `infer`, so a bad test folder fails in
 * seconds, not after hours of training.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { type CsvReadError, DuckDb, MAGIC, MAGIC_BYTES } from "cairn/data"
import { PARQUET_EXTENSION, SAMPLE_SUBMISSION_CSV, TEST_CSV, TEST_SPECTROGRAMS_DIR, VOTE_COLUMNS } from "./constants.js"
import { SubmissionMismatch, TestSpectrogramMissing } from "./stage-errors.js"
import { loadTestTable, type TestTable } from "./train-table.js"

const SAMPLE_SCHEMA = [{ name: "eeg_id", type: "integer" }, ...VOTE_COLUMNS.map((name) => ({ name, type: "float64" as const }))] as const

export interface TestFolder {
  readonly test: TestTable
  /** Each test row's spectrogram file, in test.csv's order. */
  readonly spectrograms: ReadonlyArray<string>
  /** test.csv's row (0-based) of each sample_submission row, in its order: the submission's rows. */
  readonly submissionRows: ReadonlyArray<number>
}

export type TestFolderError = CsvReadError | SubmissionMismatch | TestSpectrogramMissing

/** What is wrong with a spectrogram file, or undefined: it exists, is a file, and starts and ends with parquet's magic. */
const spectrogramProblem = (file: string): string | undefined => {
  let fd: number | undefined
  try {
    const st = fs.statSync(file, { throwIfNoEntry: false })
    if (st === undefined) return "does not exist"
    if (!st.isFile()) return "is not a file"
    if (st.size < 2 * MAGIC_BYTES) return `has ${st.size} bytes: not a parquet file`
    fd = fs.openSync(file, "r")
    const head = Buffer.alloc(MAGIC_BYTES)
    const tail = Buffer.alloc(MAGIC_BYTES)
    fs.readSync(fd, head, 0, MAGIC_BYTES, 0)
    fs.readSync(fd, tail, 0, MAGIC_BYTES, st.size - MAGIC_BYTES)
    if (!MAGIC.every((b, i) => head[i] === b)) return "does not start as a parquet file does (PAR1)"
    if (!MAGIC.every((b, i) => tail[i] === b)) return "does not end as a parquet file does (PAR1): truncated?"
    return undefined
  } catch (e) {
    return `cannot be read (${e instanceof Error ? e.message : String(e)})`
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
}

/**
 * Reads test.csv and sample_submission.csv of `dir` and checks that every test row's spectrogram
 * is there, that no eeg_id appears twice in test.csv and that every sample_submission eeg_id is in
 * test.csv; each failure names the file and row.
 */
export const readTestFolder = (dir: string): Effect.Effect<TestFolder, TestFolderError, DuckDb> =>
  Effect.gen(function* () {
    const db = yield* DuckDb
    const testFile = path.join(dir, TEST_CSV)
    const sampleFile = path.join(dir, SAMPLE_SUBMISSION_CSV)
    const test = yield* loadTestTable(testFile)
    const spectrograms: Array<string> = []
    for (let i = 0; i < test.rows; i++) {
      const id = test.spectrogramId[i]!
      const file = path.join(dir, TEST_SPECTROGRAMS_DIR, `${id}${PARQUET_EXTENSION}`)
      const problem = spectrogramProblem(file)
      if (problem !== undefined) return yield* new TestSpectrogramMissing({ file: testFile, row: i + 1, spectrogramId: id, spectrogram: file, problem })
      spectrograms.push(file)
    }
    // pd.merge(sample_submission[["eeg_id"]], predictions, on="eeg_id", how="left").
    const rowOfEeg = new Map<number, number>()
    for (let i = 0; i < test.rows; i++) {
      const eeg = test.eegId[i]!
      if (rowOfEeg.has(eeg)) return yield* new SubmissionMismatch({ file: testFile, row: i + 1, eegId: eeg, detail: "eeg_id appears twice in test.csv" })
      rowOfEeg.set(eeg, i)
    }
    const sample = yield* db.readCsv(sampleFile, SAMPLE_SCHEMA)
    const submissionRows: Array<number> = []
    for (let j = 0; j < sample.rows; j++) {
      const eeg = sample.columns.eeg_id[j]!
      const r = rowOfEeg.get(eeg)
      if (r === undefined) return yield* new SubmissionMismatch({ file: sampleFile, row: j + 1, eegId: eeg, detail: "eeg_id is not in test.csv" })
      submissionRows.push(r)
    }
    return { test, spectrograms, submissionRows }
  })
