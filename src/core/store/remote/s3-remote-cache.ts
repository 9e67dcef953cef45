/**
 * The remote cache in an S3 bucket (`s3://bucket/prefix`): objects `<prefix>/ac/<key>` and
 * `<prefix>/cas/<sha256>`. Region and credentials come from the usual AWS environment and config
 * files; `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` names another S3-compatible server (MinIO,
 * Garage, Ceph), addressed path-style. Checksums are sent and checked only where S3 requires them
 * (cairn checks every blob's sha256 itself), which keeps older S3-compatible servers working.
 */
import type { Readable } from "node:stream"
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3"
import { Effect, type Scope } from "effect"
import { describeError } from "../../errors.js"
import { type RemoteCache, RemoteCacheError } from "./remote-cache.js"
import { DEFAULT_TIMEOUT_MS, makeRemoteCache, type RemoteCacheOptions, type RemoteTransport, requestFailed } from "./transport.js"

export interface S3RemoteCacheOptions extends RemoteCacheOptions {
  /** Where the region, endpoint and path style are read (default: process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>
}

type Operation = RemoteCacheError["operation"]

/** The SDK's own log (it falls back to the console without one): failures reach us as errors. */
const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }

/** What the SDK says about a failed request: the status when the server answered. */
const statusOf = (error: unknown): number | undefined =>
  (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode

const notFound = (error: unknown): boolean => {
  const name = (error as { name?: unknown } | undefined)?.name
  return name === "NoSuchKey" || name === "NotFound" || statusOf(error) === 404
}

/** The remote cache in `bucket` under `prefix` (no leading or trailing slash; may be empty), for the scope. */
export const s3RemoteCache = (bucket: string, prefix: string, options: S3RemoteCacheOptions = {}): Effect.Effect<RemoteCache, never, Scope.Scope> => {
  const env = options.env ?? process.env
  const endpoint = env["AWS_ENDPOINT_URL_S3"] || env["AWS_ENDPOINT_URL"] || undefined
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  return Effect.map(
    Effect.acquireRelease(
      Effect.sync(
        () =>
          new S3Client({
            ...(endpoint ? { endpoint } : {}),
            // A custom endpoint has no bucket subdomains; the region is then often a mere label.
            forcePathStyle: endpoint !== undefined || env["AWS_S3_FORCE_PATH_STYLE"] === "true",
            ...(endpoint && !env["AWS_REGION"] && !env["AWS_DEFAULT_REGION"] ? { region: "us-east-1" } : {}),
            // From `env` when it has them, else the SDK's chain (config files, SSO, instance roles...).
            ...(env["AWS_ACCESS_KEY_ID"] && env["AWS_SECRET_ACCESS_KEY"]
              ? { credentials: { accessKeyId: env["AWS_ACCESS_KEY_ID"], secretAccessKey: env["AWS_SECRET_ACCESS_KEY"], ...(env["AWS_SESSION_TOKEN"] ? { sessionToken: env["AWS_SESSION_TOKEN"] } : {}) } }
              : {}),
            // Retries are the RemoteCache's, the same for every server kind; so are the warnings.
            maxAttempts: 1,
            logger: quiet,
            requestChecksumCalculation: "WHEN_REQUIRED",
            responseChecksumValidation: "WHEN_REQUIRED",
            requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs },
          }),
      ),
      (client) => Effect.sync(() => client.destroy()),
    ),
    (client) => makeRemoteCache(s3Transport(client, bucket, prefix), options),
  )
}

const s3Transport = (client: S3Client, bucket: string, prefix: string): RemoteTransport => {
  const keyOf = (path: string) => (prefix ? `${prefix}/${path}` : path)
  const url = `s3://${bucket}${prefix ? `/${prefix}` : ""}`
  const failed = (operation: Operation, path: string) => (error: unknown) => {
    const status = statusOf(error)
    if (status === undefined && !/timeout/i.test(`${(error as { name?: unknown } | undefined)?.name} ${describeError(error)}`)) return requestFailed(operation, `${url}/${path}`, error)
    return new RemoteCacheError({ operation, url: `${url}/${path}`, reason: status === undefined ? "timeout" : "server", status, detail: describeError(error), cause: error })
  }
  /** A request whose "no such key" answer is `absent`, not a failure. */
  const send = <A>(operation: Operation, path: string, run: (signal: AbortSignal) => Promise<A>, absent: A) =>
    Effect.tryPromise({
      try: (signal) =>
        run(signal).catch((error: unknown) => {
          if (notFound(error)) return absent
          throw error
        }),
      catch: failed(operation, path),
    })
  return {
    url,
    get: (path) =>
      send("get", path, async (abortSignal) => (await client.send(new GetObjectCommand({ Bucket: bucket, Key: keyOf(path) }), { abortSignal })).Body as Readable | undefined, undefined),
    put: (path, body) =>
      Effect.asVoid(
        send(
          "put",
          path,
          (signal) => {
            // The SDK does not end a request whose body fails (it would wait for the missing bytes): we do.
            const stream = body.open()
            const abort = new AbortController()
            signal.addEventListener("abort", () => abort.abort(signal.reason), { once: true })
            let bodyError: unknown
            stream.once("error", (error) => {
              bodyError = error
              abort.abort(error)
            })
            const command = new PutObjectCommand({ Bucket: bucket, Key: keyOf(path), Body: stream, ContentLength: body.size })
            return client.send(command, { abortSignal: abort.signal }).catch((error: unknown) => {
              throw bodyError ?? error
            })
          },
          undefined,
        ),
      ),
    head: (path) =>
      send(
        "has",
        path,
        async (abortSignal) => ({ size: (await client.send(new HeadObjectCommand({ Bucket: bucket, Key: keyOf(path) }), { abortSignal })).ContentLength }),
        undefined,
      ),
  }
}
