/**
 * The HMS tables as they travel between stages: Arrow IPC files with the competition's column
 * names (train.csv's 15 columns; the fold table adds `fold`). One writer and one reader each.
 */
import { Effect } from "effect"
import { type FileReadFailed, type FileWriteFailed, readArrowTable, writeArrowTable } from "cairn/data"
import { type ConsensusLabel, N_CLASSES, VOTE_COLUMNS } from "./constants.js"
import { PredictionTableMismatch } from "./stage-errors.js"
import type { FoldTable, TrainTable } from "./train-table.js"

/** File names of the stage artifacts. */
export const TRAIN_TABLE_FILE = "train.arrow"
export const LABELS_TABLE_FILE = "labels.arrow"
export const FOLDS_TABLE_FILE = "folds.arrow"
export const FOLDS_CSV_FILE = "folds.csv"
/** A fold's out-of-fold predictions (train's output): label_id and the six probabilities. */
export const VAL_PREDICTIONS_FILE = "val_predictions.arrow"
/** Its columns, in order: label_id, then one probability per class. */
export const VAL_PREDICTIONS_COLUMNS = ["label_id", ...VOTE_COLUMNS] as const
/** A fold's per-epoch losses (train's output). */
export const HISTORY_FILE = "history.json"

const voteColumns = (votes: Float64Array, rows: number) =>
  Object.fromEntries(
    VOTE_COLUMNS.map((name, k) => {
      const col = new Float64Array(rows)
      for (let i = 0; i < rows; i++) col[i] = votes[i * N_CLASSES + k]!
      return [name, col] as const
    }),
  )

const readVotes = (cols: { numbers: (n: string) => Effect.Effect<Float64Array, FileReadFailed> }, rows: number) =>
  Effect.gen(function* () {
    const votes = new Float64Array(rows * N_CLASSES)
    for (let k = 0; k < N_CLASSES; k++) {
      const col = yield* cols.numbers(VOTE_COLUMNS[k]!)
      for (let i = 0; i < rows; i++) votes[i * N_CLASSES + k] = col[i]!
    }
    return votes
  })

/** Writes a train table (raw or normalized votes) with train.csv's column names. */
export const writeTrainTable = (file: string, t: TrainTable): Effect.Effect<void, FileWriteFailed> =>
  writeArrowTable(file, {
    eeg_id: t.eegId,
    eeg_sub_id: t.eegSubId,
    eeg_label_offset_seconds: t.eegLabelOffsetSeconds,
    spectrogram_id: t.spectrogramId,
    spectrogram_sub_id: t.spectrogramSubId,
    spectrogram_label_offset_seconds: t.spectrogramLabelOffsetSeconds,
    label_id: t.labelId,
    patient_id: t.patientId,
    expert_consensus: t.expertConsensus,
    ...voteColumns(t.votes, t.rows),
  })

/** Reads a train table; `source` is the original train.csv (named by errors about its rows). */
export const readTrainTable = (file: string, source: string): Effect.Effect<TrainTable, FileReadFailed> =>
  Effect.gen(function* () {
    const c = yield* readArrowTable(file)
    return {
      file: source,
      rows: c.rows,
      eegId: yield* c.numbers("eeg_id"),
      eegSubId: yield* c.numbers("eeg_sub_id"),
      eegLabelOffsetSeconds: yield* c.numbers("eeg_label_offset_seconds"),
      spectrogramId: yield* c.numbers("spectrogram_id"),
      spectrogramSubId: yield* c.numbers("spectrogram_sub_id"),
      spectrogramLabelOffsetSeconds: yield* c.numbers("spectrogram_label_offset_seconds"),
      labelId: yield* c.numbers("label_id"),
      patientId: yield* c.numbers("patient_id"),
      expertConsensus: (yield* c.strings("expert_consensus")) as ReadonlyArray<ConsensusLabel>,
      votes: yield* readVotes(c, c.rows),
    }
  })

export const writeFoldArrow = (file: string, t: FoldTable): Effect.Effect<void, FileWriteFailed> =>
  writeArrowTable(file, {
    label_id: t.labelId,
    spectrogram_id: t.spectrogramId,
    patient_id: t.patientId,
    expert_consensus: t.expertConsensus,
    spectrogram_label_offset_seconds: t.spectrogramLabelOffsetSeconds,
    fold: t.fold,
    ...voteColumns(t.votes, t.rows),
  })

export const readFoldArrow = (file: string): Effect.Effect<FoldTable, FileReadFailed> =>
  Effect.gen(function* () {
    const c = yield* readArrowTable(file)
    return {
      rows: c.rows,
      labelId: yield* c.numbers("label_id"),
      spectrogramId: yield* c.numbers("spectrogram_id"),
      patientId: yield* c.numbers("patient_id"),
      expertConsensus: (yield* c.strings("expert_consensus")) as ReadonlyArray<ConsensusLabel>,
      spectrogramLabelOffsetSeconds: yield* c.numbers("spectrogram_label_offset_seconds"),
      fold: yield* c.int32("fold"),
      votes: yield* readVotes(c, c.rows),
    }
  })

/** A fold's out-of-fold predictions, checked before use. */
export interface ValPredictions {
  readonly rows: number
  readonly labelId: Float64Array
  /** One column per class, in VOTE_COLUMNS order. */
  readonly probabilities: ReadonlyArray<Float64Array>
}

/**
 * Reads a fold's val_predictions table and checks it before use: exactly label_id and one column
 * per class, in order, every value a probability. `name` is the table as errors name it (its
 * stage and file: the store's path means nothing to the user).
 */
export const readValPredictions = (file: string, name: string): Effect.Effect<ValPredictions, FileReadFailed | PredictionTableMismatch> =>
  Effect.gen(function* () {
    const t = yield* readArrowTable(file)
    if (t.names.length !== VAL_PREDICTIONS_COLUMNS.length || t.names.some((n, k) => n !== VAL_PREDICTIONS_COLUMNS[k])) {
      return yield* new PredictionTableMismatch({ file: name, expected: `columns [${VAL_PREDICTIONS_COLUMNS.join(", ")}]`, found: `[${t.names.join(", ")}]` })
    }
    const labelId = yield* t.numbers("label_id")
    const probabilities = yield* Effect.forEach(VOTE_COLUMNS, (c) => t.numbers(c))
    for (let j = 0; j < t.rows; j++) {
      const bad = probabilities.findIndex((c) => !(c[j]! >= 0 && c[j]! <= 1))
      if (bad >= 0) {
        return yield* new PredictionTableMismatch({
          file: name,
          expected: "probabilities in [0, 1]",
          found: `${VOTE_COLUMNS[bad]} = ${probabilities[bad]![j]} at row ${j + 1} (label_id ${labelId[j]})`,
        })
      }
    }
    return { rows: t.rows, labelId, probabilities }
  })
