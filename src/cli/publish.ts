/** Copying results out of the store into the user's folders (publish, export), and showing them. */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { describeError } from "../core/errors.js"
import { CopyOutFailed, StaleMarkFailed, WriteRefused } from "./cli-errors.js"
import { markStale, type Origin, type Policy, WRITTEN_MANIFEST, type Written, writeFilesInto } from "./written-files.js"

export { PUBLISH_POLICY } from "./written-files.js"

/**
 * Copies a folder's files (the store's are read-only hard links) into `dest`, replacing and
 * removing only the files cairn wrote there before (see written-files.js). `force`: the option that
 * lets a refused write go ahead, for the message (undefined where there is none).
 */
export const copyOut = (from: string, dest: string, origin: Origin, policy: Policy, force?: string): Effect.Effect<Written, CopyOutFailed | WriteRefused> =>
  Effect.flatMap(
    Effect.try({
      try: () => writeFilesInto(from, dest, origin, policy),
      catch: (error) => new CopyOutFailed({ from, dest, detail: describeError(error), cause: error }),
    }),
    (r) => (r.refused ? Effect.fail(new WriteRefused({ ...r.refused, force })) : Effect.succeed(r.done)),
  )

/**
 * After a failed run, marks each folder an earlier run wrote as stale (see `markStale`): the
 * folders marked, for the console. A folder cairn never wrote into is left alone.
 */
export const markStaleFolders = (dirs: ReadonlyArray<string>, failure: { readonly run: string; readonly at: string }) =>
  Effect.forEach(dirs, (dir) =>
    Effect.try({
      try: () => (markStale(dir, failure) ? [dir] : []),
      catch: (error) => new StaleMarkFailed({ dir, detail: describeError(error), cause: error }),
    }),
  ).pipe(Effect.map((marked) => marked.flat()))

/** A folder as `dir/ (a.csv, b.json, +2 more)`: where a user finds what a run wrote. */
export const showFolder = (dir: string): string => {
  const files = fs.existsSync(dir)
    ? fs
        .readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isFile() && e.name !== WRITTEN_MANIFEST)
        .map((e) => e.name)
        .sort()
    : []
  const shown = files.slice(0, 3).join(", ") + (files.length > 3 ? `, +${files.length - 3} more` : "")
  return `${folderName(dir)}${shown ? ` (${shown})` : ""}`
}

/** A folder as `out/report/`, relative to the current folder. */
export const folderName = (dir: string): string => `${path.relative(process.cwd(), dir) || "."}/`
