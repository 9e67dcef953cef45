import { Data } from "effect"

/** Exit codes: 0 ok, 1 a stage (or the store) failed, 2 usage or configuration error, 130 interrupted. */
export const EXIT_OK = 0
export const EXIT_STAGE_FAILED = 1
export const EXIT_USAGE = 2
/** Exit status of a run stopped by a signal (128 + SIGINT's number, as shells report it). */
export const EXIT_INTERRUPTED = 130

/** A command line that does not make sense (`--jobs 0`, an unknown run id). */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly detail: string }> {
  override get message(): string {
    return this.detail
  }
}

/** The pipeline's after-run hook failed (the run itself succeeded). */
export class AfterRunFailed extends Data.TaggedError("AfterRunFailed")<{ readonly detail: string; readonly cause?: unknown }> {
  override get message(): string {
    return `after-run hook failed: ${this.detail}`
  }
}

/** Copying a result out of the store (publish, export) failed: a disk problem, not a usage error. */
export class CopyOutFailed extends Data.TaggedError("CopyOutFailed")<{ readonly from: string; readonly dest: string; readonly detail: string; readonly cause?: unknown }> {
  override get message(): string {
    return `cannot copy ${this.from} to ${this.dest}: ${this.detail}`
  }
}
