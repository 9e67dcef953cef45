/**
 * The queue a URL names: `redis://[user:password@]host[:port][/db][?queue=NAME]` (`rediss://`:
 * the same over TLS). Connections are ioredis clients in BullMQ's adapter (`createIORedisClient`):
 * BullMQ duplicates them for its blocking reads and reconnects them.
 */
import { createIORedisClient, type IRedisClient } from "bullmq"
import { Redis } from "ioredis"
import { Effect, type Scope } from "effect"
import { describeError } from "../errors.js"
import { LINE_MAX, printable } from "../printable.js"
import { redactUrl } from "../store/remote/from-url.js"
import { QueueUnavailable, QueueUrlError } from "./queue-errors.js"

/** Where Redis is, as ioredis takes it. */
export interface RedisTarget {
  readonly host: string
  readonly port: number
  readonly username?: string
  readonly password?: string
  readonly db?: number
  readonly tls?: boolean
}

/** BullMQ's queue name when the URL names none. */
export const DEFAULT_QUEUE_NAME = "cairn-stages"

export interface QueueTarget {
  /** The URL without credentials, for messages. */
  readonly url: string
  readonly name: string
  readonly redis: RedisTarget
}

const DEFAULT_PORT = 6379

/** `url` parsed, or why it is no queue URL. */
export const queueTargetFrom = (url: string): QueueTarget | QueueUrlError => {
  const shown = redactUrl(url)
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (error) {
    if (!(error instanceof TypeError)) throw error
    return new QueueUrlError({ url: shown, detail: "not a URL" })
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    return new QueueUrlError({ url: shown, detail: `${parsed.protocol}// is not a queue: use redis://host:port` })
  }
  const tls = parsed.protocol === "rediss:"
  if (!parsed.hostname) return new QueueUrlError({ url: shown, detail: "no host (redis://host:port)" })
  const dbText = parsed.pathname.replace(/^\/+|\/+$/g, "")
  const db = dbText === "" ? 0 : Number(dbText)
  if (!Number.isSafeInteger(db) || db < 0) return new QueueUrlError({ url: shown, detail: `the path must be a database number, not /${dbText}` })
  const name = parsed.searchParams.get("queue") ?? DEFAULT_QUEUE_NAME
  if (name === "" || name.includes(":"))
    return new QueueUrlError({ url: shown, detail: `queue name ${JSON.stringify(name)} must be non-empty and without ':'` })
  const port = parsed.port === "" ? DEFAULT_PORT : Number(parsed.port)
  return {
    url: `${parsed.protocol}//${parsed.host}${db ? `/${db}` : ""}${name === DEFAULT_QUEUE_NAME ? "" : `?queue=${name}`}`,
    name,
    redis: {
      host: parsed.hostname.replace(/^\[|\]$/g, ""),
      port,
      ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
      ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
      ...(db ? { db } : {}),
      ...(tls ? { tls } : {}),
    },
  }
}

/**
 * `step`'s answer within `ms`, else QueueUnavailable naming the queue: `<failed>: <its error>`, or
 * `<late> within <ms> ms` when Redis does not answer in time.
 */
export const answeredWithin = <A>(
  target: QueueTarget,
  ms: number,
  words: { readonly failed: string; readonly late: string },
  step: () => Promise<A>,
): Effect.Effect<A, QueueUnavailable> =>
  Effect.tryPromise({
    try: step,
    catch: (error) => new QueueUnavailable({ url: target.url, detail: `${words.failed}: ${describeError(error)}`, cause: error }),
  }).pipe(Effect.timeoutFail({ duration: ms, onTimeout: () => new QueueUnavailable({ url: target.url, detail: `${words.late} within ${ms} ms` }) }))

/** The words of a client's or queue's readiness wait. */
export const NOT_READY = { failed: "not ready", late: "not ready" } as const

/** Closing a queue's connections gives up after this long (Redis may be gone). */
export const CLOSE_MS = 2_000

