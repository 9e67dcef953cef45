// @ts-check
// File stamps: what identifies a file's content without reading it, and the watched paths' states
// the fast path compares. Plain JavaScript (checked by tsc with checkJs) because the no-op fast path
// (src/cli/fast-path.js) imports it before TypeScript support is loaded; the core imports the same
// functions, so both sides stamp files the same way.
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { isNotFound } from "./fs-primitives.js"

/**
 * What identifies a file's content without reading it, as git's index does: size, modification
 * time, inode and change time. `ctime` cannot be set back by a user (`touch -r` sets it to now), so
 * a file rewritten and then given its old mtime still shows as changed.
 * @typedef {{ readonly size: number, readonly mtimeMs: number, readonly ctimeMs: number, readonly ino: number }} FileStamp
 */

/**
 * @param {fs.Stats} st
 * @returns {FileStamp}
 */
export const stampOfStats = (st) => ({ size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino })

/**
 * @param {FileStamp | undefined} a
 * @param {FileStamp | undefined} b
 * @returns {boolean}
 */
export const sameStamp = (a, b) =>
  a !== undefined && b !== undefined && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino

/**
 * The stamp of a file, or undefined when it does not exist.
 * @param {string} file
 * @returns {FileStamp | undefined}
 */
export const statStamp = (file) => {
  try {
    return stampOfStats(fs.statSync(file))
  } catch (error) {
    if (isNotFound(error)) return undefined
    throw error
  }
}

/**
 * One watched path's state: a file's stamp, a folder's listing, or absent (null).
 * @typedef {readonly [number, number, number, number] | { readonly dir: string, readonly ino: number } | null} PathState
 */

/**
 * @param {string} p
 * @returns {PathState}
 */
const pathState = (p) => {
  let st
  try {
    st = fs.statSync(p)
  } catch (error) {
    if (isNotFound(error)) return null
    throw error
  }
  if (st.isDirectory()) {
    // A folder is its listing (names hashed), not its mtime: on some file systems (procfs) mtime
    // says nothing, and a listing changes exactly when an entry is added, removed or renamed.
    const names = fs.readdirSync(p).sort()
    return { dir: createHash("sha256").update(names.join("\0")).digest("hex"), ino: st.ino }
  }
  return [st.size, st.mtimeMs, st.ctimeMs, st.ino]
}

/**
 * The state of every path: files stamped, folders listed and walked, absent paths recorded as
 * absent (so that a file appearing later is seen too).
 * @param {Iterable<string>} paths
 * @returns {Record<string, PathState>}
 */
export const collectPathStates = (paths) => {
  /** @type {Record<string, PathState>} */
  const out = {}
  /** @param {string} p */
  const visit = (p) => {
    if (p in out) return
    const state = pathState(p)
    out[p] = state
    if (state !== null && !Array.isArray(state)) for (const name of fs.readdirSync(p).sort()) visit(path.join(p, name))
  }
  for (const p of [...new Set(paths)].sort()) visit(p)
  return out
}

/**
 * The first path whose state differs from the recorded one, or undefined when all still hold.
 * @param {Readonly<Record<string, PathState>>} recorded
 * @returns {string | undefined}
 */
export const firstChangedPath = (recorded) => {
  for (const [p, want] of Object.entries(recorded)) {
    if (JSON.stringify(pathState(p)) !== JSON.stringify(want)) return p
  }
  return undefined
}

/** How close to "now" a stamp's times may be before a same-tick rewrite could go unseen (ms). */
const FINE_TICK_MS = 20
const COARSE_TICK_MS = 2000

/**
 * Whether a stamp taken at `now` cannot be trusted to see a further write ("racy git"): the file
 * changed so recently that a second change within the file system's timestamp granularity would
 * keep the same stamp. Whole-second timestamps (FAT, some network file systems) widen the window.
 * @param {FileStamp} stamp
 * @param {number} now
 */
export const isRacy = (stamp, now) => {
  const coarse = stamp.mtimeMs % 1000 === 0 && stamp.ctimeMs % 1000 === 0
  return now - Math.max(stamp.mtimeMs, stamp.ctimeMs) < (coarse ? COARSE_TICK_MS : FINE_TICK_MS)
}
