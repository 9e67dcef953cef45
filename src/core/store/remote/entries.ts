/**
 * What the remote action cache holds under a key: the run record (or memo item) and the files of its
 * tree (path, blob hash, size), so a reader can fetch every blob and rebuild the tree before it
 * installs the record. An entry is checked before anything is fetched: its format, that it is for
 * this key (a run record's fields must hash to it), that its output hash is its tree's, value's and
 * metrics', and that its files can be written as given: every path inside the tree, at most
 * `MAX_ENTRY_FILES` of them, no name longer than a file system allows, no path deeper or longer than
 * the limits below, no path twice, no path that is a file and a folder at once.
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

/**
 * The most files an entry may list. The largest real tree, split-spectrograms' (one `.npy` per label:
 * 106,800 on the full HMS set), fits about five times; a reader fetches each distinct blob once, so
 * what such an entry costs is its hard links, about a second per 100,000.
 */
export const MAX_ENTRY_FILES = 500_000
/** The deepest path (in segments) an entry may hold: far beyond real outputs, far below a stack's depth. */
export const MAX_PATH_DEPTH = 128
/** The longest file or folder name, in UTF-8 bytes: what ext4, XFS, APFS and NTFS allow (NAME_MAX). */
export const MAX_NAME_BYTES = 255
/** The longest path in an entry, in UTF-8 bytes: with the store's own folders in front it stays below macOS' PATH_MAX (1024) plus room, Linux' (4096). */
export const MAX_PATH_BYTES = 1024

/** Why the path `rel` cannot be written inside a tree as given, or undefined. */
const badPath = (rel: string): string | undefined => {
  if (Buffer.byteLength(rel) > MAX_PATH_BYTES) return `a file path longer than ${MAX_PATH_BYTES} bytes: ${JSON.stringify(rel.slice(0, 80))}...`
  const segments = rel.split("/")
  if (segments.length > MAX_PATH_DEPTH) return `a file path deeper than ${MAX_PATH_DEPTH} folders: ${JSON.stringify(rel.slice(0, 80))}...`
  for (const s of segments) {
    if (s === "" || s === "." || s === ".." || s.includes("\0")) return `a file path outside its tree: ${JSON.stringify(rel)}`
    if (Buffer.byteLength(s) > MAX_NAME_BYTES) return `a file or folder name longer than ${MAX_NAME_BYTES} bytes in ${JSON.stringify(rel.slice(0, 80))}...`
  }
  return undefined
}

/** A folder of the tree being checked: its entries, each a folder or a file. */
type Folder = Map<string, Folder | "file">

/**
 * Why `files` is no file list that can be written as given, or undefined. Paths are walked into a
 * tree of folders, one segment at a time (no recursion: a deep path cannot exhaust the stack), which
 * finds a path given twice and a path that is a file in one place and a folder in another.
 */
export const checkEntryFiles = (files: unknown): string | undefined => {
  if (!Array.isArray(files)) return "no file list"
  if (files.length > MAX_ENTRY_FILES) return `${files.length} files, more than the ${MAX_ENTRY_FILES} an entry may list`
  const root: Folder = new Map()
  for (const f of files as Array<unknown>) {
    if (!Array.isArray(f) || f.length !== 3) return "a malformed file entry"
    const [rel, hash, size] = f as [unknown, unknown, unknown]
    if (typeof rel !== "string") return `a file path outside its tree: ${JSON.stringify(rel)}`
    const bad = badPath(rel)
    if (bad) return bad
    if (typeof hash !== "string" || !isEntryName(hash)) return `a malformed blob hash for ${rel}`
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) return `a malformed size for ${rel}`
    const segments = rel.split("/")
    const name = segments.pop() as string
    let folder = root
    for (const [i, s] of segments.entries()) {
      const next = folder.get(s)
      if (next === "file") return `the path ${segments.slice(0, i + 1).join("/")} as both a file and a folder (in ${rel})`
      if (next === undefined) {
        const made: Folder = new Map()
        folder.set(s, made)
        folder = made
      } else folder = next
    }
    const existing = folder.get(name)
    if (existing === "file") return `the file ${rel} twice`
    if (existing !== undefined) return `the path ${rel} as both a file and a folder`
    folder.set(name, "file")
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
  const badFiles = checkEntryFiles(parsed["files"])
  if (badFiles) return Either.left(badFiles)
  const files = parsed["files"] as ReadonlyArray<RemoteFile>
  if (kind === "run") {
    const bad = checkRun(record, key, files)
    return bad ? Either.left(bad) : Either.right({ kind, record: record as unknown as RunRecord, files })
  }
  if (typeof record["tree"] !== "string") return Either.left("no tree")
  return Either.right({ kind, record: record as unknown as MemoItemRecord, files })
}
