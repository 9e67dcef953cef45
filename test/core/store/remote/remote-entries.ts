/**
 * Reading and rewriting cairn's entries where a test server keeps them (`<root>/<prefix>/ac/<key>`,
 * `<root>/<prefix>/cas/<sha256>`: nginx's document root, the validating server's folder), as a
 * writer to the cache could: an entry's ActionResult, and the record blob it names.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Either } from "effect"
import { sha256 } from "../../../../src/core/canonical.js"
import { blobOf, decodeIndex, type EntryIndex, encodeIndex, type RemoteFile } from "../../../../src/core/store/remote/entries.js"

export interface StoredEntry {
  readonly index: EntryIndex
  readonly signature: Uint8Array | undefined
  /** The record blob's JSON: `{ format, store, kind, record }`. */
  readonly record: Record<string, unknown> & { record: Record<string, unknown> }
}

const acFile = (onServer: string, key: string) => path.join(onServer, "ac", key)

/** The entry under `key` on the server's disk (decoded, with its record). */
export const readEntry = (onServer: string, key: string): StoredEntry => {
  const decoded = decodeIndex(fs.readFileSync(acFile(onServer, key)))
  if (Either.isLeft(decoded)) throw new Error(`ac/${key} on the server: ${decoded.left}`)
  const record = JSON.parse(fs.readFileSync(path.join(onServer, "cas", decoded.right.index.record.hash), "utf8"))
  return { ...decoded.right, record }
}

/** Writes an entry under `key`: its record blob (when given) into the CAS, then its ActionResult. */
export const writeEntry = (
  onServer: string,
  key: string,
  entry: { readonly files: ReadonlyArray<RemoteFile>; readonly record: unknown; readonly signature?: Uint8Array | undefined },
) => {
  const recordBytes = Buffer.from(JSON.stringify(entry.record))
  fs.writeFileSync(path.join(onServer, "cas", sha256(recordBytes)), recordBytes)
  fs.writeFileSync(acFile(onServer, key), encodeIndex({ record: blobOf(recordBytes), files: entry.files }, entry.signature))
}
