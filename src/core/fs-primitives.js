// @ts-check
// The file-system primitives every layer shares: errno tests, temp names, and the atomic write (a
// file replaced without a reader ever seeing half of it). Plain JavaScript (checked by tsc with
// checkJs) because the no-op fast path (src/cli/fast-path.js) and written-files.js import it before
// TypeScript support is loaded; fs-util.ts wraps the same functions as Effects.
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"

/**
 * @param {unknown} error
 * @param {string} code
 * @returns {boolean}
 */
export const isErrno = (error, code) => typeof error === "object" && error !== null && /** @type {NodeJS.ErrnoException} */ (error).code === code

/** @param {unknown} error */
export const isNotFound = (error) => isErrno(error, "ENOENT") || isErrno(error, "ENOTDIR")

/**
 * A unique sibling name for a temp file or folder, tagged with this process id.
 * @param {string} base
 */
export const tempName = (base) => `${base}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`

/**
 * Writes a file by writing a sibling temp file and renaming it over the target: a reader, or a
 * process killed at any point, sees the old content or the new one, never a part. (No fsync: a
 * record torn by a power loss reads as invalid JSON, which every reader treats as absent.)
 * @param {string} file
 * @param {string | Uint8Array} data
 */
export const writeFileAtomicSync = (file, data) => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const tmp = tempName(file)
  fs.writeFileSync(tmp, data)
  try {
    fs.renameSync(tmp, file)
  } catch (error) {
    fs.rmSync(tmp, { force: true })
    throw error
  }
}
