/**
 * A remote cache from its URL: `http(s)://[user:password@]host[:port][/prefix]` (credentials become
 * a basic `authorization` header; `$CAIRN_REMOTE_CACHE_HEADER="Name: value"` adds one header, e.g. a
 * bearer token) or `s3://bucket[/prefix]` (the S3 client is loaded only then).
 */
import { Effect, Layer, type Scope } from "effect"
import { describeError } from "../../errors.js"
import { httpRemoteCache } from "./http-remote-cache.js"
import { type RemoteCache, RemoteCacheService, RemoteCacheUrlError } from "./remote-cache.js"
import type { RemoteCacheOptions } from "./transport.js"

export interface RemoteCacheFromUrlOptions extends RemoteCacheOptions {
  /** Where `CAIRN_REMOTE_CACHE_HEADER` and the AWS settings are read (default: process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>
}

/** The environment variable holding one extra request header for an HTTP remote cache. */
export const REMOTE_CACHE_HEADER_ENV = "CAIRN_REMOTE_CACHE_HEADER"

/** `url` without its credentials, for messages. */
export const redactUrl = (url: string): string => url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, "$1")

const headerFrom = (text: string, url: string): Effect.Effect<Record<string, string>, RemoteCacheUrlError> => {
  const colon = text.indexOf(":")
  const name = text.slice(0, colon).trim()
  if (colon <= 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
    return Effect.fail(new RemoteCacheUrlError({ url, detail: `${REMOTE_CACHE_HEADER_ENV} must be "Name: value"` }))
  }
  return Effect.succeed({ [name.toLowerCase()]: text.slice(colon + 1).trim() })
}

/** The remote cache `url` names, for the scope (its connections are closed when it ends). */
export const remoteCacheFromUrl = (url: string, options: RemoteCacheFromUrlOptions = {}): Effect.Effect<RemoteCache, RemoteCacheUrlError, Scope.Scope> =>
  Effect.gen(function* () {
    const shown = redactUrl(url)
    const env = options.env ?? process.env
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

/** The RemoteCacheService layer for `url`. */
export const remoteCacheLayer = (url: string, options: RemoteCacheFromUrlOptions = {}) => Layer.scoped(RemoteCacheService, remoteCacheFromUrl(url, options))
