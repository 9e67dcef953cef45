/** Errors of the HMS label table (train.csv rows and their spectrogram windows): each names the file, row, id or offset at fault. */
import { Data } from "effect"

/** A train.csv row whose six votes sum to 0: its normalized votes would be 0/0. */
export class ZeroVotes extends Data.TaggedError("ZeroVotes")<{
  readonly file: string
  /** 1-based data row. */
  readonly row: number
  readonly labelId: number
}> {
  override get message(): string {
    return `${this.file}: data row ${this.row} (label_id ${this.labelId}) has no votes: its six vote columns sum to 0`
  }
}

/** A label window [start, start + width) that does not lie inside its spectrogram's rows. */
export class WindowOutOfRange extends Data.TaggedError("WindowOutOfRange")<{
  readonly file: string
  readonly spectrogramId: number
  readonly labelId: number
  readonly offsetSeconds: number
  readonly start: number
  readonly width: number
  readonly rows: number
}> {
  override get message(): string {
    return (
      `${this.file}: spectrogram ${this.spectrogramId}, label ${this.labelId}: offset ${this.offsetSeconds} s starts the window at row ` +
      `${this.start}, so it needs rows ${this.start}..${this.start + this.width - 1}, but the spectrogram has ${this.rows} rows`
    )
  }
}

/** Two train.csv rows with the same label_id: each label's window is stored under its id, so ids must be unique. */
export class DuplicateLabelId extends Data.TaggedError("DuplicateLabelId")<{
  readonly file: string
  /** 1-based data rows: the first that has the id, and the next. */
  readonly firstRow: number
  readonly row: number
  readonly labelId: number
}> {
  override get message(): string {
    return (
      `${this.file}: data rows ${this.firstRow} and ${this.row} (lines ${this.firstRow + 1} and ${this.row + 1}): label_id ${this.labelId} appears twice; ` +
      `each row needs its own label_id (remove the repeated row or give it a new id)`
    )
  }
}
