/**
 * What the remote action cache holds under a key, as a Bazel cache holds it: a REAPI ActionResult
 * (reapi/action-result.ts) whose output files are the files of the result's tree (`out/<path>`,
 * each a blob by its sha256 and size) and one more blob, `.cairn/record.json`: cairn's own record
 * (the run record or memo item, its format and kind). A reader reads the ActionResult, fetches the
 * record blob (hash-checked), and only then every blob of the tree before it installs the record.
 *
 * An entry is checked before anything is fetched: that it is an ActionResult holding only what
 * cairn writes, and that its files can be written as given: every path inside the tree, at most
 * `MAX_ENTRY_FILES` of them, no name longer than a file system allows, no path deeper or longer than
 * the limits below, no path twice, no path that is a file and a folder at once. Its record is then
 * checked: its format, that it is for this key (a run record's fields must hash to it), and that its
 * output hash is its tree's, value's and metrics'. Nothing here knows the transport (HTTP, S3).
 */
import { Either } from "effect"
import { sha256 } from "../../canonical.js"
import { computeKey } from "../../key.js"
import { type MemoItemRecord, type RunRecord, STORE_FORMAT } from "../records.js"
import { outputHashOf } from "../local/commit.js"
import type { TreeEntry } from "../local/trees.js"
import { decodeActionResult, encodeActionResult, type OutputFile } from "./reapi/action-result.js"
import { isEntryName } from "./remote-cache.js"

/**
 * Bumped when the entry's shape changes: entries of another format are misses. 1: cairn's own JSON
 * (before entries were ActionResults); 2: an ActionResult with the record as a blob.
 */
export const REMOTE_FORMAT = 2

/** The output file that is cairn's record, in every entry. */
export const RECORD_PATH = ".cairn/record.json"
/** The folder of the ActionResult's output files that holds the result's tree (the record beside it cannot clash with a file of the tree). */
export const TREE_PREFIX = "out/"
/** `execution_metadata.worker` of cairn's entries: set, so that bazel-remote stores the bytes as sent (it fills in the uploader's address otherwise). */
export const ENTRY_WORKER = "cairn"
/**
 * The `google.protobuf.Any` of `execution_metadata.auxiliary_metadata` holding an entry's signature
 * (see signature.ts): its value is the wire form of a message with the HMAC as bytes field 1 (as
 * google.protobuf.BytesValue). Bazel caches keep auxiliary metadata as they got it.
 */
export const SIGNATURE_TYPE_URL = "cairn/cairn.remote.v2.EntrySignature"

/** One file of an entry's tree: path relative to the tree ('/'-separated), blob hash, size. */
export type RemoteFile = readonly [rel: string, hash: string, size: number]

export type RemoteEntry =
  | { readonly kind: "run"; readonly record: RunRecord; readonly files: ReadonlyArray<RemoteFile> }
  | { readonly kind: "item"; readonly record: MemoItemRecord; readonly files: ReadonlyArray<RemoteFile> }

/** A blob by its sha256 and size. */
export interface BlobRef {
  readonly hash: string
  readonly size: number
}

/** What an entry's ActionResult says: where its record is, and its tree's files. */
export interface EntryIndex {
  readonly record: BlobRef
  readonly files: ReadonlyArray<RemoteFile>
}

/** A local tree's manifest as an entry's files. */
export const remoteFiles = (entries: ReadonlyArray<TreeEntry>): ReadonlyArray<RemoteFile> => entries.map(([rel, hash, size]) => [rel, hash, size] as const)

/** The record blob of `entry` (its files are in the ActionResult, not here). */
export const encodeRecord = (entry: RemoteEntry): Uint8Array =>
  Buffer.from(JSON.stringify({ format: REMOTE_FORMAT, store: STORE_FORMAT, kind: entry.kind, record: entry.record }))

/** `bytes` as a blob reference. */
export const blobOf = (bytes: Uint8Array): BlobRef => ({ hash: sha256(bytes), size: bytes.length })

/** The ActionResult of an entry, with its signature (an HMAC) when given. */
export const encodeIndex = (index: EntryIndex, signature?: Uint8Array): Uint8Array =>
  encodeActionResult({
    output_files: [
      ...index.files.map(([rel, hash, size]): OutputFile => ({ path: `${TREE_PREFIX}${rel}`, digest: { hash, size_bytes: size }, is_executable: false })),
      { path: RECORD_PATH, digest: { hash: index.record.hash, size_bytes: index.record.size }, is_executable: false },
    ],
    execution_metadata: {
      worker: ENTRY_WORKER,
      auxiliary_metadata: signature === undefined ? [] : [{ type_url: SIGNATURE_TYPE_URL, value: signatureValue(signature) }],
    },
  })

/** `signature` (an HMAC-SHA256: 32 bytes, a one-byte length) as google.protobuf.BytesValue's wire form: field 1, length-delimited. */
const signatureValue = (signature: Uint8Array): Uint8Array => {
  if (signature.length >= 0x80) throw new Error(`a signature of ${signature.length} bytes: an HMAC-SHA256 has 32`)
  return Buffer.concat([Buffer.from([0x0a, signature.length]), signature])
}

