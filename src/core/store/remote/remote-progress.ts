/**
 * Progress records on the remote cache, so that a queue worker that dies mid-training leaves its
 * last epoch to the worker BullMQ hands the job to. A save is stored locally, then pushed as
 * results are: every file a blob (`cas/<sha256>`, uploaded and checked present), the record a blob,
 * and the entry last, `ac/<progress key>` (the sha256 of "cairn progress" and the stage's key: never
 * a result's name), an ActionResult naming them, signed like any entry when there is a secret. Each
 * save replaces the entry: the remote holds the newest.
 *
 * A load whose local newest record is older than the remote's (or missing) fetches the entry: the
 * record blob (hash-checked) must be a progress record of this key listing exactly the entry's
 * files; each file is downloaded hash-checked into a new folder and saved locally, which hashes it
 * again; only then is it loaded as any local record. Anything wrong is a warning and the local
 * progress is used: the remote never fails a run, and never gives it what was not checked.
 */
import * as path from "node:path"
import { Effect, Either } from "effect"
import { sha256 } from "../../canonical.js"
import type { FileError } from "../../errors.js"
import { StageKey } from "../../hashes.js"
import type { ProgressRecords } from "../cache.js"
import type { LocalStore } from "../local/local-store.js"
import { type ProgressRecord, STORE_FORMAT } from "../records.js"
import { blobOf, checkEntryFiles, decodeIndex, encodeIndex, REMOTE_FORMAT, type RemoteFile } from "./entries.js"
import { MAX_ENTRY_BYTES, type RemoteCache, type RemoteCacheError, type RemoteWarn } from "./remote-cache.js"

/** The remote entry name of `key`'s progress. */
export const progressEntryName = (key: string): string => sha256(`cairn progress\0${key}`)

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

/** The progress record an entry's record blob holds, checked for `key` and against the entry's files; Left with why not. */
const decodeProgress = (bytes: Uint8Array, key: string, files: ReadonlyArray<RemoteFile>): Either.Either<ProgressRecord, string> => {
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString("utf8"))
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error
    return Either.left("its record is not JSON")
  }
  if (!isObject(parsed) || parsed["format"] !== REMOTE_FORMAT || parsed["store"] !== STORE_FORMAT || parsed["kind"] !== "progress")
    return Either.left("not a progress entry of this format")
  const r = parsed["record"]
  if (!isObject(r) || r["key"] !== key || r["format"] !== STORE_FORMAT) return Either.left("not a progress record of this key")
  if (
    !Number.isSafeInteger(r["step"]) ||
    !Number.isSafeInteger(r["total"]) ||
    typeof r["unit"] !== "string" ||
    typeof r["id"] !== "string" ||
    !isObject(r["files"])
  ) {
    return Either.left("a malformed progress record")
  }
  const named = Object.entries(r["files"] as ProgressRecord["files"])
  const same =
    named.length === files.length && named.every(([name, f]) => files.some(([rel, hash, size]) => rel === name && hash === f.hash && size === f.size))
  if (!same) return Either.left("its record names other files than the entry")
  return Either.right(r as unknown as ProgressRecord)
}

/** The local progress records of `local`, pushed to and pulled from `remote` (see the module comment). */
export const remoteProgress = (local: LocalStore, remote: RemoteCache, options: { readonly push: boolean; readonly warn: RemoteWarn }): ProgressRecords => {
  const warned =
    <A>(what: string, fallback: A) =>
    (e: RemoteCacheError | FileError) =>
      Effect.as(options.warn(`${what}: ${e.message}`), fallback)

  const pushBlob = (hash: string, body: Uint8Array | { readonly file: string }, size: number) =>
    Effect.gen(function* () {
      if (yield* remote.has("cas", hash, size)) return true
      yield* remote.put("cas", hash, body)
      return yield* remote.has("cas", hash, size)
    })

  const push = (record: ProgressRecord) =>
    Effect.gen(function* () {
      const files: Array<RemoteFile> = Object.entries(record.files).map(([name, f]) => [name, f.hash, f.size] as const)
      for (const [, hash, size] of files) {
        if (!(yield* pushBlob(hash, { file: local.layout.progressBlob(record.key, hash) }, size))) {
          return yield* options.warn(
            `progress of ${record.id} (${record.unit} ${record.step}) not pushed to ${remote.url}: cas/${hash} is not there after its upload`,
          )
        }
      }
      const bytes = Buffer.from(JSON.stringify({ format: REMOTE_FORMAT, store: STORE_FORMAT, kind: "progress", record }))
      const blob = blobOf(bytes)
      if (!(yield* pushBlob(blob.hash, bytes, blob.size)))
        return yield* options.warn(`progress of ${record.id} not pushed to ${remote.url}: its record is not there after its upload`)
      // Last: an entry never names a blob the server lacks.
      yield* remote.put("ac", progressEntryName(record.key), encodeIndex({ record: blob, files }))
    }).pipe(Effect.catchAll(warned(`progress of ${record.id} (${record.unit} ${record.step}) not pushed to ${remote.url}`, undefined)))

  /** Installs the remote's progress of `key` locally when it is newer than `localStep`; what went wrong is warned about. */
  const pull = (key: StageKey, localStep: number) =>
    Effect.gen(function* () {
      const where = `remote cache ${remote.url}/ac/${progressEntryName(key)} (progress of ${key})`
      const entry = yield* remote.get("ac", progressEntryName(key))
      if (entry === undefined) return
      const decoded = decodeIndex(entry)
      if (Either.isLeft(decoded)) return yield* options.warn(`${where}: ${decoded.left}: not used`)
      const { index } = decoded.right
      const unwritable = checkEntryFiles(index.files) ?? (index.files.some(([rel]) => rel.includes("/")) ? "a file in a folder" : undefined)
      if (unwritable) return yield* options.warn(`${where}: ${unwritable}: not used`)
      if (index.record.size > MAX_ENTRY_BYTES) return yield* options.warn(`${where}: its record is too large: not used`)
      const recordBytes = yield* remote.get("cas", index.record.hash, index.record.size)
      if (recordBytes === undefined) return yield* options.warn(`${where}: its record cas/${index.record.hash} is not on the server (intact): not used`)
      const record = decodeProgress(recordBytes, key, index.files)
      if (Either.isLeft(record)) return yield* options.warn(`${where}: ${record.left}: not used`)
      if (record.right.step <= localStep) return
      const dir = yield* local.progress.newFolder(`remote-${key.slice(0, 12)}`)
      for (const [name, hash, size] of index.files) {
        if (!(yield* remote.download(hash, path.join(dir, name), size)))
          return yield* options.warn(`${where}: its file cas/${hash} is not on the server (intact): not used`)
      }
      const { format: _f, files: _files, ...fields } = record.right
      // Hashed again as it is stored: the local record names only what was checked here.
      yield* local.progress.save({ ...fields, savedAt: typeof fields.savedAt === "string" ? fields.savedAt : new Date().toISOString() }, dir)
    }).pipe(Effect.catchAll((e) => options.warn(`progress of ${key} not fetched from ${remote.url}: ${e.message}`)))

  return {
    newFolder: local.progress.newFolder,
    peek: local.progress.peek,
    drop: local.progress.drop,
    save: (record, dir) => Effect.tap(local.progress.save(record, dir), (saved) => (options.push ? push(saved) : Effect.void)),
    load: (key) =>
      Effect.gen(function* () {
        const here = yield* local.progress.peek(key)
        yield* pull(StageKey(key), here?.step ?? 0)
        return yield* local.progress.load(key)
      }),
  }
}
