/**
 * What a remote cache needs from its server (GET, PUT, HEAD of a path under its base), and the one
 * `RemoteCache` built on it for every server kind: names checked, retries on lost connections and
 * server errors, every blob hash-checked on the way in and on the way out.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { Readable, Transform } from "node:stream"
import { pipeline } from "node:stream/promises"
import { Data, Duration, Effect, Schedule } from "effect"
import { sha256 } from "../../canonical.js"
import { describeError, FileError } from "../../errors.js"
import { isNotFound } from "../../fs-primitives.js"
import {
  isEntryName,
  MAX_ENTRY_BYTES,
  type Namespace,
  type RemoteBody,
  type RemoteCache,
  RemoteCacheError,
  type RemoteWarn,
  onceEach,
  warnOnStderr,
} from "./remote-cache.js"

/** A body to send: its size, and a fresh stream of it for each try. */
export interface Upload {
  readonly size: number
  readonly open: () => Readable
}

/** One server, addressed by paths (`ac/<key>`, `cas/<hash>`) under its base URL. */
export interface RemoteTransport {
  /** The base URL, for messages. */
  readonly url: string
  /** The entry's bytes as a stream, or undefined when there is none. */
  readonly get: (path: string) => Effect.Effect<Readable | undefined, RemoteCacheError>
  readonly put: (path: string, body: Upload) => Effect.Effect<void, RemoteCacheError>
  /** Undefined when there is no such entry; its size when the server says. */
  readonly head: (path: string) => Effect.Effect<{ readonly size: number | undefined } | undefined, RemoteCacheError>
}

export interface RemoteCacheOptions {
  /** Tries after the first one for retryable failures (default 2). */
  readonly retries?: number
  /** Milliseconds without progress before a request is given up (default 10 s). */
  readonly timeoutMs?: number
  /**
   * Milliseconds a request may take in all, however it progresses (default 60 s, as Bazel's
   * `--remote_timeout`; `$CAIRN_REMOTE_TIMEOUT` in seconds); a blob's transfer gets more for its size
   * (see `deadlineFor`).
   */
  readonly deadlineMs?: number
  readonly warn?: RemoteWarn
}

export const DEFAULT_TIMEOUT_MS = 10_000
export const DEFAULT_DEADLINE_MS = 60_000
/** The environment variable setting the request deadline, in seconds. */
export const REMOTE_TIMEOUT_ENV = "CAIRN_REMOTE_TIMEOUT"
/**
 * The slowest transfer a blob's deadline allows for: a 1 GB checkpoint gets the deadline plus about
 * 17 minutes, where a fixed minute would give up on it over any link slower than 17 MB/s; a server
 * trickling bytes still cannot hold a request longer than the blob's size allows.
 */
export const MIN_TRANSFER_BYTES_PER_SECOND = 1024 * 1024

/** The deadline of a request moving `bytes` (those of a blob, 0 for the rest). */
export const deadlineFor = (deadlineMs: number, bytes: number): number => deadlineMs + Math.ceil((bytes / MIN_TRANSFER_BYTES_PER_SECOND) * 1000)
const DEFAULT_RETRIES = 2
const EMPTY_SHA256 = sha256("")

/** The bytes being uploaded as `cas/<expected>` turned out not to hash to that name. */
export class UploadMismatch extends Data.TaggedError("UploadMismatch")<{ readonly file: string; readonly expected: string; readonly actual: string }> {
  override get message(): string {
    return `${this.file} changed while it was sent: its bytes hash to ${this.actual}, not ${this.expected}`
  }
}

/** A request that did not complete within its deadline (however it progressed). */
export class RequestDeadline extends Data.TaggedError("RequestDeadline")<{ readonly ms: number }> {
  override get message(): string {
    return `no complete answer within ${this.ms / 1000} s (${REMOTE_TIMEOUT_ENV} sets the limit in seconds)`
  }
}

/** A body longer than the entry states (or than `MAX_ENTRY_BYTES`): cut off, a corrupt entry. */
const OVERSIZE = Symbol("oversize")

/** The download's body went past the blob's stated size: the stream is stopped there. */
class BodyTooLong extends Data.TaggedError("BodyTooLong")<{ readonly size: number }> {}

/** A request that saw no progress for its timeout. */
export class RequestTimeout extends Data.TaggedError("RequestTimeout")<{ readonly ms: number }> {
  override get message(): string {
    return `no progress for ${this.ms} ms`
  }
}

