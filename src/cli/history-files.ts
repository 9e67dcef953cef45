/**
 * The run history files `cairn runs` and `cairn diff` cannot show, and why. The store's listing
 * names a file it cannot read or parse, and a file that parses may hold no run record: each of them
 * is named in a warning rather than dropped without a word.
 */
import type { HistoryFile } from "../core/store/records.js"
import { isRunRecord } from "./history-view.js"

/** A history file left out, and why. */
export interface SkippedHistoryFile {
  readonly file: string
  readonly reason: string
}

/** The files of the store's listing that cannot be shown as run records, with the reason for each. */
export const skippedHistoryFiles = (listed: ReadonlyArray<HistoryFile>): Array<SkippedHistoryFile> =>
  listed.flatMap((f) =>
    f.unreadable !== undefined
      ? [{ file: f.file, reason: f.unreadable }]
      : isRunRecord(f.body)
        ? []
        : [{ file: f.file, reason: "it holds no run record (no startedAt or stages)" }],
  )
