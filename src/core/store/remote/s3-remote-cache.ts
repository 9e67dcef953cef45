/**
 * The remote cache in an S3 bucket (`s3://bucket/prefix`): objects `<prefix>/ac/<key>` and
 * `<prefix>/cas/<sha256>`. Region and credentials come from the usual AWS environment and config
 * files; `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` names another S3-compatible server (MinIO,
 * Garage, Ceph, s3rver), addressed path-style. Checksums are sent and checked only where S3 requires
 * them (cairn checks every blob's sha256 itself), which keeps older S3-compatible servers working.
 * Bodies go up through the SDK's managed upload (`@aws-sdk/lib-storage`): one PUT up to
 * `MULTIPART_PART_BYTES`, above that a multipart upload, completed only once every byte was sent
 * and hash-checked.
 */
import type { Readable } from "node:stream"
import { buffer } from "node:stream/consumers"
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, type S3ClientConfig } from "@aws-sdk/client-s3"
import { Upload } from "@aws-sdk/lib-storage"
import { Effect, type Scope } from "effect"
import { describeError } from "../../errors.js"
import { type RemoteCache, RemoteCacheError } from "./remote-cache.js"
import { DEFAULT_TIMEOUT_MS, makeRemoteCache, type RemoteCacheOptions, type RemoteTransport, requestFailed } from "./transport.js"

export interface S3RemoteCacheOptions extends RemoteCacheOptions {
  /** Where the region, endpoint, credentials and path style are read (default: process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>
}

type Operation = RemoteCacheError["operation"]

/** The SDK's own log (it falls back to the console without one): failures reach us as errors. */
const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} }

/**
 * The AWS SDK's documented switch (aws/aws-sdk-js-v3#7983) for the 7-line `NodeVersionSupportWarning`
 * it emits (process.emitWarning, once per process) when a client is made on Node < 22. It says that
 * SDK releases after the first week of January 2027 will require Node 22; the release cairn pins
 * supports Node 20, and which release that is is cairn's choice, not its user's: nothing to act on.
 */
const NODE_VERSION_WARNING_SWITCH = "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"

/**
 * A client, made with the SDK's Node-version notice switched off. The switch is read while the
 * client is made (synchronously), so it is set only for that moment: the stages cairn runs do not
 * inherit it.
 */
const newClient = (config: S3ClientConfig): S3Client => {
  const before = process.env[NODE_VERSION_WARNING_SWITCH]
  process.env[NODE_VERSION_WARNING_SWITCH] = "true"
  try {
    return new S3Client(config)
  } finally {
    if (before === undefined) delete process.env[NODE_VERSION_WARNING_SWITCH]
    else process.env[NODE_VERSION_WARNING_SWITCH] = before
  }
}

/**
 * The part size of a multipart upload: S3's smallest (for all parts but the last), the SDK's
 * managed upload's default. A body up to this size goes up in one PUT; above it, in parts (an 85 MB
 * checkpoint in 17), a few at a time.
 */
export const MULTIPART_PART_BYTES = 5 * 1024 * 1024
/** The most parts S3 takes in one upload: a body above 10,000 parts of the default size gets larger ones. */
const MAX_PARTS = 10_000

