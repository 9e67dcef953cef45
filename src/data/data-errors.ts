/**
 * Errors of the data layer. Each one is data: its fields say which file, row and column are at
 * fault, and its message is computed from them.
 *
 * Rows are 1-based data rows (the first line after a CSV header is data row 1, which is line 2 of
 * the file); columns are named.
 */
import { Data } from "effect"

/** A file could not be opened or read (missing, unreadable, a directory). */
export class FileReadFailed extends Data.TaggedError("FileReadFailed")<{
  readonly file: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.file}: cannot read file: ${this.reason}`
  }
}

/** A file could not be written. */
export class FileWriteFailed extends Data.TaggedError("FileWriteFailed")<{
  readonly file: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.file}: cannot write file: ${this.reason}`
  }
}

/** A table file holds no header (zero bytes or only blank lines) or, where rows are required, no data row. */
export class EmptyFile extends Data.TaggedError("EmptyFile")<{
  readonly file: string
  readonly detail: string
}> {
  override get message(): string {
    return `${this.file}: empty file (${this.detail})`
  }
}

/** An expected column is not in the header. */
export class MissingColumn extends Data.TaggedError("MissingColumn")<{
  readonly file: string
  readonly column: string
  readonly header: ReadonlyArray<string>
}> {
  override get message(): string {
    return `${this.file}: header row is missing column "${this.column}" (header: ${this.header.join(", ")})`
  }
}

/** The header has a column the schema does not expect. `position` is 1-based. */
export class UnexpectedColumn extends Data.TaggedError("UnexpectedColumn")<{
  readonly file: string
  readonly column: string
  readonly position: number
}> {
  override get message(): string {
    return `${this.file}: header row has unexpected column "${this.column}" at position ${this.position}`
  }
}

/** Every expected column is there, but not in the expected order. `position` is 1-based. */
export class ColumnOutOfOrder extends Data.TaggedError("ColumnOutOfOrder")<{
  readonly file: string
  readonly column: string
  readonly position: number
  readonly expected: string
}> {
  override get message(): string {
    return `${this.file}: header row has column "${this.column}" at position ${this.position}, expected "${this.expected}" there`
  }
}

/** A cell that does not hold what its column requires (not a number, not an integer, negative, NaN, empty...). */
export class InvalidValue extends Data.TaggedError("InvalidValue")<{
  readonly file: string
  /** 1-based data row (file line = row + 1 when the file has a header). */
  readonly row: number
  readonly column: string
  readonly value: string
  readonly expected: string
}> {
  override get message(): string {
    const shown = this.value === "" ? "an empty cell" : JSON.stringify(this.value)
    return `${this.file}: data row ${this.row} (line ${this.row + 1}), column "${this.column}": ${shown} is not ${this.expected}`
  }
}

/** The CSV text itself is malformed (wrong field count, bad quoting), as reported by the parser. */
export class CsvMalformed extends Data.TaggedError("CsvMalformed")<{
  readonly file: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.file}: malformed CSV: ${this.reason}`
  }
}

/** A parquet file is missing, truncated or corrupt. */
export class ParquetCorrupt extends Data.TaggedError("ParquetCorrupt")<{
  readonly file: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.file}: not a readable parquet file: ${this.reason}`
  }
}

/**
 * A valid parquet file uses a feature the native reader does not decode (a codec, an encoding, a
 * nested column). Callers may fall back to DuckDB.
 */
export class ParquetUnsupported extends Data.TaggedError("ParquetUnsupported")<{
  readonly file: string
  readonly column: string
  readonly feature: string
}> {
  override get message(): string {
    return `${this.file}: column "${this.column}" uses ${this.feature}, which the native parquet reader does not decode`
  }
}

/** A parquet file's columns are not what the caller expects (names, order, types). */
export class ParquetSchemaMismatch extends Data.TaggedError("ParquetSchemaMismatch")<{
  readonly file: string
  readonly column: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.file}: column "${this.column}": ${this.reason}`
  }
}

/** An `.npy` file that is not a float32 array this reader understands (magic, version, header, size). */
export class NpyInvalid extends Data.TaggedError("NpyInvalid")<{
  readonly file: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.file}: not a readable .npy float32 array: ${this.reason}`
  }
}

/** A DuckDB statement failed for a reason not covered by a more precise error. */
export class DuckDbFailed extends Data.TaggedError("DuckDbFailed")<{
  readonly operation: string
  readonly reason: string
}> {
  override get message(): string {
    return `DuckDB failed while ${this.operation}: ${this.reason}`
  }
}

/** Inputs a splitter refuses, with scikit-learn's own conditions. */
export class SplitInputInvalid extends Data.TaggedError("SplitInputInvalid")<{
  readonly splitter: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.splitter}: ${this.reason}`
  }
}

/** The one line of an unknown thrown value (one implementation, in the core). */
export { describeError } from "../core/errors.js"
