// @ts-check
// The files cairn writes into a user's folder (an export, a published output, a run's report), and
// the manifest that remembers them: cairn never deletes or changes a file it did not write.
//
// Each such folder gets a manifest (`.cairn-written.json`) naming every file cairn wrote there with
// its sha256. The next write into the folder replaces and removes only files the manifest lists and
// whose content is still what cairn wrote; a file the user added stays, one the user changed is
// neither overwritten nor removed. A non-empty folder without a manifest is refused, or (publish
// folders and reports of an older cairn, `export --force`) written over by name only: files of the
// same names are replaced, nothing else is removed.
//
// Plain JavaScript (checked by tsc) because the no-op fast path (fast-path.js) copies a run's report
// with it before TypeScript support is loaded. Refusals are returned as data, never thrown: the
// callers turn them into their own errors (WriteRefused in errors.ts) or into a fall-through.
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { isErrno, isNotFound, tempName, writeFileAtomicSync } from "../core/fs-primitives.js"

/** The manifest's file name, in each folder cairn writes into. */
export const WRITTEN_MANIFEST = ".cairn-written.json"
/** The note a failed run leaves in a folder that still holds an earlier run's files. */
export const STALE_NOTE = "CAIRN-STALE.txt"
const MANIFEST_FORMAT = 1

/**
 * What wrote the folder: `what` names it for people (a stage id, a pipeline's report), `key` the
 * stored result it came from.
 * @typedef {{ readonly by: "export" | "publish" | "report", readonly what: string, readonly key?: string }} Origin
 */

/**
 * @typedef {{
 *   readonly cairn: "written-files",
 *   readonly format: number,
 *   readonly origin: Origin,
 *   readonly at: string,
 *   readonly files: Readonly<Record<string, string>>,
 *   readonly pending?: Readonly<Record<string, string>>,
 *   readonly stale?: { readonly since: string, readonly note?: string },
 * }} Manifest
 */

/**
 * How a write treats what is already there. `unmarked`: a non-empty folder without a manifest is
 * refused, or written over by name. `overwriteChanged`: a file of an exported name that cairn did
 * not write (or that was changed since) is replaced instead of refused (`export --force`).
 * @typedef {{ readonly unmarked: "refuse" | "write-over", readonly overwriteChanged: boolean }} Policy
 */

/**
 * How publishing and reports write: a folder of an older cairn's (no manifest) is written over by
 * name; a file the user changed is refused.
 * @type {Policy}
 */
export const PUBLISH_POLICY = { unmarked: "write-over", overwriteChanged: false }

/**
 * What the after-run report's folder is written by (the full path and the fast path's replay alike).
 * @type {Origin}
 */
export const REPORT_ORIGIN = { by: "report", what: "after-run report" }

/**
 * Why nothing was written. `not-marked`: `dest` is a non-empty folder without a manifest;
 * `changed`: `file` was written by cairn and changed since; `not-ours`: `file` is not cairn's;
 * `not-a-file` / `not-a-folder`: `file` is in the way (a folder, a link) of a file or folder to
 * write; `reserved`: the artifact itself holds a file of the manifest's name.
 * @typedef {{ readonly reason: "not-marked" | "changed" | "not-ours" | "not-a-file" | "not-a-folder" | "reserved", readonly dest: string, readonly file: string }} Refusal
 */

/**
 * What a write did: files written (or already right), removed (cairn's, no longer part of the
 * output) and kept (cairn's once, changed since: left where they are, no longer listed).
 * @typedef {{ readonly written: ReadonlyArray<string>, readonly removed: ReadonlyArray<string>, readonly kept: ReadonlyArray<string> }} Written
 */

/** @param {string} file */
const sha256OfFile = (file) => {
  const hash = createHash("sha256")
  const fd = fs.openSync(file, "r")
  try {
    const buf = Buffer.allocUnsafe(1 << 20)
    for (let n = fs.readSync(fd, buf, 0, buf.length, null); n > 0; n = fs.readSync(fd, buf, 0, buf.length, null)) hash.update(buf.subarray(0, n))
  } finally {
    fs.closeSync(fd)
  }
  return hash.digest("hex")
}

/**
 * The sha256 of a regular file, or undefined for anything else (absent, a folder, a link).
 * @param {string} file
 */
const hashOfFile = (file) => (lstatOrUndefined(file)?.isFile() ? sha256OfFile(file) : undefined)

/** @param {string} p */
const lstatOrUndefined = (p) => {
  try {
    return fs.lstatSync(p)
  } catch (error) {
    if (isNotFound(error)) return undefined
    throw error
  }
}

/**
 * The manifest of `dest`, or undefined when it has none (or one that is not cairn's).
 * @param {string} dest
 * @returns {Manifest | undefined}
 */
