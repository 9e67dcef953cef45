/**
 * What the remote action cache holds under a key: the run record (or memo item) and the files of its
 * tree (path, blob hash, size), so a reader can fetch every blob and rebuild the tree before it
 * installs the record. An entry is checked before anything is fetched: its format, that it is for
 * this key (a run record's fields must hash to it), that its output hash is its tree's, value's and
 * metrics', and that every path stays inside the tree.
 */
import { Either } from "effect"
import { computeKey } from "../../key.js"
import { type MemoItemRecord, type RunRecord, STORE_FORMAT } from "../artifact-store.js"
import { outputHashOf } from "../local/commit.js"
import type { TreeEntry } from "../local/trees.js"
import { isEntryName } from "./remote-cache.js"

/** Bumped when the entry's shape changes: entries of another format are misses. */
export const REMOTE_FORMAT = 1

/** One file of an entry's tree: path relative to the tree ('/'-separated), blob hash, size. */
export type RemoteFile = readonly [rel: string, hash: string, size: number]

export type RemoteEntry =
  | { readonly kind: "run"; readonly record: RunRecord; readonly files: ReadonlyArray<RemoteFile> }
  | { readonly kind: "item"; readonly record: MemoItemRecord; readonly files: ReadonlyArray<RemoteFile> }

/** A local tree's manifest as an entry's files. */
export const remoteFiles = (entries: ReadonlyArray<TreeEntry>): ReadonlyArray<RemoteFile> => entries.map(([rel, hash, size]) => [rel, hash, size] as const)

export const encodeEntry = (entry: RemoteEntry): Uint8Array =>
  Buffer.from(JSON.stringify({ format: REMOTE_FORMAT, store: STORE_FORMAT, kind: entry.kind, record: entry.record, files: entry.files }))

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

/** A path that stays inside its tree: relative, no empty, `.` or `..` segment. */
const isInsideTree = (rel: string): boolean => rel.split("/").every((s) => s !== "" && s !== "." && s !== ".." && !s.includes("\0"))

const checkFiles = (files: unknown): string | undefined => {
  if (!Array.isArray(files)) return "no file list"
  const seen = new Set<string>()
  for (const f of files as Array<unknown>) {
    if (!Array.isArray(f) || f.length !== 3) return "a malformed file entry"
    const [rel, hash, size] = f as [unknown, unknown, unknown]
    if (typeof rel !== "string" || !isInsideTree(rel)) return `a file path outside its tree: ${JSON.stringify(rel)}`
    if (seen.has(rel)) return `the file ${rel} twice`
    seen.add(rel)
    if (typeof hash !== "string" || !isEntryName(hash)) return `a malformed blob hash for ${rel}`
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) return `a malformed size for ${rel}`
  }
  return undefined
}

const checkRun = (record: Record<string, unknown>, key: string, files: ReadonlyArray<RemoteFile>): string | undefined => {
  const output = record["output"]
  if (!isObject(output) || typeof output["tree"] !== "string" || !isObject(output["metrics"])) return "no output"
  if (!Array.isArray(record["items"]) || !(record["items"] as Array<unknown>).every((i) => typeof i === "string" && isEntryName(i))) return "malformed memo item keys"
  const fieldsKey = computeKey(record["fields"] as RunRecord["fields"])
  if (Either.isLeft(fieldsKey) || fieldsKey.right !== key) return "its key fields do not hash to its key"
  const hash = outputHashOf(output["tree"], output["value"] as RunRecord["output"]["value"], output["metrics"] as RunRecord["output"]["metrics"])
  if (Either.isLeft(hash) || hash.right !== output["hash"]) return "its output hash is not its tree's, value's and metrics'"
  if (output["files"] !== files.length || output["bytes"] !== files.reduce((a, f) => a + f[2], 0)) return "its file count or size is not its file list's"
  return undefined
}

/** The entry stored under `key`, checked; Left with why it cannot be used. */
export const decodeEntry = (bytes: Uint8Array, key: string, kind: RemoteEntry["kind"]): Either.Either<RemoteEntry, string> => {
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString("utf8"))
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error
    return Either.left("not JSON")
  }
  if (!isObject(parsed)) return Either.left("not an entry")
  if (parsed["format"] !== REMOTE_FORMAT || parsed["store"] !== STORE_FORMAT) return Either.left(`entry format ${String(parsed["format"])}/${String(parsed["store"])}, not ${REMOTE_FORMAT}/${STORE_FORMAT}`)
  if (parsed["kind"] !== kind) return Either.left(`a ${String(parsed["kind"])} entry, not a ${kind} entry`)
  const record = parsed["record"]
  if (!isObject(record) || record["key"] !== key || record["format"] !== STORE_FORMAT) return Either.left("not a record for this key")
  const badFiles = checkFiles(parsed["files"])
  if (badFiles) return Either.left(badFiles)
  const files = parsed["files"] as ReadonlyArray<RemoteFile>
  if (kind === "run") {
    const bad = checkRun(record, key, files)
    return bad ? Either.left(bad) : Either.right({ kind, record: record as unknown as RunRecord, files })
  }
  if (typeof record["tree"] !== "string") return Either.left("no tree")
  return Either.right({ kind, record: record as unknown as MemoItemRecord, files })
}