/** The HMAC in a signature's Any value, or undefined when it is not one. */
const signatureIn = (value: Uint8Array): Uint8Array | undefined =>
  value.length >= 2 && value[0] === 0x0a && value[1] === value.length - 2 && value[1] < 0x80 ? value.subarray(2) : undefined

/** Whether `bytes` are an entry of an earlier cairn (format 1: JSON, signed ones behind a `cairn-sig-v1` line). */
export const isEarlierFormat = (bytes: Uint8Array): boolean => bytes[0] === 0x7b || Buffer.from(bytes.subarray(0, 13)).toString("latin1") === "cairn-sig-v1 "

/**
 * The entry index an ActionResult holds, and its signature (undefined when it has none); Left with
 * why it is no entry cairn can use. Its files are checked (see `checkEntryFiles`).
 */
export const decodeIndex = (bytes: Uint8Array): Either.Either<{ readonly index: EntryIndex; readonly signature: Uint8Array | undefined }, string> => {
  if (isEarlierFormat(bytes)) return Either.left("an entry of an earlier cairn (format 1, not an ActionResult)")
  const decoded = decodeActionResult(bytes)
  if (Either.isLeft(decoded)) return Either.left(decoded.left)
  const result = decoded.right
  if (result.others > 0) return Either.left("an ActionResult with output directories, symlinks or inlined contents, which cairn never writes")
  if (result.stdout_digest || result.stderr_digest) return Either.left("an ActionResult with a stdout or stderr digest, which cairn never writes")
  if (result.exit_code) return Either.left(`an ActionResult of a failed action (exit code ${result.exit_code})`)
  let record: BlobRef | undefined
  const files: Array<RemoteFile> = []
  for (const { path, digest } of result.output_files) {
    if (path === RECORD_PATH) {
      if (record) return Either.left(`${RECORD_PATH} twice`)
      record = { hash: digest.hash, size: digest.size_bytes }
    } else if (path.startsWith(TREE_PREFIX)) files.push([path.slice(TREE_PREFIX.length), digest.hash, digest.size_bytes])
    else return Either.left(`an output file outside ${TREE_PREFIX}: ${JSON.stringify(path.slice(0, 80))}`)
  }
  if (!record) return Either.left(`no ${RECORD_PATH}: not an entry of cairn`)
  const badFiles = checkEntryFiles(files)
  if (badFiles) return Either.left(badFiles)
  const signatures = (result.execution_metadata?.auxiliary_metadata ?? []).filter((a) => a.type_url === SIGNATURE_TYPE_URL)
  if (signatures.length > 1) return Either.left("more than one signature")
  const signature = signatures[0] && signatureIn(signatures[0].value)
  if (signatures[0] && !signature) return Either.left("a malformed signature")
  return Either.right({ index: { record, files }, signature })
}

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
  if (!Array.isArray(record["items"]) || !(record["items"] as Array<unknown>).every((i) => typeof i === "string" && isEntryName(i)))
    return "malformed memo item keys"
  const fieldsKey = computeKey(record["fields"] as RunRecord["fields"])
  if (Either.isLeft(fieldsKey) || fieldsKey.right !== key) return "its key fields do not hash to its key"
  const hash = outputHashOf(output["tree"], output["value"] as RunRecord["output"]["value"], output["metrics"] as RunRecord["output"]["metrics"])
  if (Either.isLeft(hash) || hash.right !== output["hash"]) return "its output hash is not its tree's, value's and metrics'"
  if (output["files"] !== files.length || output["bytes"] !== files.reduce((a, f) => a + f[2], 0)) return "its file count or size is not its file list's"
  return undefined
}

/** The record blob of an entry whose files are `files`, checked for `key`; Left with why it cannot be used. */
export const decodeRecord = (
  bytes: Uint8Array,
  key: string,
  kind: RemoteEntry["kind"],
  files: ReadonlyArray<RemoteFile>,
): Either.Either<RemoteEntry, string> => {
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString("utf8"))
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error
    return Either.left(`its ${RECORD_PATH} is not JSON`)
  }
  if (!isObject(parsed)) return Either.left(`its ${RECORD_PATH} is not a record`)
  if (parsed["format"] !== REMOTE_FORMAT || parsed["store"] !== STORE_FORMAT)
    return Either.left(`entry format ${String(parsed["format"])}/${String(parsed["store"])}, not ${REMOTE_FORMAT}/${STORE_FORMAT}`)
  if (parsed["kind"] !== kind) return Either.left(`a ${String(parsed["kind"])} entry, not a ${kind} entry`)
  const record = parsed["record"]
  if (!isObject(record) || record["key"] !== key || record["format"] !== STORE_FORMAT) return Either.left("not a record for this key")
  if (kind === "run") {
    const bad = checkRun(record, key, files)
    return bad ? Either.left(bad) : Either.right({ kind, record: record as unknown as RunRecord, files })
  }
  if (typeof record["tree"] !== "string") return Either.left("no tree")
  return Either.right({ kind, record: record as unknown as MemoItemRecord, files })
}
