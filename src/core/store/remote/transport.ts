/**
 * What a remote cache needs from its server (GET, PUT, HEAD of a path under its base), and the one
 * `RemoteCache` built on it for every server kind: names checked, retries on lost connections and
 * server errors, every blob hash-checked on the way in and on the way out.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { Readable, Transform } from "node:stream"
import { pipeline } from "node:stream/promises"
import { Data, Effect, Schedule } from "effect"
import { sha256 } from "../../canonical.js"
import { describeError, FileError } from "../../errors.js"
import { isNotFound } from "../../stamp.js"
import { isEntryName, type Namespace, type RemoteBody, type RemoteCache, RemoteCacheError, type RemoteWarn } from "./remote-cache.js"

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
  readonly warn?: RemoteWarn
}

export const DEFAULT_TIMEOUT_MS = 10_000
const DEFAULT_RETRIES = 2
const EMPTY_SHA256 = sha256("")

/** The bytes being uploaded as `cas/<expected>` turned out not to hash to that name. */
export class UploadMismatch extends Data.TaggedError("UploadMismatch")<{ readonly file: string; readonly expected: string; readonly actual: string }> {
  override get message(): string {
    return `${this.file} changed while it was sent: its bytes hash to ${this.actual}, not ${this.expected}`
  }
}

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
    reason: error instanceof UploadMismatch ? "content" : error instanceof RequestTimeout ? "timeout" : "network",
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
  const warn = options.warn ?? ((message: string) => Effect.sync(() => process.stderr.write(`warning: ${message}\n`)))
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

  const get: RemoteCache["get"] = (ns, name) =>
    Effect.gen(function* () {
      const path = pathOf(ns, name)
      const bytes = yield* retrying(
        Effect.flatMap(transport.get(path), (stream) =>
          stream === undefined
            ? Effect.succeed(undefined)
            : Effect.tryPromise({
                try: async () => {
                  const chunks: Array<Buffer> = []
                  for await (const chunk of stream) chunks.push(chunk as Buffer)
                  return Buffer.concat(chunks)
                },
                catch: (error) => requestFailed("get", where(path), error),
              }),
        ),
      )
      if (bytes === undefined || ns !== "cas") return bytes
      const actual = sha256(bytes)
      if (actual === name) return new Uint8Array(bytes)
      yield* mismatch(path, actual)
      return undefined
    })

  const download: RemoteCache["download"] = (hash, file) =>
    Effect.gen(function* () {
      const path = pathOf("cas", hash)
      const got = yield* retrying(
        Effect.flatMap(transport.get(path), (stream) =>
          stream === undefined ? Effect.succeed(undefined) : streamToFile(stream, file, where(path)),
        ),
      )
      if (got === undefined) return false
      if (got === hash) return true
      yield* Effect.sync(() => fs.rmSync(file, { force: true }))
      yield* mismatch(path, got)
      return false
    })

  const put: RemoteCache["put"] = (ns, name, body) =>
    Effect.gen(function* () {
      const path = pathOf(ns, name)
      const upload = yield* uploadOf(ns, name, body, where(path))
      yield* retrying(transport.put(path, upload))
    })

  const has: RemoteCache["has"] = (ns, name, size) =>
    Effect.map(retrying(Effect.suspend(() => transport.head(pathOf(ns, name)))), (r) => r !== undefined && (size === undefined || r.size === undefined || r.size === size))

  return { url: transport.url, get, download, put, has }
}

/**
 * Writes `stream` to `file`, hashing it: its sha256, or a failure. A failure to read is the remote's
 * (retried, with the partial file removed); a failure to write is the local disk's.
 */
const streamToFile = (stream: Readable, file: string, url: string): Effect.Effect<string, RemoteCacheError | FileError> =>
  Effect.async<string, RemoteCacheError | FileError>((resume, signal) => {
    const hash = createHash("sha256")
    let localError: unknown
    const out = fs.createWriteStream(file)
    out.once("error", (error) => {
      localError = error
    })
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, done) {
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
