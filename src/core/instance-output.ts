import type { Json } from "./canonical.js"
import type { StageKey } from "./hashes.js"
import type { FileStamp } from "./stamp.js"
import type { RunRecord } from "./store/records.js"

/** A file read in place and the stamp it had when hashed (undefined: it did not exist). */
export interface ReadStamp {
  readonly file: string
  readonly stamp: FileStamp | undefined
}

/** An instance's output once known: a stored result, or a source folder read in place. */
export interface Resolved {
  readonly id: string
  /** Content hash: what consumers' keys see. */
  readonly hash: string
  /** Cache key of the run that produced it (a source's key is its content hash). */
  readonly key: StageKey
  readonly value: Json
  readonly record: RunRecord | undefined
  readonly source: { readonly dir: string; readonly stamps: ReadonlyArray<ReadStamp> } | undefined
}

export const resolvedFromRecord = (id: string, record: RunRecord): Resolved => ({
  id,
  hash: record.output.hash,
  key: record.key,
  value: record.output.value,
  record,
  source: undefined,
})
