/** The synthetic dataset's files: train.csv, test.csv, sample_submission.csv and the spectrogram parquet files. */
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect } from "effect"
import { type CsvOutColumn, encodeParquetColumnMajor, FileWriteFailed, formatCsv } from "cairn/data"
import { describeError } from "cairn"
import {
  N_CLASSES,
  PARQUET_EXTENSION,
  SAMPLE_SUBMISSION_CSV,
  SUBMISSION_COLUMNS,
  TEST_COLUMNS,
  TEST_CSV,
  TEST_SPECTROGRAMS_DIR,
  TRAIN_COLUMNS,
  TRAIN_CSV,
  TRAIN_SPECTROGRAMS_DIR,
  VOTE_COLUMNS,
} from "../constants.js"
import { synthSpectrogram } from "./synth-spectrogram.js"
import { drawSynthPlan, type SynthOptions, type SynthPlan, type TrainRows } from "./synth-tables.js"

/** train.csv's text: offsets as pandas writes floats ("6.0"), ids and votes as ints. */
export const trainCsv = (train: TrainRows): string => {
  const rows = train.labelId.length
  const vote = (k: number) => Array.from({ length: rows }, (_, i) => train.votes[i * N_CLASSES + k]!)
  const columns: ReadonlyArray<CsvOutColumn> = [
    { name: "eeg_id", kind: "integer", values: train.eegId },
    { name: "eeg_sub_id", kind: "integer", values: train.eegSubId },
    { name: "eeg_label_offset_seconds", kind: "float", values: train.eegLabelOffsetSeconds },
    { name: "spectrogram_id", kind: "integer", values: train.spectrogramId },
    { name: "spectrogram_sub_id", kind: "integer", values: train.spectrogramSubId },
    { name: "spectrogram_label_offset_seconds", kind: "float", values: train.spectrogramLabelOffsetSeconds },
    { name: "label_id", kind: "integer", values: train.labelId },
    { name: "patient_id", kind: "integer", values: train.patientId },
    { name: "expert_consensus", kind: "string", values: train.expertConsensus },
    ...VOTE_COLUMNS.map((name, k): CsvOutColumn => ({ name, kind: "integer", values: vote(k) })),
  ]
  if (columns.some((c, i) => c.name !== TRAIN_COLUMNS[i])) throw new Error("train.csv columns out of step with TRAIN_COLUMNS")
  return formatCsv(columns)
}

export const testCsv = (plan: SynthPlan): string => {
  const [spectrogramId, eegId, patientId] = TEST_COLUMNS
  return formatCsv([
    { name: spectrogramId, kind: "integer", values: plan.test.spectrogramId },
    { name: eegId, kind: "integer", values: plan.test.eegId },
    { name: patientId, kind: "integer", values: plan.test.patientId },
  ])
}

export const sampleSubmissionCsv = (plan: SynthPlan): string => {
  const n = plan.test.eegId.length
  const [eegId, ...votes] = SUBMISSION_COLUMNS
  return formatCsv([
    { name: eegId, kind: "integer", values: plan.test.eegId },
    ...votes.map((name): CsvOutColumn => ({ name, kind: "float", values: new Array<number>(n).fill(1 / N_CLASSES) })),
  ])
}

export interface SynthSummary {
  readonly dir: string
  readonly trainRows: number
  readonly trainSpectrograms: number
  readonly testSpectrograms: number
  readonly spectrogramRows: number
}

/** How many parquet files are encoded and written at once. */
const WRITE_CONCURRENCY = 2

const write = (file: string, data: string | Uint8Array): Effect.Effect<void, FileWriteFailed> =>
  Effect.tryPromise({
    try: () => writeFile(file, data),
    catch: (cause) => new FileWriteFailed({ file, reason: describeError(cause) }),
  })

const makeDir = (dir: string): Effect.Effect<void, FileWriteFailed> =>
  Effect.tryPromise({
    try: () => mkdir(dir, { recursive: true }),
    catch: (cause) => new FileWriteFailed({ file: dir, reason: describeError(cause) }),
  })

/** Writes the whole synthetic dataset into `dir` (created if missing). */
export const writeSynthDataset = (dir: string, options: SynthOptions): Effect.Effect<SynthSummary, FileWriteFailed> =>
  Effect.gen(function* () {
    const plan = drawSynthPlan(options)
    const trainDir = join(dir, TRAIN_SPECTROGRAMS_DIR)
    const testDir = join(dir, TEST_SPECTROGRAMS_DIR)
    yield* makeDir(trainDir)
    yield* makeDir(testDir)
    yield* write(join(dir, TRAIN_CSV), trainCsv(plan.train))
    yield* write(join(dir, TEST_CSV), testCsv(plan))
    yield* write(join(dir, SAMPLE_SUBMISSION_CSV), sampleSubmissionCsv(plan))
    const jobs = [...plan.trainSpectrograms.map((s) => [trainDir, s] as const), ...plan.testSpectrograms.map((s) => [testDir, s] as const)]
    yield* Effect.forEach(
      jobs,
      ([where, spec]) =>
        Effect.suspend(() =>
          write(join(where, `${spec.spectrogramId}${PARQUET_EXTENSION}`), encodeParquetColumnMajor(synthSpectrogram(spec), { nanAsNull: true })),
        ),
      { concurrency: WRITE_CONCURRENCY, discard: true },
    )
    return {
      dir,
      trainRows: plan.train.labelId.length,
      trainSpectrograms: plan.trainSpectrograms.length,
      testSpectrograms: plan.testSpectrograms.length,
      spectrogramRows: jobs.reduce((a, [, s]) => a + s.rows, 0),
    }
  })
