/**
 * train.csv as the seed uses it: load and validate the 15 columns, normalize the votes
 * (`train[CLASSES] /= train[CLASSES].sum(axis=1)`), keep the first row of each spectrogram
 * (`groupby("spectrogram_id").head(1)`), assign StratifiedGroupKFold folds on
 * `expert_consensus` grouped by `patient_id`, and export that fold table as CSV.
 */
import { Effect, Either } from "effect"
import {
  type CsvOutColumn,
  type CsvReadError,
  DuckDb,
  EmptyFile,
  type FileWriteFailed,
  InvalidValue,
  type SplitInputInvalid,
  stratifiedGroupKFold,
  type StratifiedGroupKFoldVariant,
  writeCsv,
} from "cairn/data"
import { CONSENSUS_LABELS, N_CLASSES, N_FOLDS, SEED, type TEST_COLUMNS, type TRAIN_COLUMNS, VOTE_COLUMNS, type ConsensusLabel } from "./constants.js"
import { DuplicateLabelId, ZeroVotes } from "./label-errors.js"

/** train.csv's schema: TRAIN_COLUMNS with their types (a test checks the names match). */
export const TRAIN_SCHEMA = [
  { name: "eeg_id", type: "integer" },
  { name: "eeg_sub_id", type: "integer" },
  { name: "eeg_label_offset_seconds", type: "float64" },
  { name: "spectrogram_id", type: "integer" },
  { name: "spectrogram_sub_id", type: "integer" },
  { name: "spectrogram_label_offset_seconds", type: "float64" },
  { name: "label_id", type: "integer" },
  { name: "patient_id", type: "integer" },
  { name: "expert_consensus", type: "string" },
  { name: "seizure_vote", type: "float64" },
  { name: "lpd_vote", type: "float64" },
  { name: "gpd_vote", type: "float64" },
  { name: "lrda_vote", type: "float64" },
  { name: "grda_vote", type: "float64" },
  { name: "other_vote", type: "float64" },
] as const satisfies ReadonlyArray<{ name: (typeof TRAIN_COLUMNS)[number]; type: string }>

/** train.csv, validated, one typed array per column. */
export interface TrainTable {
  readonly file: string
  readonly rows: number
  readonly eegId: Float64Array
  readonly eegSubId: Float64Array
  readonly eegLabelOffsetSeconds: Float64Array
  readonly spectrogramId: Float64Array
  readonly spectrogramSubId: Float64Array
  readonly spectrogramLabelOffsetSeconds: Float64Array
  readonly labelId: Float64Array
  readonly patientId: Float64Array
  readonly expertConsensus: ReadonlyArray<ConsensusLabel>
  /** Raw votes, row-major: row i's six votes at [6 i, 6 i + 6), in VOTE_COLUMNS order. */
  readonly votes: Float64Array
}

export type TrainTableError = CsvReadError | InvalidValue | DuplicateLabelId

/** test.csv's schema (a test checks the names match TEST_COLUMNS). */
export const TEST_SCHEMA = [
  { name: "spectrogram_id", type: "integer" },
  { name: "eeg_id", type: "integer" },
  { name: "patient_id", type: "integer" },
] as const satisfies ReadonlyArray<{ name: (typeof TEST_COLUMNS)[number]; type: string }>

export interface TestTable {
  readonly file: string
  readonly rows: number
  readonly spectrogramId: Float64Array
  readonly eegId: Float64Array
  readonly patientId: Float64Array
}

/** Reads and validates test.csv (the three id columns, in order; at least one row). */
export const loadTestTable = (file: string): Effect.Effect<TestTable, CsvReadError, DuckDb> =>
  Effect.gen(function* () {
    const db = yield* DuckDb
    const t = yield* db.readCsv(file, TEST_SCHEMA)
    if (t.rows === 0) return yield* Effect.fail(new EmptyFile({ file, detail: "a header but no data row" }))
    return { file, rows: t.rows, spectrogramId: t.columns.spectrogram_id, eegId: t.columns.eeg_id, patientId: t.columns.patient_id }
  })

const LABELS = new Set<string>(CONSENSUS_LABELS)

