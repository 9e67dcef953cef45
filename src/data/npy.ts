/**
 * NPY (format 1.0) for little-endian float32 arrays, byte for byte as `numpy.save` writes them:
 * magic `\x93NUMPY`, version 1.0, a little-endian uint16 header length, then the header dict
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (400, 300), }` followed by numpy's growth
 * padding (spaces up to 21 digits for the first axis), more spaces so that the whole preamble is a
 * multiple of 64 bytes, and `\n`; then the data in C order.
 *
 * The reader also takes versions 2.0 and 3.0 and `fortran_order: True` (returned in C order).
 */
import { Effect, Either } from "effect"
import { open, readFile, writeFile } from "node:fs/promises"
import { describeError, FileReadFailed, FileWriteFailed, NpyInvalid } from "./data-errors.js"

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59] // \x93NUMPY
const MAGIC_LEN = MAGIC.length + 2
/** numpy's ARRAY_ALIGN: the preamble (magic, version, length, header) is a multiple of this. */
const ARRAY_ALIGN = 64
/** numpy's GROWTH_AXIS_MAX_DIGITS: room left to rewrite the growth axis in place. */
const GROWTH_AXIS_MAX_DIGITS = 21
const FLOAT32_DESCR = "<f4"
const BYTES_PER_FLOAT32 = 4
const V1_LENGTH_BYTES = 2
const V2_LENGTH_BYTES = 4
const MAX_V1_HEADER = 0xffff

const isLittleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** Python's `repr` of a shape tuple. */
const shapeRepr = (shape: ReadonlyArray<number>): string => (shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`)

/** The full preamble numpy writes for a C-order float32 array of this shape. */
export const npyHeader = (shape: ReadonlyArray<number>): Uint8Array => {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`npy shape must be non-negative integers, got (${shape.join(", ")})`)
  }
  let dict = `{'descr': '${FLOAT32_DESCR}', 'fortran_order': False, 'shape': ${shapeRepr(shape)}, }`
  if (shape.length > 0) dict += " ".repeat(GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length)
  const hlen = dict.length + 1
  const padlen = ARRAY_ALIGN - ((MAGIC_LEN + V1_LENGTH_BYTES + hlen) % ARRAY_ALIGN)
  const total = MAGIC_LEN + V1_LENGTH_BYTES + hlen + padlen
  const out = new Uint8Array(total)
  out.set(MAGIC, 0)
  out[MAGIC.length] = 1
  out[MAGIC.length + 1] = 0
  const headerLength = hlen + padlen
  if (headerLength > MAX_V1_HEADER) throw new RangeError(`npy header too long for version 1.0: ${headerLength}`)
  out[MAGIC_LEN] = headerLength & 0xff
  out[MAGIC_LEN + 1] = headerLength >>> 8
  let p = MAGIC_LEN + V1_LENGTH_BYTES
  for (let i = 0; i < dict.length; i++) out[p++] = dict.charCodeAt(i)
  out.fill(0x20, p, p + padlen)
  out[total - 1] = 0x0a
  return out
}

const elementCount = (shape: ReadonlyArray<number>): number => shape.reduce((a, b) => a * b, 1)

/** The bytes of `numpy.save(f, data.reshape(shape))` for a C-order float32 array. */
export const encodeNpy = (data: Float32Array, shape: ReadonlyArray<number>): Uint8Array => {
  const n = elementCount(shape)
  if (n !== data.length) throw new RangeError(`npy shape (${shape.join(", ")}) holds ${n} values, data has ${data.length}`)
  const header = npyHeader(shape)
  const out = new Uint8Array(header.length + n * BYTES_PER_FLOAT32)
  out.set(header, 0)
  if (isLittleEndianHost) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), header.length)
  } else {
    const view = new DataView(out.buffer, out.byteOffset + header.length)
    for (let i = 0; i < n; i++) view.setFloat32(i * BYTES_PER_FLOAT32, data[i]!, true)
  }
  return out
}

export interface NpyArray {
  readonly shape: ReadonlyArray<number>
  /** C order. */
  readonly data: Float32Array
}

/** Parses an `.npy` file's bytes; `file` names it in errors. */
export const decodeNpy = (bytes: Uint8Array, file: string): Either.Either<NpyArray, NpyInvalid> => {
  const fail = (reason: string) => Either.left(new NpyInvalid({ file, reason }))
  if (bytes.length < MAGIC_LEN + V1_LENGTH_BYTES || MAGIC.some((b, i) => bytes[i] !== b)) return fail("missing the \\x93NUMPY magic")
  const major = bytes[MAGIC.length]!
  const lengthBytes = major === 1 ? V1_LENGTH_BYTES : major === 2 || major === 3 ? V2_LENGTH_BYTES : 0
  if (lengthBytes === 0) return fail(`unknown format version ${major}.${bytes[MAGIC.length + 1]}`)
  if (bytes.length < MAGIC_LEN + lengthBytes) return fail("truncated before the header length")
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const headerLength = lengthBytes === V1_LENGTH_BYTES ? view.getUint16(MAGIC_LEN, true) : view.getUint32(MAGIC_LEN, true)
  const dataStart = MAGIC_LEN + lengthBytes + headerLength
  if (bytes.length < dataStart) return fail(`truncated inside the ${headerLength}-byte header`)
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(bytes.subarray(MAGIC_LEN + lengthBytes, dataStart))
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1]
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1]
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1]
  if (descr === undefined || fortran === undefined || shapeText === undefined) return fail(`header is not a numpy header dict: ${header.trim()}`)
  if (descr !== FLOAT32_DESCR) return fail(`dtype is ${descr}, expected ${FLOAT32_DESCR} (float32, little-endian)`)
  const shape = shapeText
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map(Number)
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) return fail(`bad shape (${shapeText})`)
  const n = elementCount(shape)
  const expected = dataStart + n * BYTES_PER_FLOAT32
  if (bytes.length !== expected) return fail(`holds ${bytes.length - dataStart} data bytes, shape (${shape.join(", ")}) needs ${n * BYTES_PER_FLOAT32}`)
  const raw = new Float32Array(n)
  if (isLittleEndianHost) new Uint8Array(raw.buffer).set(bytes.subarray(dataStart, expected))
  else for (let i = 0; i < n; i++) raw[i] = view.getFloat32(dataStart + i * BYTES_PER_FLOAT32, true)
  if (fortran === "False" || shape.length < 2) return Either.right({ shape, data: raw })
  // Fortran order: the first axis varies fastest. Re-lay out in C order.
  const data = new Float32Array(n)
  const strides = shape.map((_, axis) => shape.slice(0, axis).reduce((a, b) => a * b, 1))
  const index = new Array<number>(shape.length).fill(0)
  for (let c = 0; c < n; c++) {
    let f = 0
    for (let axis = 0; axis < shape.length; axis++) f += index[axis]! * strides[axis]!
    data[c] = raw[f]!
    for (let axis = shape.length - 1; axis >= 0; axis--) {
      if (++index[axis]! < shape[axis]!) break
      index[axis] = 0
    }
  }
  return Either.right({ shape, data })
}

/** Writes `data` (C order) as `file` in numpy's `.npy` format. */
export const writeNpy = (file: string, data: Float32Array, shape: ReadonlyArray<number>): Effect.Effect<void, FileWriteFailed> =>
  Effect.tryPromise({
    try: async () => {
      if (!isLittleEndianHost) return writeFile(file, encodeNpy(data, shape))
      const n = elementCount(shape)
      if (n !== data.length) throw new RangeError(`npy shape (${shape.join(", ")}) holds ${n} values, data has ${data.length}`)
      // Header and data as two buffers: the data is written without a copy.
      const handle = await open(file, "w")
      try {
        const header = npyHeader(shape)
        const body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
        let written = 0
        while (written < header.length + body.length) {
          const parts = written < header.length ? [header.subarray(written), body] : [body.subarray(written - header.length)]
          written += (await handle.writev(parts)).bytesWritten
        }
      } finally {
        await handle.close()
      }
    },
    catch: (cause) => new FileWriteFailed({ file, reason: describeError(cause) }),
  })

/** Reads a float32 `.npy` file. */
export const readNpy = (file: string): Effect.Effect<NpyArray, FileReadFailed | NpyInvalid> =>
  Effect.tryPromise({
    try: () => readFile(file),
    catch: (cause) => new FileReadFailed({ file, reason: describeError(cause) }),
  }).pipe(Effect.flatMap((bytes) => decodeNpy(bytes, file)))
