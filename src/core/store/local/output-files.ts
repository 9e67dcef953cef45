/**
 * What of a staged folder (a stage's output, a memo item, a fetched entry) the store may take in:
 * its regular files, walked without ever leaving the folder. A symbolic link is followed only when
 * it resolves inside the folder (its target's content is stored under the link's name); a link out
 * of it, a dangling one or a loop is an `UnsafeOutputLink` naming the link and its target.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { isErrno, isNotFound } from "../../fs-primitives.js"
import { UnsafeOutputLink } from "../records.js"

/** A file to store: its path in the tree, and the real file (inside the folder) holding its content. */
export interface OutputFile {
  readonly rel: string
  readonly real: string
}

const inside = (root: string, p: string) => p === root || p.startsWith(root + path.sep)

/**
 * The files of `dir`, sorted by relative path ('/'-separated), or the first link that may not be
 * followed. Other I/O failures are thrown. Special files (fifos, sockets) are left out, as before.
 */
export const listOutputFiles = (dir: string): Array<OutputFile> | UnsafeOutputLink => {
  const root = fs.realpathSync(dir)
  const out: Array<OutputFile> = []
  // `real` is a folder's real path; `open` the real folders being walked (a link to one of them, or
  // to a folder above one, would walk forever).
  const walk = (real: string, rel: string, open: ReadonlyArray<string>): UnsafeOutputLink | undefined => {
    for (const entry of fs.readdirSync(real, { withFileTypes: true })) {
      const childRel = rel ? `${rel}/${entry.name}` : entry.name
      const child = path.join(real, entry.name)
      if (entry.isDirectory()) {
        const bad = walk(child, childRel, [...open, child])
        if (bad) return bad
      } else if (entry.isFile()) {
        out.push({ rel: childRel, real: child })
      } else if (entry.isSymbolicLink()) {
        const target = fs.readlinkSync(child)
        let resolved: string
        try {
          resolved = fs.realpathSync(child)
        } catch (error) {
          if (isNotFound(error)) return new UnsafeOutputLink({ file: childRel, target, problem: "dangling", cause: error })
          if (isErrno(error, "ELOOP")) return new UnsafeOutputLink({ file: childRel, target, problem: "loop", cause: error })
          throw error
        }
        if (!inside(root, resolved)) return new UnsafeOutputLink({ file: childRel, target, problem: "outside" })
        const st = fs.statSync(resolved)
        if (st.isDirectory()) {
          if (open.some((d) => inside(resolved, d))) return new UnsafeOutputLink({ file: childRel, target, problem: "loop" })
          const bad = walk(resolved, childRel, [...open, resolved])
          if (bad) return bad
        } else if (st.isFile()) {
          out.push({ rel: childRel, real: resolved })
        }
      }
    }
    return undefined
  }
  const bad = walk(root, "", [root])
  if (bad) return bad
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0))
}
