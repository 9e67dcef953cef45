import { Data } from "effect"

/** A value that cannot be part of a cache key (function, symbol, NaN, class instance...). */
export class UnhashableValue extends Data.TaggedError("UnhashableValue")<{
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return `cannot hash the value at ${this.path || "<root>"}: ${this.reason}`
  }
}

/** A pipeline or stage definition that does not make sense (cycle, duplicate id, unbound slot...). */
export class ConfigError extends Data.TaggedError("ConfigError")<{
  readonly file: string
  readonly detail: string
}> {
  override get message(): string {
    return `${this.file}: ${this.detail}`
  }
}

/** A `--param` that no stage declares, or whose value its schema rejects. */
export class ParamError extends Data.TaggedError("ParamError")<{
  /** The param as the user wrote it (`epochs`, `train.epochs`). */
  readonly param: string
  /** Its value as written; undefined when the `--param` has no `=`. */
  readonly value: string | undefined
  readonly detail: string
}> {
  override get message(): string {
    return `--param ${this.param}${this.value === undefined ? "" : `=${this.value}`}: ${this.detail}`
  }
}

/** A file the framework needed (input data, store object, record) could not be read or written. */
export class FileError extends Data.TaggedError("FileError")<{
  readonly file: string
  readonly operation: string
  readonly detail: string
  /** The thrown error (with its errno code and stack), when there was one. */
  readonly cause?: unknown
}> {
  override get message(): string {
    return `${this.operation} ${this.file}: ${this.detail}`
  }
}

/**
 * A stage failed: its `run`, or the framework's work for it (hashing its inputs, committing its
 * output). `detail` is one line; `cause` keeps the original error or Effect cause (with stack)
 * for `cairn run --verbose`.
 */
export class StageFailed extends Data.TaggedError("StageFailed")<{
  readonly id: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `stage ${this.id} failed: ${this.detail}`
  }
}

/** A stage was not run because an upstream stage failed. */
export class StageSkipped extends Data.TaggedError("StageSkipped")<{
  readonly id: string
  readonly because: string
}> {
  override get message(): string {
    return `stage ${this.id} skipped: upstream ${this.because} failed`
  }
}

/** The code closure of a stage module could not be resolved. */
export class ClosureError extends Data.TaggedError("ClosureError")<{
  readonly file: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `cannot resolve the imports of ${this.file}: ${this.detail}`
  }
}

/** Renders any error value (tagged error, Error, string) as one line of text. */
export const describeError = (error: unknown): string => {
  if (error instanceof Error) return error.message || error.name
  if (typeof error === "object" && error !== null && "message" in error) {
    return String((error as { message: unknown }).message)
  }
  if (typeof error === "object" && error !== null) {
    try {
      return JSON.stringify(error) ?? String(error)
    } catch (cycle) {
      // A cyclic or BigInt-holding object: its tag is the best one line we have.
      return `${String(error)} (${describeError(cycle)})`
    }
  }
  return String(error)
}

/** A file a stage reads in place (a source's, or one it declares in `reads`) changed while it ran. */
export class InputChanged extends Data.TaggedError("InputChanged")<{
  readonly file: string
  readonly change: "modified" | "removed" | "added"
}> {
  override get message(): string {
    return `input changed while running: ${this.file} was ${this.change}; nothing was stored (its result would not match its key): run again once the data is stable`
  }
}

/**
 * A stored input was written into while a stage ran (allowed by the file system for root, never by
 * cairn): by this stage, or by another stage reading the same input at the same time.
 */
export class InputWritten extends Data.TaggedError("InputWritten")<{
  readonly input: string
  readonly files: ReadonlyArray<{ readonly file: string; readonly change: "modified" | "removed" | "added" }>
}> {
  override get message(): string {
    const shown = this.files
      .slice(0, 3)
      .map((f) => `${f.file} (${f.change})`)
      .join(", ")
    const more = this.files.length > 3 ? ` and ${this.files.length - 3} more` : ""
    return `its input ${this.input} was written into while it ran: ${shown}${more}; inputs are read-only. The damaged stored result was removed and will be recomputed; nothing was stored for this stage`
  }
}

/** A stage returned a value naming an absolute path of this machine: it would not be portable. */
export class UnportableValue extends Data.TaggedError("UnportableValue")<{
  readonly path: string
  readonly value: string
}> {
  override get message(): string {
    return `its value holds an absolute path at ${this.path || "<root>"} (${this.value}): a cached value must not depend on where the files are; return a path relative to the input (or a content hash)`
  }
}

/** A path the params name does not exist: a source's folder, or a file a stage declares it reads. */
export class SourceMissing extends Data.TaggedError("SourceMissing")<{
  readonly stage: string
  /** The param naming the path; undefined for a path computed from the params (`reads: [fn]`). */
  readonly param: string | undefined
  readonly value: string
  readonly resolved: string
  readonly role: "source" | "read"
}> {
  override get message(): string {
    const what = this.param === undefined ? this.value : `param ${this.param}=${this.value}`
    const by = this.role === "source" ? `source ${this.stage}` : `stage ${this.stage} (declared in its reads)`
    return `${what}: no such file or folder (${this.resolved}), needed by ${by}`
  }
}
