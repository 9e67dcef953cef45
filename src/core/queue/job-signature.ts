/**
 * Signed jobs. BullMQ trusts Redis: whoever can write to it can put a job on the queue, and a job
 * makes a worker import a pipeline file and run its stages. With a secret shared by the
 * coordinators and the workers (CAIRN_QUEUE_SECRET), a coordinator signs each job's data (an
 * HMAC-SHA256 over its canonical JSON, the signature left out) and a worker checks the signature
 * before it reads anything else of the job. The secret is never printed nor put in a job.
 */
import { Either } from "effect"
import { canonicalJson } from "../canonical.js"
import { domainHmac, sameDigest } from "../hmac.js"

/** The environment variable holding the queue's shared secret. */
export const QUEUE_SECRET_ENV = "CAIRN_QUEUE_SECRET"

/** The job data's field that holds its signature (hex). */
export const SIGNATURE_FIELD = "signature"

/** Keeps a job signature from being valid as any other HMAC made with the same secret. */
const DOMAIN = "cairn stage job\n"

/** The secret the environment sets (undefined: jobs are not signed), or why it cannot be used. */
export const queueSecretFrom = (env: Readonly<Record<string, string | undefined>>): { secret: string | undefined } | { error: string } => {
  const raw = env[QUEUE_SECRET_ENV]
  if (raw === undefined) return { secret: undefined }
  // Set but empty is a mistake (a template's blank line), not a request for unsigned jobs.
  if (raw.trim() === "") return { error: `set but empty: set it to a long random string (the same on the coordinators and workers), or unset it` }
  return { secret: raw }
}

const hmacOf = (secret: string, canonical: string): Buffer => domainHmac(secret, DOMAIN, [canonical])

/** `data` with its signature added, or why its data cannot be signed (not canonical JSON). */
export const signJob = <A extends object>(data: A, secret: string): Either.Either<A & { readonly signature: string }, string> => {
  const { [SIGNATURE_FIELD]: _, ...unsigned } = data as Record<string, unknown>
  return Either.mapBoth(canonicalJson(unsigned), {
    onLeft: (e) => `its job cannot be signed: ${e.message}`,
    onRight: (canonical) => ({ ...data, [SIGNATURE_FIELD]: hmacOf(secret, canonical).toString("hex") }),
  })
}

/** Why a job's data does not carry a valid signature under `secret`, or undefined when it does. */
export const jobSignatureProblem = (data: unknown, secret: string): "unsigned" | "mis-signed" | undefined => {
  if (typeof data !== "object" || data === null || Array.isArray(data)) return "unsigned"
  const { [SIGNATURE_FIELD]: signature, ...unsigned } = data as Record<string, unknown>
  if (signature === undefined) return "unsigned"
  if (typeof signature !== "string" || !/^[0-9a-f]{64}$/.test(signature)) return "mis-signed"
  const canonical = canonicalJson(unsigned)
  if (Either.isLeft(canonical)) return "mis-signed"
  return sameDigest(hmacOf(secret, canonical.right), Buffer.from(signature, "hex")) ? undefined : "mis-signed"
}
