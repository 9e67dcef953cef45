/**
 * A throwaway S3 API server for the S3 remote-cache tests: `s3rver` (a dev dependency), run in its
 * own Node process (s3rver-main.ts) by process.ts on a free loopback port, its data in its own temp
 * folder, with the buckets named at start created, stopped (and its folder removed) by `stop`. Its
 * one key pair is `S3RVER` and a fresh random secret: an unknown key ID is a 403 InvalidAccessKeyId,
 * a wrong secret key a 403 SignatureDoesNotMatch (checked by s3rver-main.ts's front: s3rver does
 * not check SigV4), a bucket not created a 404 NoSuchBucket, as S3 answers them.
 *
 * Without the package (an install without dev dependencies) the tests that need it are skipped
 * with a message; with CAIRN_REQUIRE_SERVERS=1 (CI) they fail instead.
 */
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Layer } from "effect"
import { acceptingConnections, serverMissing, startServer } from "./process.js"

/** The one access key ID s3rver knows (its built-in account); each server gets its own secret. */
export const S3RVER_ACCESS_KEY_ID = "S3RVER"

export interface S3rverServer {
  /** `http://127.0.0.1:<port>`: the endpoint (`AWS_ENDPOINT_URL`). */
  readonly url: string
  readonly port: number
  /** The server's data folder (objects are files below `<dir>/<bucket>/`). */
  readonly dir: string
  /** The requests it answered so far, `METHOD /path?query STATUS` each. */
  readonly requests: () => ReadonlyArray<string>
  /** Its secret access key (fresh for each server, so a test can look for it in what cairn wrote). */
  readonly secret: string
  /** The AWS environment that reaches it with its valid key pair. */
  readonly env: Readonly<Record<string, string>>
  /** Stops the server (waits for it to exit); its folder is removed. Safe to call twice. */
  readonly stop: () => Promise<void>
}

/** s3rver's entry point, or undefined when the package is not installed. */
const s3rverScript = (): string | undefined => {
  try {
    return createRequire(import.meta.url).resolve("s3rver")
  } catch (error) {
    if ((error as { code?: unknown }).code === "MODULE_NOT_FOUND") return undefined
    throw error
  }
}

/**
 * Why s3rver tests cannot run here, or undefined when they can; throws when servers are required.
 * Call at collection time: `describe.skipIf(s3rverMissing("S3 tests"))`.
 */
export const s3rverMissing = (what: string): string | undefined =>
  s3rverScript() ? undefined : serverMissing(what, "the s3rver package is not installed (npm ci installs it: it is a dev dependency)")

/** The process s3rver runs in (s3rver-main.ts), run through tsx as cairn's own TypeScript is. */
const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "s3rver-main.ts")

/**
 * Starts a fresh s3rver holding the empty `buckets` (created before it listens, so it answers only
 * once they exist).
 */
export const startS3rver = async (buckets: ReadonlyArray<string>): Promise<S3rverServer> => {
  if (!s3rverScript()) throw new Error("s3rver is not installed")
  const secret = `cairn-test-secret-${randomBytes(12).toString("hex")}`
  const server = await startServer({
    name: "s3rver",
    binary: process.execPath,
    prepare: (dir, port) => ["--import", "tsx", MAIN, dir, String(port), secret, ...buckets],
    answering: acceptingConnections,
    stopSignal: "SIGTERM",
  })
  const url = `http://127.0.0.1:${server.port}`
  const log = path.join(server.dir, "requests.log")
  return {
    url,
    port: server.port,
    dir: path.join(server.dir, "data"),
    secret,
    requests: () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").split("\n").filter(Boolean) : []),
    env: { AWS_ENDPOINT_URL: url, AWS_ACCESS_KEY_ID: S3RVER_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: secret, AWS_REGION: "us-east-1" },
    stop: server.stop,
  }
}

/** A layer that runs a fresh s3rver (with `buckets`) for its lifetime and builds `make(server)` on it. */
export const withS3rver = <A, E, R>(buckets: ReadonlyArray<string>, make: (server: S3rverServer) => Layer.Layer<A, E, R>): Layer.Layer<A, E, R> =>
  Layer.unwrapScoped(
    Effect.map(
      Effect.acquireRelease(
        Effect.promise(() => startS3rver(buckets)),
        (server) => Effect.promise(server.stop),
      ),
      make,
    ),
  )
