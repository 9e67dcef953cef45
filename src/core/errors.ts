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
  readonly param: string
  readonly value: string
  readonly detail: string
}> {
  override get message(): string {
    return `param ${this.param}=${this.value}: ${this.detail}`
  }
}

/** A file the framework needed (input data, store object, record) could not be read or written. */
export class FileError extends Data.TaggedError("FileError")<{
  readonly file: string
  readonly operation: string
  readonly detail: string
}> {
  override get message(): string {
    return `${this.operation} ${this.file}: ${this.detail}`
  }
}

/** A stage's `run` failed; `cause` is the stage's own (tagged) error or defect, rendered. */
export class StageFailed extends Data.TaggedError("StageFailed")<{
  readonly id: string
  readonly detail: string
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
  return String(error)
}
