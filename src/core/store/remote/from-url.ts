/**
 * A remote cache from its URL: `http(s)://[user:password@]host[:port][/prefix]` (credentials become
 * a basic `authorization` header; `$CAIRN_REMOTE_CACHE_HEADER="Name: value"` adds one header, e.g. a
 * bearer token) or `s3://bucket[/prefix]` (the S3 client is loaded only then). Its settings from the
 * environment are checked here, before any request: `$CAIRN_REMOTE_CACHE_SECRET` (entries signed and
 * checked, see signature.ts) and `$CAIRN_REMOTE_TIMEOUT` (each request's deadline, in seconds).
 */
import { Effect, Layer, type Scope } from "effect"
import { isCredentialQueryName } from "../../credentials.js"
import { describeError } from "../../errors.js"
import { httpRemoteCache } from "./http-remote-cache.js"
import { RemoteCache, RemoteCacheUrlError, warnOnStderr } from "./remote-cache.js"
import { REMOTE_CACHE_SECRET_ENV, withEntrySignatures } from "./entry-signature.js"
import { type RemoteCacheOptions, REMOTE_TIMEOUT_ENV } from "./transport.js"

export interface RemoteCacheFromUrlOptions extends RemoteCacheOptions {
  /** Where `CAIRN_REMOTE_CACHE_HEADER` and the AWS settings are read (default: process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>
}

type Env = Readonly<Record<string, string | undefined>>

/** The environment variable holding one extra request header for an HTTP remote cache. */
export const REMOTE_CACHE_HEADER_ENV = "CAIRN_REMOTE_CACHE_HEADER"

/** What stands for a credential taken out of a printed URL. */
const REDACTED = "***"

/**
 * `url` fit to print: its user and password (as the URL parser splits them: the userinfo ends at
 * the last '@' of the authority) and the values of query parameters named like credentials
 * (`token`, `X-Amz-Signature`...) replaced by `***`. A string the parser refuses keeps no userinfo
 * at all (everything between `//` and its last '@') and no query. Anything with nothing to hide is
 * returned as given.
 */
export const redactUrl = (url: string): string => {
  // No userinfo at all, and no query: for what the parser refuses, or reads as a host-less URL
  // (`user:pw@host` is the scheme `user:` to it) while an '@' says it may hold credentials.
  const withoutUserinfo = () => url.replace(/^([a-z][a-z0-9+.-]*:\/\/)?.*@/is, `$1${REDACTED}@`).replace(/\?.*$/s, `?${REDACTED}`)
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (error) {
    if (!(error instanceof TypeError)) throw error
    return withoutUserinfo()
  }
  if (!parsed.host && url.includes("@")) return withoutUserinfo()
  let changed = false
  if (parsed.username) {
    parsed.username = REDACTED
    changed = true
  }
  if (parsed.password) {
    parsed.password = REDACTED
    changed = true
  }
  for (const name of new Set(parsed.searchParams.keys())) {
    if (isCredentialQueryName(name)) {
      parsed.searchParams.set(name, REDACTED)
      changed = true
    }
  }
  return changed ? parsed.href : url
}

const headerFrom = (text: string, url: string): Effect.Effect<Record<string, string>, RemoteCacheUrlError> => {
  const colon = text.indexOf(":")
  const name = text.slice(0, colon).trim()
  if (colon <= 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
    return Effect.fail(new RemoteCacheUrlError({ url, detail: `${REMOTE_CACHE_HEADER_ENV} must be "Name: value"` }))
  }
  const value = text.slice(colon + 1).trim()
  // Node refuses such a header at the first request (mid-run); the value itself (a token) is not shown.
  if ([...value].some((c) => c !== "\t" && (c < " " || c === "\x7f"))) {
    return Effect.fail(
      new RemoteCacheUrlError({
        url,
        detail: `${REMOTE_CACHE_HEADER_ENV} holds a line break or another control character: set one header, "Name: value", on one line`,
      }),
    )
  }
  return Effect.succeed({ [name.toLowerCase()]: value })
}

/** `$CAIRN_REMOTE_TIMEOUT` (seconds) as the requests' deadline in milliseconds, or undefined when unset. */
const deadlineFrom = (env: Env, url: string): Effect.Effect<number | undefined, RemoteCacheUrlError> => {
  const text = env[REMOTE_TIMEOUT_ENV]?.trim()
  if (!text) return Effect.succeed(undefined)
  const seconds = Number(text)
  if (!Number.isFinite(seconds) || seconds <= 0) {
    return Effect.fail(new RemoteCacheUrlError({ url, detail: `${REMOTE_TIMEOUT_ENV} must be a number of seconds above 0, not ${JSON.stringify(text)}` }))
  }
  return Effect.succeed(Math.ceil(seconds * 1000))
}

/** `$CAIRN_REMOTE_CACHE_SECRET` as bytes, or undefined when unset or empty. */
const secretFrom = (env: Env): Uint8Array | undefined => {
  const secret = env[REMOTE_CACHE_SECRET_ENV]
  return secret ? Buffer.from(secret, "utf8") : undefined
}

/** The remote cache `url` names, for the scope (its connections are closed when it ends). */
export const remoteCacheFromUrl = (url: string, options: RemoteCacheFromUrlOptions = {}): Effect.Effect<RemoteCache, RemoteCacheUrlError, Scope.Scope> =>
  Effect.gen(function* () {
    const shown = redactUrl(url)
    const env = options.env ?? process.env
    const deadlineMs = options.deadlineMs ?? (yield* deadlineFrom(env, shown))
    const cache = yield* serverCache(url, shown, env, { ...options, ...(deadlineMs === undefined ? {} : { deadlineMs }) })
    return withEntrySignatures(cache, secretFrom(env), options.warn ?? warnOnStderr)
  })

/** The cache of the server `url` names (`shown`: the same, fit to print). */
const serverCache = (url: string, shown: string, env: Env, options: RemoteCacheOptions): Effect.Effect<RemoteCache, RemoteCacheUrlError, Scope.Scope> =>
  Effect.gen(function* () {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch (error) {
      if (!(error instanceof TypeError)) throw error
      return yield* new RemoteCacheUrlError({ url: shown, detail: "not a URL" })
    }
    if (parsed.search || parsed.hash) return yield* new RemoteCacheUrlError({ url: shown, detail: "a query or fragment means nothing here" })
    const prefix = parsed.pathname.replace(/^\/+|\/+$/g, "")
    if (parsed.protocol === "http:" || parsed.protocol === "https:") {
      const headers: Record<string, string> = {}
      if (parsed.username || parsed.password) {
        const user = `${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`
        headers["authorization"] = `Basic ${Buffer.from(user).toString("base64")}`
      }
      const extra = env[REMOTE_CACHE_HEADER_ENV]
      if (extra) Object.assign(headers, yield* headerFrom(extra, shown))
      const base = new URL(`${parsed.origin}/${prefix}`)
      return yield* httpRemoteCache(base, { ...options, headers })
    }
    if (parsed.protocol === "s3:") {
      if (!parsed.hostname) return yield* new RemoteCacheUrlError({ url: shown, detail: "no bucket (s3://bucket/prefix)" })
      const { s3RemoteCache } = yield* Effect.tryPromise({
        try: () => import("./s3-remote-cache.js"),
        catch: (error) => new RemoteCacheUrlError({ url: shown, detail: `cannot load the S3 client: ${describeError(error)}` }),
      })
      return yield* s3RemoteCache(parsed.hostname, prefix, { ...options, env })
    }
    return yield* new RemoteCacheUrlError({ url: shown, detail: `${parsed.protocol}// is not a remote cache: use http://, https:// or s3://` })
  })

/** The RemoteCache layer for `url`. */
export const layerFromUrl = (url: string, options: RemoteCacheFromUrlOptions = {}) => Layer.scoped(RemoteCache, remoteCacheFromUrl(url, options))
