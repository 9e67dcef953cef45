import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { describeError, FileError } from "./errors.js"
import { atomicWriteFileSync, readJsonFileSync } from "./fs-util.js"
import { type FileStamp, isRacy, sameStamp, stampOfStats } from "./stamp.js"

export type { FileStamp }

interface MemoEntry extends FileStamp {
  readonly hash: string
}

/** Streams a file through sha256. */
export const hashFileContent = (file: string): Effect.Effect<string, FileError> =>
  Effect.async<string, FileError>((resume) => {
    const hash = createHash("sha256")
    const stream = fs.createReadStream(file, { highWaterMark: 1 << 20 })
    stream.on("data", (chunk) => hash.update(chunk))
    stream.on("error", (error) => resume(Effect.fail(new FileError({ file, operation: "hash", detail: error.message, cause: error }))))
    stream.on("end", () => resume(Effect.succeed(hash.digest("hex"))))
    return Effect.sync(() => stream.destroy())
  })

/** A file's content hash and the stamp it had when hashed. */
export interface HashedFile {
  readonly hash: string
  readonly stamp: FileStamp
}

/**
 * Content hashes of data files remembered by (path, size, mtime, ctime, inode), persisted in the
 * cache dir, so that a rerun with unchanged inputs stats its data files and reads none of them.
 */
export class FileHashMemo {
  private readonly entries: Map<string, MemoEntry>
  private dirty = false
  /** Files whose content was actually read by this memo (for tests and `--explain`). */
  readonly readFiles: Array<string> = []

  constructor(private readonly file: string) {
    const loaded = readJsonFileSync<Record<string, MemoEntry>>(file)
    this.entries = new Map(Object.entries(loaded ?? {}).filter(([, e]) => typeof e.ctimeMs === "number"))
  }

  /** The content hash of one file, reading it only when its stamp is unknown or changed. */
  hashFile(file: string): Effect.Effect<HashedFile, FileError> {
    return Effect.gen(this, function* () {
      const abs = path.resolve(file)
      const st = yield* Effect.try({
        try: () => fs.statSync(abs),
        catch: (error) => new FileError({ file: abs, operation: "stat", detail: describeError(error), cause: error }),
      })
      if (!st.isFile()) {
        return yield* Effect.fail(new FileError({ file: abs, operation: "hash", detail: "not a regular file" }))
      }
      const stamp = stampOfStats(st)
      const known = this.entries.get(abs)
      if (known && sameStamp(known, stamp)) return { hash: known.hash, stamp }
      const hash = yield* hashFileContent(abs)
      this.readFiles.push(abs)
      // A file changed within the timestamp granularity is hashed but not remembered ("racy git").
      if (!isRacy(stamp, Date.now())) {
        this.entries.set(abs, { ...stamp, hash })
        this.dirty = true
      }
      return { hash, stamp }
    })
  }

  /** Writes the memo back if anything was learned. Concurrent writers: last one wins (it is a memo). */
  save(): Effect.Effect<void, FileError> {
    return Effect.suspend(() => {
      if (!this.dirty) return Effect.void
      const merged: Record<string, MemoEntry> = { ...(readJsonFileSync<Record<string, MemoEntry>>(this.file) ?? {}) }
      for (const [k, v] of this.entries) merged[k] = v
      this.dirty = false
      return atomicWriteFileSync(this.file, JSON.stringify(merged))
    })
  }
}

/** One file of a hashed directory: path relative to the directory, with '/' separators. */
export interface ManifestEntry {
  readonly path: string
  readonly hash: string
  readonly size: number
}

/** Every regular file under a directory, sorted by relative path (symlinks followed to files). */
export const listFiles = (dir: string): Effect.Effect<Array<string>, FileError> =>
  Effect.try({
    try: () => listFilesSync(dir),
    catch: (error) => new FileError({ file: dir, operation: "list", detail: describeError(error), cause: error }),
  })

/** `listFiles`, throwing. */
export const listFilesSync = (dir: string): Array<string> => {
  const out: Array<string> = []
  const walk = (rel: string) => {
    const entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true })
    for (const entry of entries) {
      const childRel = rel ? `${rel}/${entry.name}` : entry.name
      if (entry.isDirectory()) walk(childRel)
      else if (entry.isFile()) out.push(childRel)
      else if (entry.isSymbolicLink()) {
        const st = fs.statSync(path.join(dir, childRel))
        if (st.isDirectory()) walk(childRel)
        else if (st.isFile()) out.push(childRel)
      }
    }
  }
  walk("")
  return out.sort()
}
