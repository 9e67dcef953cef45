/**
 * What the store keeps and hands out (records, trees, reports) and how its operations fail: the
 * data of its three services (cache.ts, store-admin.ts, run-history.ts), known to every layer.
 */
import { Data, type Effect } from "effect"
import type { Json } from "../canonical.js"
import type { BlobHash, StageKey, TreeHash } from "../hashes.js"
import type { KeyRecord } from "../key.js"

export { STORE_FORMAT } from "./layout.js"

/** A stage's stored output. */
export interface StoredOutput {
  /** Content hash of files + value + metrics: what consumers' keys see. */
  readonly hash: string
  /** Hash of the file tree. */
  readonly tree: TreeHash
  readonly value: Json
  readonly metrics: Readonly<Record<string, Json>>
  readonly files: number
  readonly bytes: number
}

/** What the store keeps per cache key: the result, and why it has this key (lineage). */
export interface RunRecord {
  readonly format: number
  readonly key: StageKey
  readonly id: string
  readonly pipeline: string
  readonly fields: KeyRecord
  readonly codeFiles: Readonly<Record<string, string>>
  /** Input name → cache key(s) of the runs that produced the inputs. */
  readonly parents: Readonly<Record<string, string | ReadonlyArray<string>>>
  readonly output: StoredOutput
  /** Keys of the memo items this run used (kept alive by it in `gc`). */
  readonly items: ReadonlyArray<StageKey>
  readonly startedAt: string
  readonly seconds: number
}

/** The last key a stage instance had in a pipeline: what `status` compares against. */
export interface StateEntry {
  readonly key: string
  readonly fields: KeyRecord | undefined
  readonly codeFiles: Readonly<Record<string, string>>
  /** For sources: the file manifest (path → hash), so status can name changed files. */
  readonly manifest?: Readonly<Record<string, string>>
  readonly at: string
}

export interface MemoItemRecord {
  readonly format: number
  readonly key: StageKey
  readonly tree: TreeHash
  readonly value: Json
}

/**
 * The state a stage that works in steps (epochs) saved after step `step` of `total`, under its key:
 * what `cairn run` continues from when the key has no result yet. Its files are named by content hash.
 */
export interface ProgressRecord {
  readonly format: number
  readonly key: StageKey
  /** The stage instance, for `cairn status` and messages. */
  readonly id: string
  readonly unit: string
  readonly step: number
  readonly total: number
  readonly savedAt: string
  /** The stage's own description of its state (small JSON). */
  readonly value: Json
  /** File name → sha256 and size of its content. */
  readonly files: Readonly<Record<string, { readonly hash: string; readonly size: number }>>
}

/** A progress record whose files were all found with their recorded content: their paths (read-only). */
export interface SavedProgress {
  readonly record: ProgressRecord
  readonly files: Readonly<Record<string, string>>
}

/** The newest whole progress record of a key, and each newer one that was skipped, with why. */
export interface ProgressLoad {
  readonly found: SavedProgress | undefined
  readonly skipped: ReadonlyArray<{ readonly step: number; readonly why: string }>
}

/** A stored tree handed to a stage, and the seal that tells afterwards whether anything wrote into it. */
export interface Materialized {
  readonly dir: string
  readonly seal: TreeSeal
}

/** The stamps of a materialized tree's files when it was handed over (opaque to callers). */
export interface TreeSeal {
  readonly tree: TreeHash
  readonly dir: string
  readonly files: ReadonlyArray<readonly [rel: string, size: number, mtimeMs: number, ctimeMs: number, ino: number]>
}

/** A file of a stored input that a stage changed, removed or added while it ran. */
export interface TamperedFile {
  /** Path relative to the input's folder, with `/`. */
  readonly file: string
  readonly change: "modified" | "removed" | "added"
}

/** A memo item found in the store. */
export interface StoredItem {
  readonly record: MemoItemRecord
  readonly files: Materialized
}

