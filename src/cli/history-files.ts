/**
 * The run history files `cairn runs` and `cairn diff` cannot show, and why. The store's listing
 * leaves out a file it cannot parse, and a file that parses may hold no run record: each of them
 * is named in a warning rather than dropped without a word.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { describeError } from "../core/errors.js"
import { isNotFound } from "../core/stamp.js"
import type { HistoryFile } from "../core/store/artifact-store.js"
import { localLayout } from "../core/store/layout.js"
import { isRunRecord } from "./history.js"

/** A history file left out, and why. */
export interface SkippedHistoryFile {
  readonly file: string
  readonly reason: string
}

/** Names in `dir`, none when it does not exist (no history yet). */
const namesIn = (dir: string): ReadonlyArray<string> => {
  try {
    return fs.readdirSync(dir)
  } catch (error) {
    if (isNotFound(error)) return []
    throw error
  }
}

/** Why `file`, which the store's listing left out, cannot be shown; undefined when it now can (written since). */
const whyUnreadable = (file: string): string | undefined => {
  let body: unknown
  try {
    body = JSON.parse(fs.readFileSync(file, "utf8"))
  } catch (error) {
    // Gone since the listing (a gc): nothing to warn about.
    if (isNotFound(error)) return undefined
    return describeError(error)
  }
  return isRunRecord(body) ? undefined : "it holds no run record (no startedAt or stages)"
}

/**
 * The history files of `pipeline` (every pipeline when undefined) in the store at `cacheDir` that
 * `listed` (the store's listing) does not hold as run records, with the reason for each.
 */
export const skippedHistoryFiles = (cacheDir: string, pipeline: string | undefined, listed: ReadonlyArray<HistoryFile>): Array<SkippedHistoryFile> => {
  const layout = localLayout(cacheDir)
  const shown = new Set(listed.filter((f) => isRunRecord(f.body)).map((f) => f.runId))
  const skipped: Array<SkippedHistoryFile> = []
  for (const p of pipeline === undefined ? namesIn(layout.historyRoot) : [pipeline]) {
    const dir = layout.history(p)
    for (const name of [...namesIn(dir)].filter((n) => n.endsWith(".json")).sort()) {
      if (shown.has(name.slice(0, -".json".length))) continue
      const file = path.join(dir, name)
      const reason = whyUnreadable(file)
      if (reason !== undefined) skipped.push({ file, reason })
    }
  }
  return skipped
}
