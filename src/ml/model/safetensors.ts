/**
 * The safetensors format (https://github.com/huggingface/safetensors), read and written byte for
 * byte like the reference implementation:
 *
 *     [u64 little-endian N][N bytes of JSON header, space-padded to a multiple of 8][tensor bytes]
 *
 * The header maps each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets
 * relative to the byte buffer after the header) plus an optional `"__metadata__"` string map.
 * The writer orders tensors like the reference: by dtype, widest first (U64, I64, F64, F32, ...),
 * then by name (bytewise); it writes `__metadata__` first with its keys sorted. The reader checks
 * what the reference checks: known dtypes, shapes matching byte ranges, ranges contiguous from 0
 * and covering the whole buffer.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect, Either } from "effect"
import { describeError } from "../../core/errors.js"
import { SafetensorsError } from "../ml-errors.js"

/** Dtypes in the reference's enum order (the writer sorts by this, descending). */
export const SAFETENSORS_DTYPES = ["BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"] as const
export type SafetensorsDtype = (typeof SAFETENSORS_DTYPES)[number]

const DTYPE_BYTES: Record<SafetensorsDtype, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
}

/** Bytes of the little-endian header-length prefix. */
const PREFIX_BYTES = 8
/** The header (and so the data start) is padded to this alignment. */
const HEADER_ALIGN = 8
/** The reference refuses headers larger than 100 MB. */
const MAX_HEADER_BYTES = 100_000_000
const METADATA_KEY = "__metadata__"

const isDtype = (value: unknown): value is SafetensorsDtype => typeof value === "string" && (SAFETENSORS_DTYPES as ReadonlyArray<string>).includes(value)

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** One tensor as stored: dtype, shape and its raw little-endian bytes. */
export interface SafetensorsTensor {
  readonly name: string
  readonly dtype: SafetensorsDtype
  readonly shape: ReadonlyArray<number>
  readonly bytes: Uint8Array
}

export interface SafetensorsFile {
  readonly metadata: Readonly<Record<string, string>> | undefined
  /** In header (= data offset) order. */
  readonly tensors: ReadonlyMap<string, SafetensorsTensor>
}

/** A tensor to write: raw bytes, or a typed array whose element type fits the dtype. */
export interface SafetensorsInput {
  readonly name: string
  readonly dtype: SafetensorsDtype
  readonly shape: ReadonlyArray<number>
  readonly data: Uint8Array | Float32Array | Float64Array | Int32Array | BigInt64Array | Uint16Array | Int16Array
}

const numel = (shape: ReadonlyArray<number>): number => shape.reduce((a, b) => a * b, 1)

/** Parses a whole safetensors file image; `file` only names it in errors. */
export const parseSafetensors = (bytes: Uint8Array, file: string): Either.Either<SafetensorsFile, SafetensorsError> => {
  const fail = (detail: string, tensor = ""): Either.Either<never, SafetensorsError> => Either.left(new SafetensorsError({ file, tensor, detail }))
  if (bytes.length < PREFIX_BYTES) return fail(`${bytes.length} bytes: too short for the header length`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const n = view.getBigUint64(0, true)
  if (n > BigInt(MAX_HEADER_BYTES)) return fail(`header length ${n} exceeds ${MAX_HEADER_BYTES}`)
  const headerLength = Number(n)
  const dataStart = PREFIX_BYTES + headerLength
  if (dataStart > bytes.length) return fail(`header length ${headerLength} runs past the end (${bytes.length} bytes)`)
  let header: unknown
  const text = new TextDecoder("utf-8", { fatal: true })
  try {
    header = JSON.parse(text.decode(bytes.subarray(PREFIX_BYTES, dataStart)))
  } catch (error) {
    if (error instanceof SyntaxError || error instanceof TypeError) return fail(`header is not UTF-8 JSON: ${error.message}`)
    throw error
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) return fail("header is not a JSON object")
  const data = bytes.subarray(dataStart)
  let metadata: Record<string, string> | undefined
  const entries: Array<SafetensorsTensor & { readonly begin: number; readonly end: number }> = []
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (typeof value !== "object" || value === null || Array.isArray(value)) return fail("__metadata__ is not an object")
      metadata = {}
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== "string") return fail(`__metadata__ value of ${k} is not a string`)
        metadata[k] = v
      }
      continue
    }
    if (typeof value !== "object" || value === null) return fail("entry is not an object", name)
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>
    if (!isDtype(dtype)) return fail(`unsupported dtype ${JSON.stringify(dtype)}`, name)
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      return fail(`bad shape ${JSON.stringify(shape)}`, name)
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
      return fail(`bad data_offsets ${JSON.stringify(offsets)}`, name)
    }
    const [begin, end] = offsets as [number, number]
    const expected = numel(shape as Array<number>) * DTYPE_BYTES[dtype]
    if (end < begin || end - begin !== expected) {
      return fail(`data_offsets [${begin}, ${end}] hold ${end - begin} bytes, shape ${JSON.stringify(shape)} ${dtype} needs ${expected}`, name)
    }
    if (end > data.length) return fail(`data_offsets end ${end} is past the data (${data.length} bytes)`, name)
    entries.push({ name, dtype, shape: shape as Array<number>, bytes: data.subarray(begin, end), begin, end })
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end)
  let at = 0
  for (const e of entries) {
    if (e.begin !== at) return fail(`data_offsets start at ${e.begin}, expected ${at} (gap or overlap)`, e.name)
    at = e.end
  }
  if (at !== data.length) return fail(`tensors cover ${at} bytes of a ${data.length}-byte data buffer`)
  const tensors = new Map<string, SafetensorsTensor>()
  for (const { name, dtype, shape, bytes: b } of entries) tensors.set(name, { name, dtype, shape, bytes: b })
  return Either.right({ metadata, tensors })
}