export const readWrittenManifest = (dest) => {
  let text
  try {
    text = fs.readFileSync(path.join(dest, WRITTEN_MANIFEST), "utf8")
  } catch (error) {
    if (isNotFound(error)) return undefined
    throw error
  }
  try {
    const m = JSON.parse(text)
    return m && m.cairn === "written-files" && typeof m.files === "object" && m.files !== null ? m : undefined
  } catch (error) {
    if (error instanceof SyntaxError) return undefined
    throw error
  }
}

/**
 * Every file under `dir` (links followed, as a copy reads them), by relative path.
 * @param {string} dir
 * @returns {Array<string>}
 */
const filesUnder = (dir) => {
  /** @type {Array<string>} */
  const out = []
  /** @param {string} rel */
  const walk = (rel) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? path.join(rel, name) : name
      if (fs.statSync(path.join(dir, r)).isDirectory()) walk(r)
      else out.push(r)
    }
  }
  walk("")
  return out
}

/**
 * Whether the file `rel` of the folder of `manifest`, of content `hash`, holds what cairn wrote there.
 * @param {Manifest | undefined} manifest
 * @param {string} rel
 * @param {string | undefined} hash
 */
const isOurs = (manifest, rel, hash) => manifest !== undefined && hash !== undefined && (manifest.files[rel] === hash || manifest.pending?.[rel] === hash)

/**
 * The folders between `dest` and `rel`'s file, outermost first (`a`, `a/b` for `a/b/c`).
 * @param {string} rel
 */
const parentsOf = (rel) => {
  const parts = rel.split(path.sep).slice(0, -1)
  return parts.map((_, i) => parts.slice(0, i + 1).join(path.sep))
}

/**
 * Why `dest` cannot be written into at all under `policy` (not a folder; a non-empty folder with no
 * manifest when those are refused), or undefined: what a command checks before it runs anything.
 * @param {string} dest
 * @param {Policy} policy
 * @returns {Refusal | undefined}
 */
export const refusedFolder = (dest, policy) => {
  if (!fs.existsSync(dest)) return undefined
  if (!fs.statSync(dest).isDirectory()) return { reason: "not-a-folder", dest, file: dest }
  if (policy.unmarked === "refuse" && !readWrittenManifest(dest) && fs.readdirSync(dest).length > 0) return { reason: "not-marked", dest, file: dest }
  return undefined
}

/**
 * Copies the files of `from` into `dest` (created when missing), replacing and removing only what
 * the manifest of `dest` says cairn wrote and is unchanged; then records the new files. Everything
 * is checked before anything is written: a refusal leaves `dest` as it was.
 * @param {string} from
 * @param {string} dest
 * @param {Origin} origin
 * @param {Policy} policy
 * @returns {{ readonly refused: Refusal, readonly done?: undefined } | { readonly refused?: undefined, readonly done: Written }}
 */