/** A request that got no usable answer: a timeout, a lost connection, or an upload cut short on purpose. */
export const requestFailed = (operation: RemoteCacheError["operation"], url: string, error: unknown): RemoteCacheError =>
  new RemoteCacheError({
    operation,
    url,
    reason: error instanceof UploadMismatch ? "content" : error instanceof RequestTimeout || error instanceof RequestDeadline ? "timeout" : "network",
    detail: describeError(error),
    cause: error,
  })

/**
 * `source` passed through, hashed as it goes, its last chunk held back until the whole hash is known:
 * when it is not `expected`, the stream fails before the server has all the bytes it was promised,
 * so it never stores them.
 */
const checkedUpload = (source: Readable, file: string, expected: string): Readable => {
  const hash = createHash("sha256")
  let held: Buffer | undefined
  const out = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk)
      const previous = held
      held = chunk
      done(null, previous)
    },
    flush(done) {
      const actual = hash.digest("hex")
      if (actual !== expected) done(new UploadMismatch({ file, expected, actual }))
      else done(null, held)
    },
  })
  source.once("error", (error) => out.destroy(error))
  return source.pipe(out)
}

/** What `put` sends, checked against its name for `cas`. A file that cannot be read is the local disk's failure. */
const uploadOf = (ns: Namespace, name: string, body: RemoteBody, url: string): Effect.Effect<Upload, RemoteCacheError | FileError> => {
  if (body instanceof Uint8Array) {
    const bytes = Buffer.from(body)
    const actual = sha256(bytes)
    if (ns === "cas" && actual !== name) return Effect.fail(requestFailed("put", url, new UploadMismatch({ file: "(bytes)", expected: name, actual })))
    return Effect.succeed({ size: bytes.length, open: () => Readable.from(bytes) })
  }
  const file = body.file
  return Effect.flatMap(
    Effect.try({
      try: () => fs.statSync(file).size,
      catch: (error) => new FileError({ file, operation: "read for upload", detail: describeError(error), cause: error }),
    }),
    (size): Effect.Effect<Upload, RemoteCacheError> => {
      if (ns !== "cas") return Effect.succeed({ size, open: () => fs.createReadStream(file) })
      // Nothing to hold back in an empty file: its name alone says whether it is right.
      if (size === 0 && name !== EMPTY_SHA256) return Effect.fail(requestFailed("put", url, new UploadMismatch({ file, expected: name, actual: EMPTY_SHA256 })))
      return Effect.succeed({ size, open: () => checkedUpload(fs.createReadStream(file), file, name) })
    },
  )
}

