/**
 * The HMS tables as they travel between stages: Arrow IPC files with the competition's column
 * names (train.csv's 15 columns; the fold table adds `fold`). One writer and one reader each.
 */
import { Effect } from "effect"
import { readArrowTable, writeArrowTable } from "../../src/data/arrow.js"
import type { FileReadFailed, FileWriteFailed } from "../../src/data/errors.js"
import { type ConsensusLabel, N_CLASSES, VOTE_COLUMNS } from "./constants.js"
import type { FoldTable, TrainTable } from "./train-table.js"

/** File names of the stage artifacts. */
export const TRAIN_TABLE_FILE = "train.arrow"
export const LABELS_TABLE_FILE = "labels.arrow"
export const FOLDS_TABLE_FILE = "folds.arrow"
export const FOLDS_CSV_FILE = "folds.csv"
/** A fold's out-of-fold predictions (train's output): label_id and the six probabilities. */
export const VAL_PREDICTIONS_FILE = "val_predictions.arrow"
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
