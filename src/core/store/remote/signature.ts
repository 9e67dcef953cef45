/**
 * Signed action-cache entries, as Turborepo's `remoteCache.signature`: with a secret shared by the
 * writers and readers (`$CAIRN_REMOTE_CACHE_SECRET`), every `ac/<key>` entry is stored with an
 * HMAC-SHA256 over its key and its bytes, and a reader takes an entry without a valid signature as
 * a miss. Whoever can write to the server but lacks the secret can then no longer make readers
 * serve a result (the entry names every blob's digest, so the signature covers the files too).
 *
 * The signature is a step apart from the entry's format: it signs the entry's bytes as they are
 * stored, whatever they encode, and travels in a frame in front of them (one line,
 * `cairn-sig-v1 <hex>\n`). Without the secret, entries are written unsigned as before and a frame
 * is skipped unchecked, so readers with and without the secret share one cache.
 */
import { createHmac, timingSafeEqual } from "node:crypto"
import { Effect } from "effect"
import type { RemoteCache, RemoteWarn } from "./remote-cache.js"

/** The environment variable holding the secret that signs and checks entries. */
export const REMOTE_CACHE_SECRET_ENV = "CAIRN_REMOTE_CACHE_SECRET"

const FRAME_TAG = "cairn-sig-v1 "
const HMAC_HEX_LENGTH = 64
const FRAME_LENGTH = FRAME_TAG.length + HMAC_HEX_LENGTH + 1

/**
 * The HMAC-SHA256 (hex) of the entry `bytes` stored under `key`. The key is signed with them: a
 * signed entry copied under another key does not verify.
 */
export const signEntry = (secret: Uint8Array, key: string, bytes: Uint8Array): string =>
  createHmac("sha256", secret).update(`cairn remote entry\0${key}\0`).update(bytes).digest("hex")

/** Whether `signature` is the entry's, compared in constant time. */
export const verifyEntry = (secret: Uint8Array, key: string, bytes: Uint8Array, signature: string): boolean => {
  const expected = Buffer.from(signEntry(secret, key, bytes), "utf8")
  const given = Buffer.from(signature, "utf8")
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/** The stored form of an entry: its signature's frame, then its bytes. */
export const frameEntry = (signature: string, bytes: Uint8Array): Uint8Array => Buffer.concat([Buffer.from(`${FRAME_TAG}${signature}\n`), bytes])

/** A stored entry split into its signature (undefined when it has no frame) and its bytes. */
export const unframeEntry = (stored: Uint8Array): { readonly signature: string | undefined; readonly bytes: Uint8Array } => {
  const head = Buffer.from(stored.subarray(0, FRAME_LENGTH)).toString("latin1")
  if (head.length !== FRAME_LENGTH || !head.startsWith(FRAME_TAG) || !head.endsWith("\n")) return { signature: undefined, bytes: stored }
  return { signature: head.slice(FRAME_TAG.length, -1), bytes: stored.subarray(FRAME_LENGTH) }
}

/**
 * `cache` with entries signed on `put("ac")` and checked on `get("ac")` / `has("ac")` when there is a
 * secret: an entry with no valid signature is a miss, and the first one of the cache's life (one
 * run) is warned about in one line. Without a secret, entries are stored as given and a signature's
 * frame is dropped unchecked. Blobs (`cas`) pass through: the signed entry names their digests.
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
  const get: RemoteCache["get"] = (ns, name) =>
    ns !== "ac"
      ? cache.get(ns, name)
      : Effect.flatMap(cache.get(ns, name), (stored) => {
          if (stored === undefined) return Effect.succeed(undefined)
          const { signature, bytes } = unframeEntry(stored)
          if (secret === undefined) return Effect.succeed(bytes)
          if (signature === undefined) return Effect.as(refused(name, "unsigned"), undefined)
          if (!verifyEntry(secret, name, bytes, signature)) return Effect.as(refused(name, "its signature does not match"), undefined)
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
            // Entries are small and in memory; a file entry would be a caller's bug.
            if (!(body instanceof Uint8Array)) throw new Error("an action cache entry is put as bytes")
            return cache.put(ns, name, frameEntry(signEntry(secret, name, body), body))
          }),
    // With a secret, an entry the server holds but readers would refuse counts as absent (a push then replaces it).
    has: (ns, name, size) => (ns !== "ac" || secret === undefined ? cache.has(ns, name, size) : Effect.map(get(ns, name), (bytes) => bytes !== undefined)),
  }
}
