/**
 * The remote cache service: a shared server holding two namespaces, as Bazel's HTTP remote-cache
 * protocol has them: `ac/<key>` (action cache: one entry per cache key, a REAPI ActionResult: see entries.ts) and
 * `cas/<sha256>` (content-addressed blobs, named by the sha256 of their bytes). Layers:
 * `http-remote-cache.ts` (nginx WebDAV, bazel-remote) and `s3-remote-cache.ts` (S3, MinIO, Garage),
 * both built on `transport.ts`; `from-url.ts` picks one from a URL.
 */
import { Context, Data, Effect } from "effect"
import type { FileError } from "../../errors.js"

export type Namespace = "ac" | "cas"

/** What `put` sends: bytes in memory, or a file streamed from disk. */
export type RemoteBody = Uint8Array | { readonly file: string }

export interface RemoteCache {
  /** The cache's base URL for messages (never with credentials). */
  readonly url: string
  /**
   * An entry's bytes, or undefined when the server has none. At most `MAX_ENTRY_BYTES` are read (at
   * most `size`, when given: the size an entry states for a blob): a longer body is a miss (with a
   * warning). A `cas` blob is hash-checked: one whose bytes do not hash to its name is a miss (with
   * a warning), never a result.
   */
  readonly get: (ns: Namespace, name: string, size?: number) => Effect.Effect<Uint8Array | undefined, RemoteCacheError>
  /**
   * Streams the blob `cas/<hash>` of `size` bytes (as its entry states) into `file` (created),
   * hash-checked: false (and no file) on a miss, a mismatch, or a body longer than `size` (cut off
   * there: never more than `size` bytes are written). A FileError is the local disk's failure, not
   * the server's.
   */
  readonly download: (hash: string, file: string, size: number) => Effect.Effect<boolean, RemoteCacheError | FileError>
  /**
   * Stores an entry (idempotent: the same name always holds the same bytes). A `cas` upload is
   * checked as it streams: if the bytes sent do not hash to the name, the upload is cut short before
   * its last byte, so the server never stores it, and it fails with reason "content". A FileError:
   * the file to send could not be read.
   */
  readonly put: (ns: Namespace, name: string, body: RemoteBody) => Effect.Effect<void, RemoteCacheError | FileError>
  /** Whether the server holds the entry (of `size` bytes, when given and the server says). */
  readonly has: (ns: Namespace, name: string, size?: number) => Effect.Effect<boolean, RemoteCacheError>
}

/** The remote cache service. Its layer is `layerFromUrl` (from-url.ts: a module export, as that module builds on this one). */
export const RemoteCache = Context.GenericTag<RemoteCache>("cairn/RemoteCache")

/**
 * The most bytes a `get` reads into memory. An action-cache entry lists every file of its tree
 * inline (about 100 bytes a file): the largest real one, split-spectrograms' tree of one `.npy` per
 * label (106,800 on the full HMS set), is about 11 MB, and `MAX_ENTRY_FILES` files take about 50 MB.
 * Above this an entry is a miss: an endless body cannot exhaust the reader's memory.
 */
export const MAX_ENTRY_BYTES = 64 * 1024 * 1024

/**
 * A remote cache operation failed. `reason`: "network" (no answer: refused, reset), "timeout" (no
 * progress for the idle timeout, or no complete answer within the request's deadline), "server" (an HTTP status that is not a result, in `status`),
 * "content" (what was sent did not match its name), "denied" (the server denies this client
 * whatever it asks: wrong credentials, no such bucket; in `detail`, with the way out).
 */
export class RemoteCacheError extends Data.TaggedError("RemoteCacheError")<{
  readonly operation: "get" | "put" | "has"
  /** The entry's URL (no credentials). */
  readonly url: string
  readonly reason: "network" | "timeout" | "server" | "content" | "denied"
  readonly status?: number
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `remote cache ${this.operation} ${this.url}: ${this.status === undefined ? "" : `HTTP ${this.status}: `}${this.detail}`
  }

  /** Worth another try: a lost connection, a server error or throttling (not a timeout: it would wait as long again). */
  get retryable(): boolean {
    return this.reason === "network" || (this.reason === "server" && this.status !== undefined && (this.status >= 500 || this.status === 429))
  }
}

/** A remote cache URL (or its settings) that cairn cannot use. */
export class RemoteCacheUrlError extends Data.TaggedError("RemoteCacheUrlError")<{
  readonly url: string
  readonly detail: string
}> {
  override get message(): string {
    return `remote cache ${this.url}: ${this.detail}`
  }
}

/** How a remote cache reports what is worth knowing but no failure (a corrupt blob, a server gone). */
export type RemoteWarn = (message: string) => Effect.Effect<void>

/** `warn`, saying each line once: the same line twice in a run says nothing new. */
export const onceEach = (warn: RemoteWarn): RemoteWarn => {
  const said = new Set<string>()
  return (message) =>
    Effect.suspend(() => {
      if (said.has(message)) return Effect.void
      said.add(message)
      return warn(message)
    })
}

/** The default RemoteWarn: one `warning:` line on stderr. */
export const warnOnStderr: RemoteWarn = (message) => Effect.sync(() => void process.stderr.write(`warning: ${message}\n`))

/** Names in both namespaces are sha256 hex digests (cache keys are, too). */
export const isEntryName = (name: string): boolean => /^[0-9a-f]{64}$/.test(name)
