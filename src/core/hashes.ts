/**
 * The three kinds of sha256 hex name cairn deals in, told apart by the compiler (wireit brands its
 * keys likewise): a stage's cache key (of its key record, key.ts), a stored tree's hash (of its
 * manifest) and a blob's hash (of a file's bytes: the name of a store object and of a remote `cas`
 * blob). A hash read from disk or the network is branded where it is checked.
 */
import { Brand } from "effect"

/** The cache key of a stage instance: the sha256 of its key record (or of a memo item's). */
export type StageKey = string & Brand.Brand<"StageKey">
export const StageKey = Brand.nominal<StageKey>()

/** The hash of a stored tree (its manifest). */
export type TreeHash = string & Brand.Brand<"TreeHash">
export const TreeHash = Brand.nominal<TreeHash>()

/** The hash of a file's bytes: a store object's and a remote blob's name. */
export type BlobHash = string & Brand.Brand<"BlobHash">
export const BlobHash = Brand.nominal<BlobHash>()