const inputBytes = (t: SafetensorsInput): Uint8Array => {
  if (!LITTLE_ENDIAN && !(t.data instanceof Uint8Array)) {
    throw new RangeError("safetensors: typed-array input needs a little-endian host")
  }
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)
}

const compareBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"))

/** Serialises tensors (and optional metadata) exactly as `safetensors.torch.save_file` lays them out. */
export const serializeSafetensors = (
  tensors: ReadonlyArray<SafetensorsInput>,
  metadata?: Readonly<Record<string, string>>,
  file = "<memory>",
): Either.Either<Uint8Array, SafetensorsError> => {
  const seen = new Set<string>()
  for (const t of tensors) {
    const fail = (detail: string) => Either.left(new SafetensorsError({ file, tensor: t.name, detail }))
    if (t.name === METADATA_KEY) return fail("reserved name")
    if (seen.has(t.name)) return fail("duplicate name")
    seen.add(t.name)
    const expected = numel(t.shape) * DTYPE_BYTES[t.dtype]
    if (t.data.byteLength !== expected) {
      return fail(`${t.data.byteLength} bytes for shape ${JSON.stringify(t.shape)} ${t.dtype} (${expected} expected)`)
    }
  }
  const rank = (d: SafetensorsDtype): number => SAFETENSORS_DTYPES.indexOf(d)
  const ordered = [...tensors].sort((a, b) => rank(b.dtype) - rank(a.dtype) || compareBytes(a.name, b.name))
  const parts: Array<string> = []
  if (metadata !== undefined) {
    const sorted = Object.keys(metadata)
      .sort(compareBytes)
      .map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`)
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${sorted.join(",")}}`)
  }
  let offset = 0
  for (const t of ordered) {
    const end = offset + t.data.byteLength
    parts.push(`${JSON.stringify(t.name)}:{"dtype":${JSON.stringify(t.dtype)},"shape":[${t.shape.join(",")}],"data_offsets":[${offset},${end}]}`)
    offset = end
  }
  const json = Buffer.from(`{${parts.join(",")}}`, "utf8")
  const padding = (HEADER_ALIGN - (json.length % HEADER_ALIGN)) % HEADER_ALIGN
  const headerLength = json.length + padding
  const out = new Uint8Array(PREFIX_BYTES + headerLength + offset)
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true)
  out.set(json, PREFIX_BYTES)
  out.fill(0x20, PREFIX_BYTES + json.length, PREFIX_BYTES + headerLength)
  let at = PREFIX_BYTES + headerLength
  for (const t of ordered) {
    out.set(inputBytes(t), at)
    at += t.data.byteLength
  }
  return Either.right(out)
}

/** Reads and parses a safetensors file. */
export const readSafetensors = (file: string): Effect.Effect<SafetensorsFile, SafetensorsError> =>
  Effect.flatMap(
    Effect.tryPromise({
      try: () => fs.readFile(file),
      catch: (error) => new SafetensorsError({ file, tensor: "", detail: `cannot read: ${describeError(error)}` }),
    }),
    (bytes) => parseSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), file),
  )

/** Writes a safetensors file atomically (temp file in the same directory, then rename). */
export const writeSafetensors = (
  file: string,
  tensors: ReadonlyArray<SafetensorsInput>,
  metadata?: Readonly<Record<string, string>>,
): Effect.Effect<void, SafetensorsError> =>
  Effect.flatMap(serializeSafetensors(tensors, metadata, file), (bytes) =>
    Effect.tryPromise({
      try: async () => {
        await fs.mkdir(path.dirname(file), { recursive: true })
        const tmp = `${file}.tmp-${process.pid}-${Date.now()}`
        await fs.writeFile(tmp, bytes)
        await fs.rename(tmp, file)
      },
      catch: (error) => new SafetensorsError({ file, tensor: "", detail: `cannot write: ${describeError(error)}` }),
    }),
  )

// ---- dtype conversions ---------------------------------------------------------------------------

const f32Scratch = new Float32Array(1)
const u32Scratch = new Uint32Array(f32Scratch.buffer)