export const writeFilesInto = (from, dest, origin, policy) => {
  /** @param {Refusal["reason"]} reason @param {string} file */
  const refuse = (reason, file) => ({ refused: { reason, dest, file } })
  const incoming = new Map(filesUnder(from).map((rel) => [rel, sha256OfFile(path.join(from, rel))]))
  if (incoming.has(WRITTEN_MANIFEST)) return refuse("reserved", path.join(from, WRITTEN_MANIFEST))

  const early = refusedFolder(dest, policy)
  if (early) return { refused: early }
  const manifest = fs.existsSync(dest) ? readWrittenManifest(dest) : undefined

  /** @param {string} rel whether every folder between `dest` and `rel` is a real folder (no link leads out) */
  const inRealFolders = (rel) => parentsOf(rel).every((dir) => lstatOrUndefined(path.join(dest, dir))?.isDirectory() === true)
  /** @param {string} rel whether `rel` is a file cairn wrote, still as written (so it may be replaced or removed) */
  const stillOurs = (rel) => inRealFolders(rel) && isOurs(manifest, rel, hashOfFile(path.join(dest, rel)))

  // What goes: cairn's files that the new output does not hold, when they are still as written.
  const previous = manifest ? [...new Set([...Object.keys(manifest.files), ...Object.keys(manifest.pending ?? {})])] : []
  /** @type {Array<string>} */
  const remove = []
  /** @type {Array<string>} */
  const kept = []
  for (const rel of previous) {
    if (incoming.has(rel) || !lstatOrUndefined(path.join(dest, rel))) continue
    if (stillOurs(rel)) remove.push(rel)
    else kept.push(rel)
  }
  const staleNote = manifest?.stale?.note
  if (staleNote !== undefined && !incoming.has(STALE_NOTE) && hashOfFile(path.join(dest, STALE_NOTE)) === staleNote) remove.push(STALE_NOTE)
  const removing = new Set(remove)

  // What comes: each file's folders must be folders (or files of cairn's that go), each file one
  // cairn may replace.
  /** @type {Array<string>} */
  const write = []
  /** Files already there with the output's content that cairn may not claim: left unlisted. @type {Set<string>} */
  const notClaimed = new Set()
  /**
   * Whether the file at `rel` may be written over: cairn's own file, or where no manifest tells (a
   * folder of an older cairn's, `export --force`), or when told (--force).
   * @param {string} rel
   */
  const mayWriteOver = (rel) => stillOurs(rel) || !manifest || policy.overwriteChanged
  for (const [rel, hash] of incoming) {
    for (const dir of parentsOf(rel)) {
      const st = lstatOrUndefined(path.join(dest, dir))
      if (st === undefined || st.isDirectory() || removing.has(dir)) continue
      return refuse("not-a-folder", path.join(dest, dir))
    }
    const target = path.join(dest, rel)
    const st = lstatOrUndefined(target)
    if (st === undefined) write.push(rel)
    else if (st.isDirectory()) return refuse("not-a-file", target)
    else if (st.isFile() && hashOfFile(target) === hash) {
      // The right content already: listed when cairn may write over it, else left the user's.
      if (!mayWriteOver(rel)) notClaimed.add(rel)
    } else if (mayWriteOver(rel)) write.push(rel)
    else return refuse(manifest && rel in manifest.files ? "changed" : "not-ours", target)
  }

  const at = new Date().toISOString()
  /** @param {Record<string, string>} files @param {Record<string, string> | undefined} pending */
  const manifestOf = (files, pending) => {
    // Until the new files are all in place, the old ones and the stale note are still cairn's.
    const rest = pending ? { pending, ...(manifest?.stale ? { stale: manifest.stale } : {}) } : {}
    return `${JSON.stringify({ cairn: "written-files", format: MANIFEST_FORMAT, origin, at, files, ...rest }, null, 1)}\n`
  }
  fs.mkdirSync(dest, { recursive: true })
  // First say what is about to be written: a process killed half-way leaves files a later write
  // still knows as cairn's.
  const incomingFiles = Object.fromEntries(incoming)
  writeFileAtomicSync(path.join(dest, WRITTEN_MANIFEST), manifestOf({ ...manifest?.files }, incomingFiles))
  for (const rel of remove) {
    fs.rmSync(path.join(dest, rel), { force: true })
    // Folders this removal emptied go too (they held cairn's files only); `dest` itself stays.
    for (const dir of parentsOf(rel).reverse()) {
      try {
        fs.rmdirSync(path.join(dest, dir))
      } catch (error) {
        if (["ENOTEMPTY", "EEXIST", "ENOENT", "ENOTDIR"].some((code) => isErrno(error, code))) break
        throw error
      }
    }
  }
  for (const rel of write) {
    const target = path.join(dest, rel)
    fs.mkdirSync(path.dirname(target), { recursive: true })
    const tmp = tempName(target)
    fs.copyFileSync(path.join(from, rel), tmp)
    // Copies of read-only store objects are the user's: writable.
    fs.chmodSync(tmp, 0o644)
    fs.renameSync(tmp, target)
  }
  const claimed = Object.fromEntries([...incoming].filter(([rel]) => !notClaimed.has(rel)))
  writeFileAtomicSync(path.join(dest, WRITTEN_MANIFEST), manifestOf(claimed, undefined))
  return { done: { written: [...incoming.keys()], removed: remove, kept } }
}

/**
 * Marks a folder cairn wrote before as stale: a note beside its files saying that the run `run`
 * failed and they come from an earlier one. The next write into the folder removes the note. A
 * folder without a manifest is not cairn's to mark: false.
 * @param {string} dest
 * @param {{ readonly run: string, readonly at: string }} failure
 * @returns {boolean}
 */
export const markStale = (dest, failure) => {
  const manifest = readWrittenManifest(dest)
  if (!manifest) return false
  const note = path.join(dest, STALE_NOTE)
  const text = [
    `The files in this folder come from an earlier run (written ${manifest.at}).`,
    `The run ${failure.run} (started ${failure.at}) failed: it wrote nothing here.`,
    "The next successful run replaces them and removes this note.",
    "",
  ].join("\n")
  const hash = createHash("sha256").update(text).digest("hex")
  const st = lstatOrUndefined(note)
  // A file of that name that is not cairn's note stays as it is; the manifest still says stale.
  const mayWrite = st === undefined || (st.isFile() && manifest.stale?.note !== undefined && sha256OfFile(note) === manifest.stale.note)
  if (mayWrite) writeFileAtomicSync(note, text)
  const stale = { since: failure.at, ...(mayWrite ? { note: hash } : {}) }
  writeFileAtomicSync(path.join(dest, WRITTEN_MANIFEST), `${JSON.stringify({ ...manifest, stale }, null, 1)}\n`)
  return true
}