/**
 * Reads and validates train.csv: the 15 columns in order, numeric ids, unique label_ids, labels,
 * non-negative finite votes and offsets.
 */
export const loadTrainTable = (file: string): Effect.Effect<TrainTable, TrainTableError, DuckDb> =>
  Effect.gen(function* () {
    const db = yield* DuckDb
    const t = yield* db.readCsv(file, TRAIN_SCHEMA)
    if (t.rows === 0) return yield* Effect.fail(new EmptyFile({ file, detail: "a header but no data row" }))
    const c = t.columns
    const bad = (row: number, column: string, value: number | string, expected: string) =>
      Effect.fail(new InvalidValue({ file, row: row + 1, column, value: typeof value === "number" ? String(value) : value, expected }))

    for (const name of ["eeg_label_offset_seconds", "spectrogram_label_offset_seconds"] as const) {
      const v = c[name]
      for (let i = 0; i < t.rows; i++)
        if (!(v[i]! >= 0) || !Number.isFinite(v[i]!)) return yield* bad(i, name, v[i]!, "a finite, non-negative offset in seconds")
    }
    for (const name of ["eeg_id", "eeg_sub_id", "spectrogram_id", "spectrogram_sub_id", "label_id", "patient_id"] as const) {
      const v = c[name]
      for (let i = 0; i < t.rows; i++) if (v[i]! < 0) return yield* bad(i, name, v[i]!, "a non-negative id")
    }
    // Each label's window is stored as <label_id>.npy: a repeated id would overwrite or collide.
    const rowOfLabel = new Map<number, number>()
    for (let i = 0; i < t.rows; i++) {
      const id = c.label_id[i]!
      const first = rowOfLabel.get(id)
      if (first !== undefined) return yield* Effect.fail(new DuplicateLabelId({ file, firstRow: first + 1, row: i + 1, labelId: id }))
      rowOfLabel.set(id, i)
    }
    const consensus = c.expert_consensus
    for (let i = 0; i < t.rows; i++) {
      if (!LABELS.has(consensus[i]!)) return yield* bad(i, "expert_consensus", consensus[i]!, `one of ${CONSENSUS_LABELS.join(", ")}`)
    }
    const votes = new Float64Array(t.rows * N_CLASSES)
    for (let k = 0; k < N_CLASSES; k++) {
      const name = VOTE_COLUMNS[k]!
      const v = c[name]
      for (let i = 0; i < t.rows; i++) {
        const x = v[i]!
        if (!(x >= 0) || !Number.isFinite(x)) return yield* bad(i, name, x, "a finite, non-negative vote count")
        votes[i * N_CLASSES + k] = x
      }
    }
    return {
      file,
      rows: t.rows,
      eegId: c.eeg_id,
      eegSubId: c.eeg_sub_id,
      eegLabelOffsetSeconds: c.eeg_label_offset_seconds,
      spectrogramId: c.spectrogram_id,
      spectrogramSubId: c.spectrogram_sub_id,
      spectrogramLabelOffsetSeconds: c.spectrogram_label_offset_seconds,
      labelId: c.label_id,
      patientId: c.patient_id,
      expertConsensus: consensus as ReadonlyArray<ConsensusLabel>,
      votes,
    }
  })

/**
 * Each vote divided by its row's vote total, in float64 as pandas does (the row total is summed
 * left to right). A row whose votes sum to 0 is an error naming its label_id.
 */
export const normalizeVotes = (table: TrainTable): Either.Either<Float64Array, ZeroVotes> => {
  const out = new Float64Array(table.votes.length)
  for (let i = 0; i < table.rows; i++) {
    const base = i * N_CLASSES
    let sum = 0
    for (let k = 0; k < N_CLASSES; k++) sum += table.votes[base + k]!
    if (sum === 0) return Either.left(new ZeroVotes({ file: table.file, row: i + 1, labelId: table.labelId[i]! }))
    for (let k = 0; k < N_CLASSES; k++) out[base + k] = table.votes[base + k]! / sum
  }
  return Either.right(out)
}