/** The result of `cairn gc`. */
export interface GcReport {
  readonly removedRuns: number
  readonly removedItems: number
  readonly removedTrees: number
  readonly removedObjects: number
  /** Keys whose progress records went because their result is committed (`progress/`). */
  readonly removedProgress?: number
  /** Entries kept only because a running pipeline uses them. */
  readonly keptForRuns: number
  readonly bytesBefore: number
  readonly bytesAfter: number
}

/** The result of `cairn verify`. */
export interface VerifyReport {
  readonly objects: number
  readonly bytes: number
  /** Objects whose content does not match their hash: moved to quarantine. */
  readonly corruptObjects: ReadonlyArray<BlobHash>
  /** Trees missing a file, holding a changed or extra file, or without manifest: removed. */
  readonly damagedTrees: ReadonlyArray<TreeHash>
  /** Run records and memo items that are unreadable or whose tree is gone: removed (they rerun). */
  readonly removedRecords: number
  readonly removedItems: number
}

/** What the no-op fast path checks and touches to replay results (paths it treats as opaque). */
export interface ReplayFacts {
  /** Paths whose stamps must be unchanged (the results' files). */
  readonly watch: ReadonlyArray<string>
  /** Paths that must still exist (run records). */
  readonly exists: ReadonlyArray<string>
  /** Paths to mark as used (least-recently-used order of `gc --max-size`). */
  readonly touch: ReadonlyArray<string>
  /** Folder of the pipeline's run history. */
  readonly history: string
}

/** One `cairn run` as saved in the store's history. */
export interface HistoryFile {
  readonly runId: string
  /** The file, for messages. */
  readonly file: string
  /** Its parsed JSON; undefined when it cannot be read or parsed (`unreadable` says why). */
  readonly body: unknown
  readonly unreadable?: string
}

/** The staging area of one stage run: the output folder and the memo items it computes. */
export interface Staging {
  readonly outDir: string
  /** Places a file of a materialized input or memo item into `outDir` at `rel`, without copying. */
  readonly place: (file: string, rel: string) => Effect.Effect<void, StoreError>
  /** A new folder for a memo item this run computes (committed with the output, or not at all). */
  readonly itemDir: (key: StageKey) => Effect.Effect<string, StoreError>
  /** Records the item computed in `itemDir(key)`, hashing its files now. */
  readonly addItem: (key: StageKey, value: Json) => Effect.Effect<void, StoreError>
  /**
   * Commits the pending items, the output files and the run record, in that order: the record is
   * the commit point, written only when everything it names is stored.
   */
  readonly commit: (
    record: Omit<RunRecord, "format" | "output">,
    value: Json,
    metrics: Readonly<Record<string, Json>>,
  ) => Effect.Effect<RunRecord, StoreError | UnsafeOutputLink>
}

/** A store operation failed: `reason` says how, `path` names the file at fault. */
export class StoreError extends Data.TaggedError("StoreError")<{
  /** `not-a-store`: the cache folder holds no store marker (store-marker.ts); nothing was touched. */
  readonly reason: "io" | "incomplete" | "in-use" | "corrupt" | "not-a-store"
  readonly path: string
  readonly operation: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `${this.operation} ${this.path}: ${this.detail}`
  }
}

/**
 * A symbolic link in a stage's output that the store will not follow: one pointing out of the
 * output folder (storing it would adopt files the stage did not write: a link to $HOME would store
 * the home folder), one pointing nowhere, or one that loops. `file` is the link's path inside the
 * output, `target` what it points to.
 */
export class UnsafeOutputLink extends Data.TaggedError("UnsafeOutputLink")<{
  readonly file: string
  readonly target: string
  readonly problem: "outside" | "dangling" | "loop"
  readonly cause?: unknown
}> {
  override get message(): string {
    const why = { outside: "outside the stage's output folder", dangling: "which does not exist", loop: "which loops back on itself" }[this.problem]
    return `output ${this.file} is a symbolic link to ${this.target}, ${why}: nothing was stored (cairn never follows a link out of a stage's output). Write the file itself into ctx.outDir, or link to a file inside it`
  }
}