/**
 * Closes a BullMQ queue, worker or event stream within `closeMs`, else cuts its connections (within
 * CLOSE_MS). Interruptible: it runs in finalizers, which are not, and its timeouts must hold.
 */
export const closeWithin = (what: { close: () => Promise<void>; disconnect: () => Promise<void> }, closeMs = CLOSE_MS): Effect.Effect<void> =>
  Effect.interruptible(Effect.promise(() => what.close())).pipe(
    Effect.timeout(closeMs),
    Effect.catchAll(() => Effect.interruptible(Effect.promise(() => what.disconnect().catch(() => undefined))).pipe(Effect.timeout(CLOSE_MS), Effect.ignore)),
  )

/** TLS errors of Node whose cause is a certificate this machine does not trust. */
const UNTRUSTED_CERTIFICATE = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
])

/**
 * Why a connection to Redis failed, from the error ioredis reported on its way (its `connect()`
 * only says `Connection is closed.`): a refused password, a certificate not trusted here, or the
 * error itself.
 */
export const connectionTrouble = (target: QueueTarget, error: unknown): string => {
  const text = printable(describeError(error), LINE_MAX)
  const code = typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : undefined
  if (text.startsWith("WRONGPASS")) {
    return `authentication failed (${text}): check the user and password in the queue URL (redis://user:password@host:port; a '@' or ':' in them written %40, %3A)`
  }
  if (text.startsWith("NOAUTH")) return `authentication required (${text}): put the password in the queue URL (redis://:password@host:port)`
  if (code && UNTRUSTED_CERTIFICATE.has(code)) {
    return `TLS: ${text} (${code}): the server's certificate is not trusted here; give Node its CA with NODE_EXTRA_CA_CERTS=/path/to/ca.pem`
  }
  if (code === "CERT_HAS_EXPIRED" || code === "ERR_TLS_CERT_ALTNAME_INVALID") return `TLS: ${text} (${code})`
  if (code === "ECONNRESET" && !target.redis.tls) return `cannot connect: ${text}: does the server take TLS only (rediss://)?`
  return `cannot connect: ${text}`
}

/**
 * A connected Redis client for BullMQ, for the scope (closed when it ends). Fails with
 * QueueUnavailable when Redis does not answer within `connectMs`, naming why when ioredis said
 * (a wrong password, an untrusted certificate).
 */
export const redisClient = (target: QueueTarget, connectMs: number): Effect.Effect<IRedisClient, QueueUnavailable, Scope.Scope> =>
  Effect.gen(function* () {
    const { tls, ...where } = target.redis
    /** What ioredis reported last: its connect() rejects with only `Connection is closed.` */
    let lastError: unknown
    // Created (and closed with the scope) apart from connecting: an acquisition is uninterruptible,
    // so a connect inside it would outlive its timeout on a server that accepts and never answers.
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const made = createIORedisClient(
          // maxRetriesPerRequest null: BullMQ's blocking reads wait as long as they need (its requirement).
          new Redis({ ...where, ...(tls ? { tls: {} } : {}), lazyConnect: true, maxRetriesPerRequest: null, connectTimeout: connectMs }),
        )
        // BullMQ reports a lost connection as an 'error' event: without a listener it would throw.
        made.on("error", (error: unknown) => {
          lastError = error
        })
        return made
      }),
      (made) => Effect.sync(() => made.disconnect()),
    )
    yield* Effect.tryPromise({
      try: () => client.connect(),
      catch: (error) => new QueueUnavailable({ url: target.url, detail: connectionTrouble(target, lastError ?? error), cause: lastError ?? error }),
    }).pipe(
      Effect.timeoutFail({
        duration: connectMs,
        onTimeout: () =>
          new QueueUnavailable({
            url: target.url,
            detail: lastError === undefined ? `no answer within ${connectMs} ms` : connectionTrouble(target, lastError),
            cause: lastError,
          }),
      }),
      Effect.tapError(() => Effect.sync(() => client.disconnect())),
    )
    return client
  })