/** The row indices `groupby(key).head(1)` keeps: the first row of each key, in file order. */
export const firstRowPerKey = (keys: ArrayLike<number>): Int32Array => {
  const seen = new Set<number>()
  const kept: Array<number> = []
  for (let i = 0; i < keys.length; i++) {
    if (!seen.has(keys[i]!)) {
      seen.add(keys[i]!)
      kept.push(i)
    }
  }
  return Int32Array.from(kept)
}

/** The seed's training table: one row per spectrogram with its fold and normalized votes. */
export interface FoldTable {
  readonly rows: number
  readonly labelId: Float64Array
  readonly spectrogramId: Float64Array
  readonly patientId: Float64Array
  readonly expertConsensus: ReadonlyArray<ConsensusLabel>
  readonly spectrogramLabelOffsetSeconds: Float64Array
  readonly fold: Int32Array
  /** Normalized votes, row-major, six per row. */
  readonly votes: Float64Array
}

export interface FoldOptions {
  readonly nFolds: number
  readonly seed: number
  /** scikit-learn's StratifiedGroupKFold before ("legacy") or after ("fixed") its 1.8 shuffle fix. */
  readonly variant: StratifiedGroupKFoldVariant
}

/** The seed's settings: 5 folds, seed 1086, the scikit-learn the notebook ran (< 1.8). */
export const SEED_FOLD_OPTIONS: FoldOptions = { nFolds: N_FOLDS, seed: SEED, variant: "legacy" }

const pick = (source: Float64Array, rows: Int32Array): Float64Array => {
  const out = new Float64Array(rows.length)
  for (let i = 0; i < rows.length; i++) out[i] = source[rows[i]!]!
  return out
}

/** normalize votes -> first row per spectrogram -> StratifiedGroupKFold(y = expert_consensus, groups = patient_id). */
export const buildFoldTable = (table: TrainTable, options: FoldOptions = SEED_FOLD_OPTIONS): Either.Either<FoldTable, ZeroVotes | SplitInputInvalid> =>
  Either.gen(function* () {
    const normalized = yield* normalizeVotes(table)
    const kept = firstRowPerKey(table.spectrogramId)
    const expertConsensus = Array.from(kept, (i) => table.expertConsensus[i]!)
    const patientId = pick(table.patientId, kept)
    const fold = yield* stratifiedGroupKFold({
      y: expertConsensus,
      groups: patientId,
      nSplits: options.nFolds,
      shuffle: true,
      randomState: options.seed,
      variant: options.variant,
    })
    const votes = new Float64Array(kept.length * N_CLASSES)
    for (let r = 0; r < kept.length; r++) votes.set(normalized.subarray(kept[r]! * N_CLASSES, (kept[r]! + 1) * N_CLASSES), r * N_CLASSES)
    return {
      rows: kept.length,
      labelId: pick(table.labelId, kept),
      spectrogramId: pick(table.spectrogramId, kept),
      patientId,
      expertConsensus,
      spectrogramLabelOffsetSeconds: pick(table.spectrogramLabelOffsetSeconds, kept),
      fold,
      votes,
    }
  })

/** The fold table's CSV columns: label_id, spectrogram_id, patient_id, expert_consensus, fold, the six votes. */
export const foldTableColumns = (t: FoldTable): ReadonlyArray<CsvOutColumn> => [
  { name: "label_id", kind: "integer", values: t.labelId },
  { name: "spectrogram_id", kind: "integer", values: t.spectrogramId },
  { name: "patient_id", kind: "integer", values: t.patientId },
  { name: "expert_consensus", kind: "string", values: t.expertConsensus },
  { name: "fold", kind: "integer", values: t.fold },
  ...VOTE_COLUMNS.map((name, k): CsvOutColumn => ({ name, kind: "float", values: Array.from({ length: t.rows }, (_, i) => t.votes[i * N_CLASSES + k]!) })),
]

/** Writes the fold table as CSV (floats in Python's shortest repr, as pandas writes them). */
export const writeFoldTable = (file: string, table: FoldTable): Effect.Effect<void, FileWriteFailed> => writeCsv(file, foldTableColumns(table))
