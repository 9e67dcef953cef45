/**
 * Signed action-cache entries, as Turborepo's `remoteCache.signature`: with a secret shared by the
 * writers and readers (`$CAIRN_REMOTE_CACHE_SECRET`), every `ac/<key>` entry carries an HMAC-SHA256
 * over its key and what it says (its record blob's digest and every file's path and digest), and a
 * reader takes an entry without a valid signature as a miss. Whoever can write to the server but
 * lacks the secret can then no longer make readers serve a result: the record and every blob are
 * fetched by the digests signed, and hash-checked.
 *
 * The signature lives inside the entry's ActionResult (`execution_metadata.auxiliary_metadata`, see
 * entries.ts), where a Bazel cache that validates entries keeps it. It signs what the entry says,
 * not its bytes: such a cache may re-encode the message it stores (bazel-remote fills in
 * `execution_metadata.worker`). Without the secret, entries are written unsigned and a signature is
 * not checked, so readers with and without the secret share one cache.
 */
import { Effect, Either } from "effect"
import { domainHmac, sameDigest } from "../../hmac.js"
import { decodeIndex, type EntryIndex, encodeIndex } from "./entries.js"
import type { RemoteCache, RemoteWarn } from "./remote-cache.js"

/** The environment variable holding the secret that signs and checks entries. */
export const REMOTE_CACHE_SECRET_ENV = "CAIRN_REMOTE_CACHE_SECRET"

/** Keeps an entry signature from being valid as any other HMAC made with the same secret. */
const ENTRY_DOMAIN = "cairn remote entry v2\0"

/**
 * The HMAC-SHA256 of the entry `index` stored under `key`. The key is signed with it (a signed entry
 * copied under another key does not verify); each file is one JSON array on its own line, so no two
 * file lists sign alike, in the order of their paths (a server may list an ActionResult's output
 * files in any order; an entry's paths are distinct).
 */
export const signEntry = (secret: Uint8Array, key: string, index: EntryIndex): Uint8Array => {
  const files = [...index.files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return domainHmac(secret, ENTRY_DOMAIN, [
    `${key}\0`,
    `${JSON.stringify([index.record.hash, index.record.size])}\n`,
    ...files.map((file) => `${JSON.stringify(file)}\n`),
  ])
}

/** Whether `signature` is the entry's, compared in constant time. */
export const verifyEntry = (secret: Uint8Array, key: string, index: EntryIndex, signature: Uint8Array): boolean => {
  return sameDigest(signature, signEntry(secret, key, index))
}

/**
 * `cache` with entries signed on `put("ac")` and checked on `get("ac")` / `has("ac")` when there is a
 * secret: an entry with no valid signature is a miss, and the first one of the cache's life (one
 * run) is warned about in one line. Without a secret, entries are stored and read as given (a
 * signature is not checked). Blobs (`cas`) pass through: the signed entry names their digests.
 */
export const withEntrySignatures = (cache: RemoteCache, secret: Uint8Array | undefined, warn: RemoteWarn): RemoteCache => {
  let warned = false
  const refused = (key: string, why: string) =>
    Effect.suspend(() => {
      if (warned) return Effect.void
      warned = true
      return warn(
        `remote cache ${cache.url}/ac/${key}: ${why}: a miss, as is every entry without a valid signature in this run (${REMOTE_CACHE_SECRET_ENV} is set: only entries written with the same secret are used)`,
      )
    })
  const get: RemoteCache["get"] = (ns, name, size) =>
    ns !== "ac" || secret === undefined
      ? cache.get(ns, name, size)
      : Effect.flatMap(cache.get(ns, name), (bytes) => {
          if (bytes === undefined) return Effect.succeed(undefined)
          const decoded = decodeIndex(bytes)
          if (Either.isLeft(decoded)) return Effect.as(refused(name, decoded.left), undefined)
          const { index, signature } = decoded.right
          if (signature === undefined) return Effect.as(refused(name, "unsigned"), undefined)
          if (!verifyEntry(secret, name, index, signature)) return Effect.as(refused(name, "its signature does not match"), undefined)
          return Effect.succeed(bytes)
        })
  return {
    url: cache.url,
    get,
    download: cache.download,
    put: (ns, name, body) =>
      ns !== "ac" || secret === undefined
        ? cache.put(ns, name, body)
        : Effect.suspend(() => {
            // Entries are cairn's own ActionResults, in memory; anything else would be a caller's bug.
            const decoded = body instanceof Uint8Array ? decodeIndex(body) : Either.left("a file")
            if (Either.isLeft(decoded)) throw new Error(`an action cache entry is put as an entry's bytes, not ${decoded.left}`)
            const { index } = decoded.right
            return cache.put(ns, name, encodeIndex(index, signEntry(secret, name, index)))
          }),
    // With a secret, an entry the server holds but readers would refuse counts as absent (a push then replaces it).
    has: (ns, name, size) => (ns !== "ac" || secret === undefined ? cache.has(ns, name, size) : Effect.map(get(ns, name), (bytes) => bytes !== undefined)),
  }
}