/** IEEE half (bits) to float. */
export const halfToFloat = (h: number): number => {
  const sign = h & 0x8000 ? -1 : 1
  const exp = (h >> 10) & 0x1f
  const frac = h & 0x3ff
  if (exp === 0) return sign * frac * 2 ** -24
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : Number.NaN
  return sign * (1 + frac / 1024) * 2 ** (exp - 15)
}

/** float to IEEE half bits, round to nearest even (torch's `.half()`). */
export const floatToHalf = (value: number): number => {
  f32Scratch[0] = value
  const x = u32Scratch[0]!
  const sign = (x >>> 16) & 0x8000
  const exp = (x >>> 23) & 0xff
  let mant = x & 0x7fffff
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0)
  const e = exp - 127 + 15
  if (e >= 0x1f) return sign | 0x7c00
  if (e <= 0) {
    if (e < -10) return sign
    mant |= 0x800000
    const shift = 14 - e
    const half = 1 << (shift - 1)
    const rest = mant & ((1 << shift) - 1)
    let r = mant >>> shift
    if (rest > half || (rest === half && (r & 1) === 1)) r += 1
    return sign | r
  }
  let r = (e << 10) | (mant >>> 13)
  const rest = mant & 0x1fff
  if (rest > 0x1000 || (rest === 0x1000 && (r & 1) === 1)) r += 1
  return sign | r
}

/** bfloat16 (bits) to float. */
export const bf16ToFloat = (b: number): number => {
  u32Scratch[0] = (b & 0xffff) << 16
  return f32Scratch[0]!
}

/** float to bfloat16 bits, round to nearest even (NaN stays NaN). */
export const floatToBf16 = (value: number): number => {
  f32Scratch[0] = value
  const x = u32Scratch[0]!
  if (Number.isNaN(value)) return ((x >>> 16) | 0x40) & 0xffff
  const rounded = x + 0x7fff + ((x >>> 16) & 1)
  return (rounded >>> 16) & 0xffff
}

/** Copies bytes into a fresh, aligned buffer (tensor bytes inside a file image may be unaligned). */
const aligned = (bytes: Uint8Array): ArrayBuffer => {
  const copy = new Uint8Array(bytes.byteLength)
  copy.set(bytes)
  return copy.buffer
}

/** The tensor's values as float32 (floats converted, integers cast); undefined for BOOL-like misuse. */
export const tensorToFloat32 = (t: SafetensorsTensor): Float32Array => {
  if (!LITTLE_ENDIAN) throw new RangeError("safetensors: decoding needs a little-endian host")
  const buf = aligned(t.bytes)
  switch (t.dtype) {
    case "F32":
      return new Float32Array(buf)
    case "F64":
      return Float32Array.from(new Float64Array(buf))
    case "F16":
      return Float32Array.from(new Uint16Array(buf), halfToFloat)
    case "BF16":
      return Float32Array.from(new Uint16Array(buf), bf16ToFloat)
    case "I64":
      return Float32Array.from(new BigInt64Array(buf), (v) => Number(v))
    case "U64":
      return Float32Array.from(new BigUint64Array(buf), (v) => Number(v))
    case "I32":
      return Float32Array.from(new Int32Array(buf))
    case "U32":
      return Float32Array.from(new Uint32Array(buf))
    case "I16":
      return Float32Array.from(new Int16Array(buf))
    case "U16":
      return Float32Array.from(new Uint16Array(buf))
    case "I8":
      return Float32Array.from(new Int8Array(buf))
    case "U8":
    case "BOOL":
      return Float32Array.from(new Uint8Array(buf))
  }
}

/** The tensor's values as 64-bit integers (integer dtypes only; undefined for floats). */
export const tensorToBigInt64 = (t: SafetensorsTensor): BigInt64Array | undefined => {
  if (!LITTLE_ENDIAN) throw new RangeError("safetensors: decoding needs a little-endian host")
  const buf = aligned(t.bytes)
  switch (t.dtype) {
    case "I64":
      return new BigInt64Array(buf)
    case "U64":
      return BigInt64Array.from(new BigUint64Array(buf), (v) => BigInt.asIntN(64, v))
    case "I32":
      return BigInt64Array.from(new Int32Array(buf), (v) => BigInt(v))
    case "U32":
      return BigInt64Array.from(new Uint32Array(buf), (v) => BigInt(v))
    case "I16":
      return BigInt64Array.from(new Int16Array(buf), (v) => BigInt(v))
    case "U16":
      return BigInt64Array.from(new Uint16Array(buf), (v) => BigInt(v))
    case "I8":
      return BigInt64Array.from(new Int8Array(buf), (v) => BigInt(v))
    case "U8":
    case "BOOL":
      return BigInt64Array.from(new Uint8Array(buf), (v) => BigInt(v))
    default:
      return undefined
  }
}

/** float32 values as F16 or BF16 raw bits (round to nearest even), for writing half checkpoints. */
export const float32ToHalfBits = (values: Float32Array, dtype: "F16" | "BF16"): Uint16Array =>
  Uint16Array.from(values, dtype === "F16" ? floatToHalf : floatToBf16)
