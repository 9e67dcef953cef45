/**
 * REAPI's `build.bazel.remote.execution.v2.ActionResult` (the message a Bazel cache holds under
 * `/ac/<key>`), encoded and decoded with protobufjs from the official schema (remote_execution.proto
 * in this folder, its descriptor built into a `Root` on first use: nothing is read at import).
 * Field names are the .proto's own (snake_case). Only what cairn writes or must see to refuse an
 * entry is typed here; decoding checks each digest as bazel-remote does (a sha256 in lowercase hex,
 * a size that is no negative number) and that sizes are exact in a JS number.
 */
import { Either } from "effect"
import protobuf from "protobufjs"
import { REAPI_DESCRIPTOR } from "./descriptor.js"

export interface Digest {
  readonly hash: string
  readonly size_bytes: number
}

export interface OutputFile {
  /** Relative, '/'-separated. */
  readonly path: string
  readonly digest: Digest
  readonly is_executable?: boolean
}

/** `google.protobuf.Any`: a message of the type its URL names. */
export interface AnyMessage {
  readonly type_url: string
  readonly value: Uint8Array
}

export interface ExecutedActionMetadata {
  /** bazel-remote fills in the uploader's address when this is empty (and re-encodes the entry). */
  readonly worker?: string
  readonly auxiliary_metadata?: ReadonlyArray<AnyMessage>
}

/** The fields of an ActionResult that cairn writes or checks. */
export interface ActionResult {
  readonly output_files: ReadonlyArray<OutputFile>
  readonly stdout_digest?: Digest
  readonly stderr_digest?: Digest
  readonly exit_code?: number
  readonly execution_metadata?: ExecutedActionMetadata
}

/** A decoded ActionResult, with what it holds beyond `ActionResult`'s fields counted. */
export interface DecodedActionResult extends ActionResult {
  /** Output directories, symlinks and inlined contents (stdout_raw, stderr_raw, OutputFile.contents). */
  readonly others: number
}

export const ACTION_RESULT_TYPE = "build.bazel.remote.execution.v2.ActionResult"

let actionResultType: protobuf.Type | undefined
const typeOf = (): protobuf.Type => (actionResultType ??= protobuf.Root.fromJSON(REAPI_DESCRIPTOR).resolveAll().lookupType(ACTION_RESULT_TYPE))

/** The wire bytes of `result`. */
export const encodeActionResult = (result: ActionResult): Uint8Array => {
  const type = typeOf()
  return type.encode(type.fromObject(result as unknown as Record<string, unknown>)).finish()
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)
const SHA256_HEX = /^[0-9a-f]{64}$/

/** `raw` (a decoded Digest, sizes as decimal strings) checked; Left with why it is none. */
const digestOf = (raw: unknown, where: string): Either.Either<Digest, string> => {
  if (!isObject(raw)) return Either.left(`no digest for ${where}`)
  const hash = raw["hash"] ?? ""
  const size = raw["size_bytes"] ?? "0"
  if (typeof hash !== "string" || !SHA256_HEX.test(hash)) return Either.left(`a digest for ${where} that is no sha256: ${JSON.stringify(hash).slice(0, 80)}`)
  const bytes = typeof size === "string" && /^\d+$/.test(size) ? Number(size) : Number.NaN
  if (!Number.isSafeInteger(bytes)) return Either.left(`a digest for ${where} with a size that is no byte count: ${String(size)}`)
  return Either.right({ hash, size_bytes: bytes })
}

const lengthOf = (v: unknown): number => (Array.isArray(v) ? v.length : 0)
const byteLengthOf = (v: unknown): number => (v instanceof Uint8Array ? v.length : 0)

/** `bytes` as an ActionResult, checked as bazel-remote checks one; Left with why it is none. */
export const decodeActionResult = (bytes: Uint8Array): Either.Either<DecodedActionResult, string> => {
  let raw: Record<string, unknown>
  try {
    const type = typeOf()
    raw = type.toObject(type.decode(bytes), { longs: String, arrays: true }) as Record<string, unknown>
  } catch (error) {
    // protobufjs throws (RangeError, Error) on bytes that are no message of this type.
    if (!(error instanceof Error)) throw error
    return Either.left(`not an ActionResult (${error.message})`)
  }
  const files: Array<OutputFile> = []
  let inlined = 0
  for (const [i, f] of (raw["output_files"] as Array<unknown>).entries()) {
    if (!isObject(f) || typeof f["path"] !== "string" || f["path"] === "") return Either.left(`output file ${i} has no path`)
    const path = f["path"]
    const digest = digestOf(f["digest"], path)
    if (Either.isLeft(digest)) return Either.left(digest.left)
    inlined += byteLengthOf(f["contents"])
    files.push({ path, digest: digest.right, is_executable: f["is_executable"] === true })
  }
  const optionalDigest = (name: string): Either.Either<Digest | undefined, string> =>
    raw[name] === undefined ? Either.right(undefined) : digestOf(raw[name], name)
  const stdout = optionalDigest("stdout_digest")
  if (Either.isLeft(stdout)) return Either.left(stdout.left)
  const stderr = optionalDigest("stderr_digest")
  if (Either.isLeft(stderr)) return Either.left(stderr.left)
  const metadata = isObject(raw["execution_metadata"]) ? raw["execution_metadata"] : undefined
  const auxiliary = (metadata?.["auxiliary_metadata"] as Array<Record<string, unknown>> | undefined) ?? []
  const others =
    lengthOf(raw["output_directories"]) +
    lengthOf(raw["output_file_symlinks"]) +
    lengthOf(raw["output_directory_symlinks"]) +
    lengthOf(raw["output_symlinks"]) +
    byteLengthOf(raw["stdout_raw"]) +
    byteLengthOf(raw["stderr_raw"]) +
    inlined
  return Either.right({
    output_files: files,
    ...(stdout.right ? { stdout_digest: stdout.right } : {}),
    ...(stderr.right ? { stderr_digest: stderr.right } : {}),
    exit_code: typeof raw["exit_code"] === "number" ? raw["exit_code"] : 0,
    execution_metadata: {
      worker: typeof metadata?.["worker"] === "string" ? metadata["worker"] : "",
      auxiliary_metadata: auxiliary.map((a) => ({
        type_url: typeof a["type_url"] === "string" ? a["type_url"] : "",
        value: a["value"] instanceof Uint8Array ? a["value"] : new Uint8Array(),
      })),
    },
    others,
  })
}
