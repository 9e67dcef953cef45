/** Errors of the HMS training, scoring and inference stages: each names the fold, label or file at fault. */
import { Data } from "effect"

/** A fold with no validation rows (more folds asked for than the fold table has). */
export class EmptyFold extends Data.TaggedError("EmptyFold")<{ readonly fold: number; readonly folds: number }> {
  override get message(): string {
    return `fold ${this.fold} has no rows: the fold table has folds 0..${this.folds - 1}`
  }
}

/** An out-of-fold prediction for a label the fold table does not have, or a label with none. */
export class OofMismatch extends Data.TaggedError("OofMismatch")<{
  readonly file: string
  readonly labelId: number
  readonly detail: string
}> {
  override get message(): string {
    return `${this.file}: label_id ${this.labelId}: ${this.detail}`
  }
}

/** test.csv and sample_submission.csv disagree. */
export class SubmissionMismatch extends Data.TaggedError("SubmissionMismatch")<{
  readonly file: string
  readonly row: number
  readonly eegId: number
  readonly detail: string
}> {
  override get message(): string {
    return `${this.file}: row ${this.row}, eeg_id ${this.eegId}: ${this.detail}`
  }
}

/** `--param order=FILE` names a file that is not JSON of one permutation per epoch. */
export class TrainOrderUnreadable extends Data.TaggedError("TrainOrderUnreadable")<{ readonly file: string; readonly detail: string }> {
  override get message(): string {
    return `order file ${this.file}: ${this.detail} (expected JSON: one array of training row indices per epoch)`
  }
}

/** A test.csv row whose spectrogram file is absent or not a parquet file: found before any training. */
export class TestSpectrogramMissing extends Data.TaggedError("TestSpectrogramMissing")<{
  /** test.csv */
  readonly file: string
  /** 1-based data row. */
  readonly row: number
  readonly spectrogramId: number
  /** The spectrogram file the row needs. */
  readonly spectrogram: string
  /** What is wrong with it: "does not exist", "is not a file", ... */
  readonly problem: string
}> {
  override get message(): string {
    return (
      `${this.file}: data row ${this.row} (line ${this.row + 1}) names spectrogram_id ${this.spectrogramId}, but ${this.spectrogram} ${this.problem}: ` +
      `add the file, or remove the row from test.csv and its eeg_id from sample_submission.csv`
    )
  }
}

/** A fold's out-of-fold prediction table that is not label_id and one finite probability per class. */
export class PredictionTableMismatch extends Data.TaggedError("PredictionTableMismatch")<{
  /** The table, named by the stage that wrote it. */
  readonly file: string
  readonly expected: string
  readonly found: string
}> {
  override get message(): string {
    return `${this.file}: expected ${this.expected}, found ${this.found}: the fold model was made for another task or configuration; retrain it (--force train)`
  }
}
