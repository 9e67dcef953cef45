import { Data } from "effect"
import { type Refusal, WRITTEN_MANIFEST } from "./written-files.js"

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
export class CopyOutFailed extends Data.TaggedError("CopyOutFailed")<{
  readonly from: string
  readonly dest: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `cannot copy ${this.from} to ${this.dest}: ${this.detail}`
  }
}

/** `clean`, `gc` or `verify` on a folder without the store marker: nothing in it was touched. */
export class NotAStore extends Data.TaggedError("NotAStore")<{
  readonly dir: string
  readonly operation: string
  readonly marker: string
  /** The names that are not the store's; absent when the folder looks like an older cairn's store. */
  readonly entries: ReadonlyArray<string> | undefined
}> {
  override get message(): string {
    const head = `${this.dir} is not a cairn store (no ${this.marker}): nothing removed`
    if (this.entries === undefined)
      return `${head}; it looks like the store of an older cairn: one \`cairn run\` with this cache folder marks it, then ${this.operation} again`
    const shown = this.entries.slice(0, 3).join(", ") + (this.entries.length > 3 ? `, +${this.entries.length - 3} more` : "")
    return `${head} (it holds ${shown}); name the cache folder with --cache-dir or CAIRN_CACHE_DIR`
  }
}

/**
 * A copy into a user's folder (export, publish, report) refused before writing anything, because it
 * would have replaced or removed a file cairn did not write (see written-files.js). `force`: the
 * option that writes anyway, where the command has one.
 */
export class WriteRefused extends Data.TaggedError("WriteRefused")<{
  readonly reason: Refusal["reason"]
  readonly dest: string
  readonly file: string
  readonly force: string | undefined
}> {
  override get message(): string {
    const orForce = (what: string) => (this.force ? `, or pass ${this.force} to ${what}` : "")
    const moveIt = "move it away and run again"
    const byReason: Record<Refusal["reason"], string> = {
      "not-marked": `${this.dest} is not empty and holds no earlier export of cairn's (no ${WRITTEN_MANIFEST}): nothing written; choose an empty or new folder${orForce("write into it (files of the exported names are replaced, nothing else is removed)")}`,
      changed: `${this.file} was changed since cairn wrote it: not overwritten, nothing written; ${moveIt}${orForce("replace it")}`,
      "not-ours": `${this.file} is not a file cairn wrote: not overwritten, nothing written; ${moveIt}${orForce("replace it")}`,
      "not-a-file": `${this.file} is a folder where the output has a file: nothing written; ${moveIt}`,
      "not-a-folder": `${this.file} is a file or a link where the output needs a folder: nothing written; ${moveIt}`,
      reserved: `${this.file}: an output may not hold a file named ${WRITTEN_MANIFEST} (the list of the files cairn writes into a folder): nothing written; give it another name in the stage`,
    }
    return byReason[this.reason]
  }
}

/** A failed run could not mark a folder of an earlier run's outputs as stale. */
export class StaleMarkFailed extends Data.TaggedError("StaleMarkFailed")<{ readonly dir: string; readonly detail: string; readonly cause?: unknown }> {
  override get message(): string {
    return `cannot mark ${this.dir} as stale (it holds an earlier run's files): ${this.detail}`
  }
}
