/**
 * The one HMAC-SHA256 of cairn's signatures (queue jobs, remote-cache entries): a domain string
 * first, so that a signature of one kind is never valid as another kind made with the same secret,
 * then the signed text in parts; and the constant-time comparison that checks one.
 */
import { createHmac, timingSafeEqual } from "node:crypto"

/** HMAC-SHA256 under `secret` of `domain` followed by every part, as one byte string. */
export const domainHmac = (secret: string | Uint8Array, domain: string, parts: Iterable<string>): Buffer => {
  const hmac = createHmac("sha256", secret).update(domain)
  for (const part of parts) hmac.update(part)
  return hmac.digest()
}

/** Whether two digests are equal, in constant time: how much of a guess matches must not show in how long the check takes. */
export const sameDigest = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && timingSafeEqual(a, b)
