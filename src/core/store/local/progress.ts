/**
 * Progress records in the local store (layout.js: `progress/ab/<key>/`): `<step>.json` records
 * naming files in `blobs/<sha256>`. A save hashes each file, renames it into `blobs/` (over any
 * file of that name: a damaged blob is replaced, never trusted), writes the record atomically (the
 * commit point), then removes the key's other records and the blobs only they named, so a key holds
 * one record (two while a save is under way): a process killed at any point leaves the previous
 * record whole. A load rehashes every file of the newest record before handing it out; a record
 * that is torn, unreadable or names a missing or changed file is skipped (one line says so) and
 * removed, and the next older one is tried.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { describeError } from "../../errors.js"
import { failpoint } from "../../failpoint.js"
import type { StageKey } from "../../hashes.js"
import { isErrno, isNotFound, writeFileAtomicSync } from "../../fs-primitives.js"
import type { NewProgress, ProgressRecords } from "../cache.js"
import type { LocalLayout } from "../layout.js"
import { type ProgressLoad, type ProgressRecord, STORE_FORMAT, type SavedProgress } from "../records.js"
import { readdirOrEmpty, storeTry } from "./trees.js"

/** A record's file name: the step, zero-padded (layout.js), so names sort by step. */
const RECORD_NAME = /^(\d+)\.json$/
/** What a progress file may be called: one flat name, no path. */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/
const HASH_CHUNK = 1 << 20

/** sha256 of a file's content, read in chunks. */
const hashFileSync = (file: string): string => {
  const hash = createHash("sha256")
  const fd = fs.openSync(file, "r")
  try {
    const buffer = Buffer.allocUnsafe(HASH_CHUNK)
    for (;;) {
      const n = fs.readSync(fd, buffer, 0, HASH_CHUNK, null)
      if (n === 0) break
      hash.update(buffer.subarray(0, n))
    }
  } finally {
    fs.closeSync(fd)
  }
  return hash.digest("hex")
}

/** The key's records, newest first. */
const recordSteps = (layout: LocalLayout, key: string): Array<number> =>
  readdirOrEmpty(layout.progress(key))
    .flatMap((name) => {
      const m = RECORD_NAME.exec(name)
      return m ? [Number(m[1])] : []
    })
    .sort((a, b) => b - a)

const readRecord = (file: string): ProgressRecord => JSON.parse(fs.readFileSync(file, "utf8")) as ProgressRecord

/** Why `record` (read from the file of `step`) cannot be resumed from, or its files' paths. */
const checkRecord = (layout: LocalLayout, key: string, step: number, record: ProgressRecord): string | SavedProgress => {
  if (record.format !== STORE_FORMAT || record.key !== key || record.step !== step) return "it is not this key's record of that step"
  if (typeof record.files !== "object" || record.files === null) return "it names no files"
  const files: Record<string, string> = {}
  for (const [name, { hash, size }] of Object.entries(record.files)) {
    if (!FILE_NAME.test(name) || !/^[0-9a-f]{64}$/.test(hash)) return `it names a file "${name}" it cannot have`
    const blob = layout.progressBlob(key, hash)
    let st: fs.Stats
    try {
      st = fs.statSync(blob)
    } catch (error) {
      if (isNotFound(error)) return `its file ${name} is missing`
      throw error
    }
    if (st.size !== size) return `its file ${name} has ${st.size} bytes, the record says ${size}`
    if (hashFileSync(blob) !== hash) return `its file ${name} does not hash to what the record says`
    files[name] = blob
  }
  return { record, files }
}

/**
 * Removes the key's records but `step`'s and the blobs that `keep` does not name: the record just
 * written is the key's progress (one writer per key: the runner holds the key's lock).
 */
const pruneOthers = (layout: LocalLayout, key: string, step: number, keep: ReadonlySet<string>) => {
  for (const s of recordSteps(layout, key)) if (s !== step) fs.rmSync(layout.progressRecord(key, s), { force: true })
  const blobs = path.dirname(layout.progressBlob(key, "x"))
  for (const name of readdirOrEmpty(blobs)) if (!keep.has(name)) fs.rmSync(path.join(blobs, name), { force: true })
}

