/** Copying results out of the store into the user's folders (publish, export), and showing them. */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { describeError } from "../core/errors.js"
import { CopyOutFailed } from "./errors.js"

/** Copies a folder's files (the store's are read-only hard links) into `dest`, replacing it. */
export const copyOut = (from: string, dest: string) =>
  Effect.try({
    try: () => {
      fs.rmSync(dest, { recursive: true, force: true })
      fs.mkdirSync(dest, { recursive: true })
      fs.cpSync(from, dest, { recursive: true, dereference: true })
      // Copies of read-only store objects are the user's: make them writable.
      const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
          const p = path.join(d, e.name)
          if (e.isDirectory()) walk(p)
          else fs.chmodSync(p, 0o644)
        }
      }
      walk(dest)
    },
    catch: (error) => new CopyOutFailed({ from, dest, detail: describeError(error), cause: error }),
  })

/** A folder as `dir/ (a.csv, b.json, +2 more)`: where a user finds what a run wrote. */
export const showFolder = (dir: string): string => {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name).sort() : []
  const shown = files.slice(0, 3).join(", ") + (files.length > 3 ? `, +${files.length - 3} more` : "")
  return `${path.relative(process.cwd(), dir) || "."}/${shown ? ` (${shown})` : ""}`
}