/** What the SDK says about a failed request: the status when the server answered. */
const statusOf = (error: unknown): number | undefined => (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode

/** The S3 error code (`NoSuchKey`, `SignatureDoesNotMatch`...), or the SDK's own error name. */
const codeOf = (error: unknown): string | undefined => {
  const name = (error as { name?: unknown } | undefined)?.name
  return typeof name === "string" ? name : undefined
}

/** No such object: a miss. A missing bucket is not one (see `denial`); a HEAD's 404 has no body to tell. */
const notFound = (error: unknown): boolean => {
  const code = codeOf(error)
  return code !== "NoSuchBucket" && (code === "NoSuchKey" || code === "NotFound" || statusOf(error) === 404)
}

/**
 * Why no request to the bucket can succeed, with the way out, when the server (or the SDK's
 * credential chain) says so: the credentials are wrong, missing or expired, or the bucket is not
 * there. Undefined for any other failure (AccessDenied among them: read-only credentials may still
 * read). Never holds a credential: only what is wrong with it.
 */
const denial = (error: unknown, bucket: string): string | undefined => {
  switch (codeOf(error)) {
    case "SignatureDoesNotMatch":
      return "the secret access key is not the one of its access key ID (S3 SignatureDoesNotMatch): set the right AWS_SECRET_ACCESS_KEY (or aws_secret_access_key in the profile's credentials file)"
    case "InvalidAccessKeyId":
      return "the server knows no such access key ID (S3 InvalidAccessKeyId): set AWS_ACCESS_KEY_ID (or aws_access_key_id in the profile's credentials file) to a key of this server"
    case "ExpiredToken":
    case "TokenRefreshRequired":
      return `the session's credentials have expired (S3 ${codeOf(error)}): renew them (aws sso login, or a fresh AWS_SESSION_TOKEN)`
    case "NoSuchBucket":
      return `there is no bucket "${bucket}" (S3 NoSuchBucket): create it (aws s3 mb s3://${bucket}) or name an existing one in --remote-cache`
    case "PermanentRedirect":
    case "AuthorizationHeaderMalformed":
      return `the bucket "${bucket}" is in another region (S3 ${codeOf(error)}): set AWS_REGION to its region`
    case "CredentialsProviderError":
      return "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE to a profile of ~/.aws/credentials or ~/.aws/config"
    default:
      return undefined
  }
}

/** The remote cache in `bucket` under `prefix` (no leading or trailing slash; may be empty), for the scope. */
export const s3RemoteCache = (bucket: string, prefix: string, options: S3RemoteCacheOptions = {}): Effect.Effect<RemoteCache, never, Scope.Scope> => {
  const env = options.env ?? process.env
  const endpoint = env["AWS_ENDPOINT_URL_S3"] || env["AWS_ENDPOINT_URL"] || undefined
  // The JS SDK reads AWS_REGION from process.env only, and never AWS_DEFAULT_REGION (the CLI's name).
  const region = env["AWS_REGION"] || env["AWS_DEFAULT_REGION"] || undefined
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  return Effect.map(
    Effect.acquireRelease(
      Effect.sync(() =>
        newClient({
          ...(endpoint ? { endpoint } : {}),
          // A custom endpoint has no bucket subdomains; the region is then often a mere label.
          forcePathStyle: endpoint !== undefined || env["AWS_S3_FORCE_PATH_STYLE"] === "true",
          ...(region ? { region } : endpoint ? { region: "us-east-1" } : {}),
          // From `env` when it has them, else the SDK's chain (config files, SSO, instance roles...).
          ...(env["AWS_ACCESS_KEY_ID"] && env["AWS_SECRET_ACCESS_KEY"]
            ? {
                credentials: {
                  accessKeyId: env["AWS_ACCESS_KEY_ID"],
                  secretAccessKey: env["AWS_SECRET_ACCESS_KEY"],
                  ...(env["AWS_SESSION_TOKEN"] ? { sessionToken: env["AWS_SESSION_TOKEN"] } : {}),
                },
              }
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
    const denied = denial(error, bucket)
    if (denied !== undefined) return new RemoteCacheError({ operation, url: `${url}/${path}`, reason: "denied", status, detail: denied, cause: error })
    if (status === undefined && !/timeout/i.test(`${codeOf(error)} ${describeError(error)}`)) return requestFailed(operation, `${url}/${path}`, error)
    return new RemoteCacheError({
      operation,
      url: `${url}/${path}`,
      reason: status === undefined ? "timeout" : "server",
      status,
      detail: describeError(error),
      cause: error,
    })
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
      send(
        "get",
        path,
        async (abortSignal) => (await client.send(new GetObjectCommand({ Bucket: bucket, Key: keyOf(path) }), { abortSignal })).Body as Readable | undefined,
        undefined,
      ),
    put: (path, body) =>
      Effect.asVoid(
        send(
          "put",
          path,
          async (signal) => {
            // A body that fails (a file that changed while it was sent: its hash is not its name) ends
            // the request or the upload: no object is made of it, and its own error is the cause.
            const stream = body.open()
            const abort = new AbortController()
            signal.addEventListener("abort", () => abort.abort(signal.reason), { once: true })
            let bodyError: unknown
            stream.once("error", (error) => {
              bodyError = error
              abort.abort(error)
            })
            const params = { Bucket: bucket, Key: keyOf(path), ContentLength: body.size }
            try {
              // Read whole (and so hash-checked) before one request: a server that keeps a body cut
              // short (s3rver does) never gets part of one. The request ends when it is given up.
              if (body.size <= MULTIPART_PART_BYTES)
                await client.send(new PutObjectCommand({ ...params, Body: await buffer(stream) }), { abortSignal: abort.signal })
              // In parts, each read whole before it is sent, a few at a time: the upload is completed
              // only after the last part, which is read only once every byte was hash-checked; given
              // up, no part is started after.
              else
                await new Upload({
                  client,
                  params: { ...params, Body: stream },
                  partSize: Math.max(MULTIPART_PART_BYTES, Math.ceil(body.size / MAX_PARTS)),
                  abortController: abort,
                }).done()
            } catch (error) {
              throw bodyError ?? error
            }
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