/** The `RemoteCache` over one server. */
export const makeRemoteCache = (transport: RemoteTransport, options: RemoteCacheOptions = {}): RemoteCache => {
  const warn = onceEach(options.warn ?? warnOnStderr)
  const schedule = Schedule.exponential("100 millis")
  const retrying = <A, E extends RemoteCacheError | FileError>(effect: Effect.Effect<A, E>) =>
    Effect.retry(effect, { schedule, times: options.retries ?? DEFAULT_RETRIES, while: (e) => e instanceof RemoteCacheError && e.retryable })
  const pathOf = (ns: Namespace, name: string) => {
    // Names come from cairn's own hashes: anything else is a bug, never a path to follow.
    if (!isEntryName(name)) throw new Error(`not a cache entry name: ${JSON.stringify(name)}`)
    return `${ns}/${name}`
  }
  const where = (path: string) => `${transport.url}/${path}`
  const mismatch = (path: string, actual: string) =>
    warn(`remote cache ${where(path)}: its bytes hash to ${actual}, not to its name: a miss (a corrupt entry on the server)`)
  const oversize = (path: string, limit: number, what: string) =>
    warn(`remote cache ${where(path)}: its body is longer than ${limit} bytes (${what}): cut off there, a miss (a corrupt entry on the server)`)
  const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS
  /** One try of a request, failed as a timeout when it is not complete within `ms` (interrupted: its connection is closed). */
  const within =
    (operation: RemoteCacheError["operation"], path: string, ms: number) =>
    <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E | RemoteCacheError> =>
      Effect.timeoutFail(effect, { duration: Duration.millis(ms), onTimeout: () => requestFailed(operation, where(path), new RequestDeadline({ ms })) })

  const get: RemoteCache["get"] = (ns, name, size) =>
    Effect.gen(function* () {
      const path = pathOf(ns, name)
      const limit = size === undefined ? MAX_ENTRY_BYTES : Math.min(size, MAX_ENTRY_BYTES)
      const bytes = yield* retrying(
        within(
          "get",
          path,
          deadlineMs,
        )(Effect.flatMap(transport.get(path), (stream) => (stream === undefined ? Effect.succeed(undefined) : readAtMost(stream, limit, where(path))))),
      )
      if (bytes === OVERSIZE) {
        yield* oversize(path, limit, limit === size ? "the size its entry states" : "the most cairn reads into memory")
        return undefined
      }
      if (bytes === undefined || ns !== "cas") return bytes
      const actual = sha256(bytes)
      if (actual === name) return new Uint8Array(bytes)
      yield* mismatch(path, actual)
      return undefined
    })

  const download: RemoteCache["download"] = (hash, file, size) =>
    Effect.gen(function* () {
      const path = pathOf("cas", hash)
      const got = yield* retrying(
        within(
          "get",
          path,
          deadlineFor(deadlineMs, size),
        )(Effect.flatMap(transport.get(path), (stream) => (stream === undefined ? Effect.succeed(undefined) : streamToFile(stream, file, size, where(path))))),
      )
      if (got === undefined) return false
      if (got === OVERSIZE) {
        yield* oversize(path, size, "the size its entry states")
        return false
      }
      if (got === hash) return true
      yield* Effect.sync(() => fs.rmSync(file, { force: true }))
      yield* mismatch(path, got)
      return false
    })

  const put: RemoteCache["put"] = (ns, name, body) =>
    Effect.gen(function* () {
      const path = pathOf(ns, name)
      const upload = yield* uploadOf(ns, name, body, where(path))
      yield* retrying(within("put", path, deadlineFor(deadlineMs, ns === "cas" ? upload.size : 0))(transport.put(path, upload)))
    })

  const has: RemoteCache["has"] = (ns, name, size) =>
    Effect.suspend(() => {
      const path = pathOf(ns, name)
      return Effect.map(
        retrying(within("has", path, deadlineMs)(transport.head(path))),
        (r) => r !== undefined && (size === undefined || r.size === undefined || r.size === size),
      )
    })

  return { url: transport.url, get, download, put, has }
}

/**
 * `stream`'s bytes, or OVERSIZE as soon as there are more than `limit` (the stream is then closed:
 * an endless body costs at most `limit` bytes of memory).
 */
const readAtMost = (stream: Readable, limit: number, url: string): Effect.Effect<Buffer | typeof OVERSIZE, RemoteCacheError> =>
  Effect.tryPromise({
    try: async (signal) => {
      // Interrupted (its deadline passed): the connection is closed, not left trickling.
      signal.addEventListener("abort", () => stream.destroy(), { once: true })
      const chunks: Array<Buffer> = []
      let total = 0
      for await (const chunk of stream) {
        total += (chunk as Buffer).length
        if (total > limit) {
          stream.destroy()
          return OVERSIZE
        }
        chunks.push(chunk as Buffer)
      }
      return Buffer.concat(chunks)
    },
    catch: (error) => requestFailed("get", url, error),
  })

/**
 * Writes `stream` to `file`, hashing it: its sha256, OVERSIZE when it holds more than `size` bytes
 * (stopped there, never written past `size`, the file removed), or a failure. A failure to read is
 * the remote's (retried, with the partial file removed); a failure to write is the local disk's.
 */
const streamToFile = (stream: Readable, file: string, size: number, url: string): Effect.Effect<string | typeof OVERSIZE, RemoteCacheError | FileError> =>
  Effect.async<string | typeof OVERSIZE, RemoteCacheError | FileError>((resume, signal) => {
    const hash = createHash("sha256")
    let localError: unknown
    const out = fs.createWriteStream(file)
    out.once("error", (error) => {
      localError = error
    })
    let written = 0
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        written += chunk.length
        if (written > size) return done(new BodyTooLong({ size }))
        hash.update(chunk)
        done(null, chunk)
      },
    })
    pipeline(stream, hashing, out, { signal }).then(
      () => resume(Effect.succeed(hash.digest("hex"))),
      (error: unknown) => {
        try {
          fs.rmSync(file, { force: true })
        } catch (removal) {
          if (!isNotFound(removal)) localError ??= removal
        }
        if (localError === undefined && error instanceof BodyTooLong) return resume(Effect.succeed(OVERSIZE))
        resume(
          Effect.fail(
            localError === undefined
              ? requestFailed("get", url, error)
              : new FileError({ file, operation: "write download", detail: describeError(localError), cause: localError }),
          ),
        )
      },
    )
  })