export const localProgress = (layout: LocalLayout): ProgressRecords => ({
  newFolder: (label) =>
    storeTry(layout.tmpDir, "create progress folder", () => {
      fs.mkdirSync(layout.tmpDir, { recursive: true })
      // Named `<pid>-...` like staging: swept once this process is dead.
      return fs.mkdtempSync(path.join(layout.tmpDir, `${process.pid}-progress-${label.replace(/[^a-zA-Z0-9-]/g, "_")}-`))
    }),

  save: (fields: NewProgress, dir: string) =>
    storeTry(layout.progress(fields.key), "save progress", () => {
      const files: Record<string, { hash: string; size: number }> = {}
      fs.mkdirSync(path.dirname(layout.progressBlob(fields.key, "x")), { recursive: true })
      for (const name of fs.readdirSync(dir).sort()) {
        const file = path.join(dir, name)
        const st = fs.lstatSync(file)
        if (!st.isFile() || !FILE_NAME.test(name)) throw new Error(`${file} is not a plain file with a flat name: a progress record holds only those`)
        const hash = hashFileSync(file)
        fs.chmodSync(file, 0o444)
        fs.renameSync(file, layout.progressBlob(fields.key, hash))
        files[name] = { hash, size: st.size }
      }
      // Named per instance and step (`progress-saved:train/fold-1:2`): crash tests kill one fold at one epoch.
      failpoint(`progress-blobs:${fields.id}:${fields.step}`)
      const record: ProgressRecord = { format: STORE_FORMAT, ...fields, savedAt: fields.savedAt ?? new Date().toISOString(), files }
      writeFileAtomicSync(layout.progressRecord(fields.key, fields.step), `${JSON.stringify(record)}\n`)
      failpoint(`progress-saved:${fields.id}:${fields.step}`)
      pruneOthers(layout, fields.key, fields.step, new Set(Object.values(files).map((f) => f.hash)))
      fs.rmSync(dir, { recursive: true, force: true })
      return record
    }),

  load: (key: StageKey) =>
    storeTry(layout.progress(key), "load progress", (): ProgressLoad => {
      const skipped: Array<{ step: number; why: string }> = []
      for (const step of recordSteps(layout, key)) {
        const file = layout.progressRecord(key, step)
        let checked: string | SavedProgress
        try {
          checked = checkRecord(layout, key, step, readRecord(file))
        } catch (error) {
          if (isNotFound(error)) continue
          checked = `it cannot be read (${describeError(error)})`
        }
        if (typeof checked !== "string") return { found: checked, skipped }
        skipped.push({ step, why: checked })
        fs.rmSync(file, { force: true })
      }
      return { found: undefined, skipped }
    }),

  peek: (key: StageKey) =>
    Effect.sync(() => {
      for (const step of recordSteps(layout, key)) {
        try {
          const record = readRecord(layout.progressRecord(key, step))
          if (record.key === key && record.step === step) return record
        } catch (error) {
          // Torn or gone since the listing: status shows the next older one, or nothing.
          if (!(error instanceof SyntaxError) && !isNotFound(error)) return undefined
        }
      }
      return undefined
    }),

  drop: (key: StageKey) =>
    storeTry(layout.progress(key), "drop progress", () => {
      fs.rmSync(layout.progress(key), { recursive: true, force: true })
      // Its shard folder too once empty (another key's records may be there: then it stays).
      try {
        fs.rmdirSync(path.dirname(layout.progress(key)))
      } catch (error) {
        if (!isErrno(error, "ENOTEMPTY") && !isErrno(error, "EEXIST") && !isNotFound(error)) throw error
      }
    }),
})

/** Keys that have progress records (for gc). */
export const progressKeys = (layout: LocalLayout): Array<string> =>
  readdirOrEmpty(layout.progressDir).flatMap((s) => readdirOrEmpty(path.join(layout.progressDir, s)))
