/**
 * A native reader and writer for flat, numeric parquet tables (INT32, INT64, FLOAT, DOUBLE leaves).
 *
 * DuckDB (`duckdb.ts`) reads any parquet file, but pays a large fixed cost per column (about 0.1 ms
 * for each of a spectrogram's 401 columns), which dominates a file of a few hundred rows. This
 * module decodes the same files directly from their bytes: the Thrift compact footer, data pages
 * v1 and v2, PLAIN, dictionary (PLAIN_DICTIONARY / RLE_DICTIONARY) and BYTE_STREAM_SPLIT
 * encodings, RLE/bit-packed definition levels, and the UNCOMPRESSED, SNAPPY, GZIP, BROTLI (and,
 * where node has it, ZSTD) codecs. Anything else (nested or repeated columns, other encodings or
 * codecs) is a `ParquetUnsupported` error, on which callers fall back to DuckDB.
 *
 * The writer emits what pandas/pyarrow would for a flat numeric frame: every column OPTIONAL, one
 * row group, one PLAIN data page (v1) per column, uncompressed, NaN cells optionally stored as
 * nulls. pyarrow and DuckDB read its files.
 */
import { Effect, Either } from "effect"
import { readFile, writeFile } from "node:fs/promises"
import * as zlib from "node:zlib"
import {
  describeCause,
  FileReadFailed,
  FileWriteFailed,
  ParquetCorrupt,
  ParquetSchemaMismatch,
  ParquetUnsupported,
} from "./errors.js"

// ---------------------------------------------------------------------------------------------
// Parquet enums (parquet.thrift)

const MAGIC = [0x50, 0x41, 0x52, 0x31] // "PAR1"
const MAGIC_BYTES = MAGIC.length
const FOOTER_LENGTH_BYTES = 4

export const PhysicalType = { BOOLEAN: 0, INT32: 1, INT64: 2, INT96: 3, FLOAT: 4, DOUBLE: 5, BYTE_ARRAY: 6, FIXED_LEN_BYTE_ARRAY: 7 } as const
export type NumericPhysicalType = "INT32" | "INT64" | "FLOAT" | "DOUBLE"
const PHYSICAL_NAMES = ["BOOLEAN", "INT32", "INT64", "INT96", "FLOAT", "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"]
const BYTE_WIDTH: Record<number, number> = { [PhysicalType.INT32]: 4, [PhysicalType.INT64]: 8, [PhysicalType.FLOAT]: 4, [PhysicalType.DOUBLE]: 8 }

const Repetition = { REQUIRED: 0, OPTIONAL: 1, REPEATED: 2 } as const
const Encoding = { PLAIN: 0, PLAIN_DICTIONARY: 2, RLE: 3, BIT_PACKED: 4, RLE_DICTIONARY: 8, BYTE_STREAM_SPLIT: 9 } as const
const ENCODING_NAMES: Record<number, string> = {
  0: "PLAIN", 2: "PLAIN_DICTIONARY", 3: "RLE", 4: "BIT_PACKED", 5: "DELTA_BINARY_PACKED",
  6: "DELTA_LENGTH_BYTE_ARRAY", 7: "DELTA_BYTE_ARRAY", 8: "RLE_DICTIONARY", 9: "BYTE_STREAM_SPLIT",
}
const Codec = { UNCOMPRESSED: 0, SNAPPY: 1, GZIP: 2, LZO: 3, BROTLI: 4, LZ4: 5, ZSTD: 6, LZ4_RAW: 7 } as const
const CODEC_NAMES = ["UNCOMPRESSED", "SNAPPY", "GZIP", "LZO", "BROTLI", "LZ4", "ZSTD", "LZ4_RAW"]
const PageType = { DATA_PAGE: 0, INDEX_PAGE: 1, DICTIONARY_PAGE: 2, DATA_PAGE_V2: 3 } as const

// Thrift field ids used below (parquet.thrift).
const F = {
  FileMetaData: { version: 1, schema: 2, numRows: 3, rowGroups: 4, createdBy: 6 },
  SchemaElement: { type: 1, repetition: 3, name: 4, numChildren: 5 },
  RowGroup: { columns: 1, totalByteSize: 2, numRows: 3 },
  ColumnChunk: { fileOffset: 2, metaData: 3 },
  ColumnMetaData: { type: 1, encodings: 2, path: 3, codec: 4, numValues: 5, uncompressedSize: 6, compressedSize: 7, dataPageOffset: 9, dictionaryPageOffset: 11 },
  PageHeader: { type: 1, uncompressedSize: 2, compressedSize: 3, dataPage: 5, dictionaryPage: 7, dataPageV2: 8 },
  DataPageHeader: { numValues: 1, encoding: 2, defEncoding: 3, repEncoding: 4 },
  DictionaryPageHeader: { numValues: 1, encoding: 2 },
  DataPageHeaderV2: { numValues: 1, numNulls: 2, numRows: 3, encoding: 4, defLength: 5, repLength: 6, isCompressed: 7 },
} as const

const isLittleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
const TWO_32 = 4294967296

// ---------------------------------------------------------------------------------------------
// Decoding failures inside this module are thrown as this class and mapped to tagged errors at the
// module's boundary (`decodeParquet*`).

class Corrupt {
  constructor(readonly reason: string) {}
}
class Unsupported {
  constructor(readonly column: string, readonly feature: string) {}
}

const corrupt = (reason: string): never => {
  throw new Corrupt(reason)
}

// ---------------------------------------------------------------------------------------------
// Thrift compact protocol

const CT = { STOP: 0, TRUE: 1, FALSE: 2, BYTE: 3, I16: 4, I32: 5, I64: 6, DOUBLE: 7, BINARY: 8, LIST: 9, SET: 10, MAP: 11, STRUCT: 12 } as const

type ThriftValue = number | boolean | Uint8Array | ThriftList | ThriftStruct
interface ThriftList extends ReadonlyArray<ThriftValue> {}
type ThriftStruct = Map<number, ThriftValue>

class CompactReader {
  pos: number
  constructor(readonly bytes: Uint8Array, start: number, readonly end: number) {
    this.pos = start
  }
  byte(): number {
    if (this.pos >= this.end) corrupt("metadata ends inside a Thrift value")
    return this.bytes[this.pos++]!
  }
  varint(): number {
    let result = 0
    let scale = 1
    for (;;) {
      const b = this.byte()
      result += (b & 0x7f) * scale
      if ((b & 0x80) === 0) return result
      scale *= 128
      if (scale > 2 ** 70) corrupt("Thrift varint longer than 10 bytes")
    }
  }
  zigzag(): number {
    const v = this.varint()
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2
  }
  value(type: number): ThriftValue {
    switch (type) {
      case CT.TRUE:
        return true
      case CT.FALSE:
        return false
      case CT.BYTE:
        return this.byte()
      case CT.I16:
      case CT.I32:
      case CT.I64:
        return this.zigzag()
      case CT.DOUBLE: {
        if (this.pos + 8 > this.end) corrupt("metadata ends inside a double")
        const v = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 8).getFloat64(0, true)
        this.pos += 8
        return v
      }
      case CT.BINARY: {
        const n = this.varint()
        if (this.pos + n > this.end) corrupt("metadata ends inside a string")
        const v = this.bytes.subarray(this.pos, this.pos + n)
        this.pos += n
        return v
      }
      case CT.LIST:
      case CT.SET: {
        const header = this.byte()
        let size = header >> 4
        const elementType = header & 0x0f
        if (size === 15) size = this.varint()
        const out: Array<ThriftValue> = []
        for (let i = 0; i < size; i++) {
          out.push(elementType === CT.TRUE || elementType === CT.FALSE ? this.byte() === CT.TRUE : this.value(elementType))
        }
        return out
      }
      case CT.MAP: {
        const size = this.varint()
        const out: Array<ThriftValue> = []
        if (size > 0) {
          const kv = this.byte()
          for (let i = 0; i < size; i++) out.push([this.value(kv >> 4), this.value(kv & 0x0f)])
        }
        return out
      }
      case CT.STRUCT:
        return this.struct()
      default:
        return corrupt(`unknown Thrift type ${type}`)
    }
  }
  struct(): ThriftStruct {
    const out: ThriftStruct = new Map()
    let lastId = 0
    for (;;) {
      const header = this.byte()
      if (header === CT.STOP) return out
      const type = header & 0x0f
      const delta = header >> 4
      const id = delta === 0 ? this.zigzag() : lastId + delta
      lastId = id
      out.set(id, this.value(type))
    }
  }
}

class CompactWriter {
  private buf: Uint8Array
  private len = 0
  private readonly lastIds: Array<number> = []
  private lastId = 0
  constructor(capacity = 1024) {
    this.buf = new Uint8Array(capacity)
  }
  reset(): void {
    this.len = 0
    this.lastId = 0
    this.lastIds.length = 0
  }
  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n))
    next.set(this.buf.subarray(0, this.len))
    this.buf = next
  }
  private byte(b: number): void {
    this.ensure(1)
    this.buf[this.len++] = b
  }
  private varint(v: number): void {
    while (v >= 128) {
      this.byte((v % 128) | 0x80)
      v = Math.floor(v / 128)
    }
    this.byte(v)
  }
  private zigzag(v: number): void {
    this.varint(v >= 0 ? 2 * v : -2 * v - 1)
  }
  private field(type: number, id: number): void {
    const delta = id - this.lastId
    if (delta > 0 && delta <= 15) this.byte((delta << 4) | type)
    else {
      this.byte(type)
      this.zigzag(id)
    }
    this.lastId = id
  }
  int(id: number, v: number, type: number = CT.I32): this {
    this.field(type, id)
    this.zigzag(v)
    return this
  }
  long(id: number, v: number): this {
    return this.int(id, v, CT.I64)
  }
  binary(id: number, text: string): this {
    this.field(CT.BINARY, id)
    this.rawBinary(text)
    return this
  }
  private rawBinary(text: string): void {
    const b = Buffer.from(text, "utf8")
    this.varint(b.length)
    this.ensure(b.length)
    this.buf.set(b, this.len)
    this.len += b.length
  }
  private listHeader(id: number, elementType: number, size: number): void {
    this.field(CT.LIST, id)
    if (size < 15) this.byte((size << 4) | elementType)
    else {
      this.byte(0xf0 | elementType)
      this.varint(size)
    }
  }
  intList(id: number, values: ReadonlyArray<number>): this {
    this.listHeader(id, CT.I32, values.length)
    for (const v of values) this.zigzag(v)
    return this
  }
  stringList(id: number, values: ReadonlyArray<string>): this {
    this.listHeader(id, CT.BINARY, values.length)
    for (const v of values) this.rawBinary(v)
    return this
  }
  /** A struct field; `body` writes its fields. */
  struct(id: number, body: (w: this) => void): this {
    this.field(CT.STRUCT, id)
    this.structBody(body)
    return this
  }
  structList<T>(id: number, items: ReadonlyArray<T>, body: (w: this, item: T) => void): this {
    this.listHeader(id, CT.STRUCT, items.length)
    for (const item of items) this.structBody((w) => body(w, item))
    return this
  }
  private structBody(body: (w: this) => void): void {
    this.lastIds.push(this.lastId)
    this.lastId = 0
    body(this)
    this.byte(CT.STOP)
    this.lastId = this.lastIds.pop()!
  }
  /** Ends the top-level struct and returns a copy of its bytes. */
  finish(): Uint8Array {
    return this.finishView().slice()
  }
  /** Ends the top-level struct and returns its bytes, valid until the next `reset`. */
  finishView(): Uint8Array {
    this.byte(CT.STOP)
    return this.buf.subarray(0, this.len)
  }
}

const num = (s: ThriftStruct, id: number, what: string): number => {
  const v = s.get(id)
  return typeof v === "number" ? v : corrupt(`missing ${what}`)
}
const optNum = (s: ThriftStruct, id: number): number | undefined => {
  const v = s.get(id)
  return typeof v === "number" ? v : undefined
}
const struct = (s: ThriftStruct, id: number, what: string): ThriftStruct => {
  const v = s.get(id)
  return v instanceof Map ? v : corrupt(`missing ${what}`)
}
const list = (s: ThriftStruct, id: number, what: string): ThriftList => {
  const v = s.get(id)
  return Array.isArray(v) ? v : corrupt(`missing ${what}`)
}
const text = (v: ThriftValue | undefined, what: string): string =>
  v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("utf8") : corrupt(`missing ${what}`)

// ---------------------------------------------------------------------------------------------
// Snappy (raw block format)

const snappyDecompress = (src: Uint8Array): Uint8Array => {
  let p = 0
  let length = 0
  let scale = 1
  for (;;) {
    if (p >= src.length) corrupt("snappy block ends inside its length")
    const b = src[p++]!
    length += (b & 0x7f) * scale
    if ((b & 0x80) === 0) break
    scale *= 128
  }
  const out = new Uint8Array(length)
  let o = 0
  while (p < src.length) {
    const tag = src[p++]!
    const kind = tag & 3
    if (kind === 0) {
      let n = tag >>> 2
      if (n >= 60) {
        const extra = n - 59
        if (p + extra > src.length) corrupt("snappy literal length truncated")
        n = 0
        for (let k = 0; k < extra; k++) n += src[p++]! * 2 ** (8 * k)
      }
      n += 1
      if (p + n > src.length || o + n > length) corrupt("snappy literal runs past its block")
      out.set(src.subarray(p, p + n), o)
      p += n
      o += n
      continue
    }
    let n: number
    let offset: number
    if (kind === 1) {
      if (p + 1 > src.length) corrupt("snappy copy truncated")
      n = ((tag >>> 2) & 7) + 4
      offset = ((tag >>> 5) << 8) | src[p++]!
    } else if (kind === 2) {
      if (p + 2 > src.length) corrupt("snappy copy truncated")
      n = (tag >>> 2) + 1
      offset = src[p]! | (src[p + 1]! << 8)
      p += 2
    } else {
      if (p + 4 > src.length) corrupt("snappy copy truncated")
      n = (tag >>> 2) + 1
      offset = (src[p]! | (src[p + 1]! << 8) | (src[p + 2]! << 16) | (src[p + 3]! << 24)) >>> 0
      p += 4
    }
    if (offset === 0 || offset > o || o + n > length) corrupt("snappy copy points outside its block")
    if (offset >= n) out.copyWithin(o, o - offset, o - offset + n)
    else for (let k = 0; k < n; k++) out[o + k] = out[o + k - offset]!
    o += n
  }
  if (o !== length) corrupt(`snappy block decodes to ${o} bytes, its header says ${length}`)
  return out
}

const decompress = (codec: number, data: Uint8Array, uncompressedSize: number, column: string): Uint8Array => {
  let out: Uint8Array
  switch (codec) {
    case Codec.UNCOMPRESSED:
      out = data
      break
    case Codec.SNAPPY:
      out = snappyDecompress(data)
      break
    case Codec.GZIP:
      out = zlib.gunzipSync(data)
      break
    case Codec.BROTLI:
      out = zlib.brotliDecompressSync(data)
      break
    case Codec.ZSTD: {
      const zstd = (zlib as unknown as { zstdDecompressSync?: (b: Uint8Array) => Uint8Array }).zstdDecompressSync
      if (zstd === undefined) throw new Unsupported(column, "the ZSTD codec (this node has no zlib.zstdDecompressSync)")
      out = zstd(data)
      break
    }
    default:
      throw new Unsupported(column, `the ${CODEC_NAMES[codec] ?? `#${codec}`} codec`)
  }
  if (out.length !== uncompressedSize) corrupt(`page of column "${column}" decompresses to ${out.length} bytes, its header says ${uncompressedSize}`)
  return out
}

// ---------------------------------------------------------------------------------------------
// RLE / bit-packed hybrid

/** Decodes `count` values of `bitWidth` bits from `bytes[start, end)` into `out` (from 0). */
const decodeHybrid = (bytes: Uint8Array, start: number, end: number, bitWidth: number, count: number, out: Int32Array): void => {
  let p = start
  let n = 0
  const byteWidth = (bitWidth + 7) >> 3
  while (n < count) {
    let header = 0
    let scale = 1
    for (;;) {
      if (p >= end) corrupt("RLE/bit-packed run header past the end of its page")
      const b = bytes[p++]!
      header += (b & 0x7f) * scale
      if ((b & 0x80) === 0) break
      scale *= 128
    }
    if (header % 2 === 0) {
      const run = header / 2
      let value = 0
      if (p + byteWidth > end) corrupt("RLE run value past the end of its page")
      for (let k = 0; k < byteWidth; k++) value += bytes[p++]! * 2 ** (8 * k)
      const stop = Math.min(count, n + run)
      out.fill(value, n, stop)
      n = stop
    } else {
      const groups = (header - 1) / 2
      const total = groups * 8
      const runBytes = groups * bitWidth
      if (p + runBytes > end) corrupt("bit-packed run past the end of its page")
      const take = Math.min(total, count - n)
      if (bitWidth === 0) out.fill(0, n, n + take)
      else if (bitWidth <= 24) {
        const mask = (1 << bitWidth) - 1
        let acc = 0
        let bits = 0
        let q = p
        for (let i = 0; i < take; i++) {
          while (bits < bitWidth) {
            acc |= bytes[q++]! << bits
            bits += 8
          }
          out[n + i] = acc & mask
          acc >>>= bitWidth
          bits -= bitWidth
        }
      } else {
        for (let i = 0; i < take; i++) {
          let v = 0
          for (let b = 0; b < bitWidth; b++) {
            const bit = i * bitWidth + b
            if ((bytes[p + (bit >> 3)]! >> (bit & 7)) & 1) v += 2 ** b
          }
          out[n + i] = v
        }
      }
      p += runBytes
      n += take
    }
  }
}

/** Whether 1-bit definition levels start with one RLE run of 1s covering all `count` values (no NULL). */
const allDefined = (bytes: Uint8Array, start: number, end: number, count: number): boolean => {
  let p = start
  let header = 0
  let scale = 1
  for (;;) {
    if (p >= end) return false
    const b = bytes[p++]!
    header += (b & 0x7f) * scale
    if ((b & 0x80) === 0) break
    scale *= 128
  }
  return header % 2 === 0 && header / 2 >= count && p < end && bytes[p] === 1
}

// ---------------------------------------------------------------------------------------------
// Footer

export interface ParquetColumn {
  readonly name: string
  readonly physicalType: string
  readonly optional: boolean
}

interface ChunkInfo {
  readonly codec: number
  readonly numValues: number
  readonly start: number
  readonly end: number
}

export interface ParquetLayout {
  readonly rows: number
  readonly columns: ReadonlyArray<ParquetColumn>
  /** chunks[rowGroup][column] */
  readonly chunks: ReadonlyArray<ReadonlyArray<ChunkInfo>>
  readonly rowGroupRows: ReadonlyArray<number>
  readonly types: ReadonlyArray<number>
}

const parseLayout = (bytes: Uint8Array): ParquetLayout => {
  const n = bytes.length
  if (n < 2 * MAGIC_BYTES + FOOTER_LENGTH_BYTES) corrupt(`only ${n} bytes, shorter than an empty parquet file`)
  if (MAGIC.some((b, i) => bytes[i] !== b)) corrupt("does not start with PAR1")
  if (MAGIC.some((b, i) => bytes[n - MAGIC_BYTES + i] !== b)) corrupt("does not end with PAR1 (truncated?)")
  const footerLength = new DataView(bytes.buffer, bytes.byteOffset + n - MAGIC_BYTES - FOOTER_LENGTH_BYTES, 4).getUint32(0, true)
  const footerStart = n - MAGIC_BYTES - FOOTER_LENGTH_BYTES - footerLength
  if (footerStart < MAGIC_BYTES) corrupt(`footer length ${footerLength} is larger than the file`)
  const meta = new CompactReader(bytes, footerStart, n - MAGIC_BYTES - FOOTER_LENGTH_BYTES).struct()
  const rows = num(meta, F.FileMetaData.numRows, "num_rows")
  const schema = list(meta, F.FileMetaData.schema, "schema").map((e) => (e instanceof Map ? e : corrupt("schema element is not a struct")))
  const root = schema[0] ?? corrupt("empty schema")
  const nLeaves = optNum(root, F.SchemaElement.numChildren) ?? 0
  if (schema.length !== nLeaves + 1) throw new Unsupported(text(schema[1]?.get(F.SchemaElement.name), "column name"), "a nested schema")
  const columns: Array<ParquetColumn> = []
  const types: Array<number> = []
  for (const el of schema.slice(1)) {
    const name = text(el.get(F.SchemaElement.name), "column name")
    if ((optNum(el, F.SchemaElement.numChildren) ?? 0) > 0) throw new Unsupported(name, "a nested (group) column")
    const type = num(el, F.SchemaElement.type, `type of column "${name}"`)
    const repetition = optNum(el, F.SchemaElement.repetition) ?? Repetition.REQUIRED
    if (repetition === Repetition.REPEATED) throw new Unsupported(name, "a repeated column")
    columns.push({ name, physicalType: PHYSICAL_NAMES[type] ?? `#${type}`, optional: repetition === Repetition.OPTIONAL })
    types.push(type)
  }
  const chunks: Array<Array<ChunkInfo>> = []
  const rowGroupRows: Array<number> = []
  for (const rg of list(meta, F.FileMetaData.rowGroups, "row_groups")) {
    if (!(rg instanceof Map)) corrupt("row group is not a struct")
    const group = rg as ThriftStruct
    rowGroupRows.push(num(group, F.RowGroup.numRows, "row group num_rows"))
    const cols = list(group, F.RowGroup.columns, "row group columns")
    if (cols.length !== columns.length) corrupt(`a row group has ${cols.length} column chunks for ${columns.length} columns`)
    chunks.push(
      cols.map((c, j) => {
        if (!(c instanceof Map)) return corrupt("column chunk is not a struct")
        const md = struct(c as ThriftStruct, F.ColumnChunk.metaData, `metadata of column "${columns[j]!.name}"`)
        const dataOffset = num(md, F.ColumnMetaData.dataPageOffset, "data_page_offset")
        const dictOffset = optNum(md, F.ColumnMetaData.dictionaryPageOffset)
        const start = dictOffset !== undefined && dictOffset > 0 && dictOffset < dataOffset ? dictOffset : dataOffset
        const size = num(md, F.ColumnMetaData.compressedSize, "total_compressed_size")
        if (start < MAGIC_BYTES || start + size > footerStart) corrupt(`column "${columns[j]!.name}" lies outside the file's data (truncated?)`)
        return { codec: num(md, F.ColumnMetaData.codec, "codec"), numValues: num(md, F.ColumnMetaData.numValues, "num_values"), start, end: start + size }
      }),
    )
  }
  const total = rowGroupRows.reduce((a, b) => a + b, 0)
  if (total !== rows) corrupt(`row groups hold ${total} rows, the footer says ${rows}`)
  return { rows, columns, chunks, rowGroupRows, types }
}

// ---------------------------------------------------------------------------------------------
// Column decoding

type Target = Float32Array | Float64Array

/** PLAIN-decodes `count` values of `type` from `bytes[p...]` into `out[o...]`. */
const decodePlain = (type: number, bytes: Uint8Array, p: number, count: number, out: Target, o: number): void => {
  const width = BYTE_WIDTH[type]!
  if (p + count * width > bytes.length) corrupt("values run past the end of their page")
  if (type === PhysicalType.FLOAT && out instanceof Float32Array && isLittleEndianHost) {
    new Uint8Array(out.buffer, out.byteOffset + o * 4, count * 4).set(bytes.subarray(p, p + count * 4))
    return
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + p, count * width)
  switch (type) {
    case PhysicalType.FLOAT:
      for (let i = 0; i < count; i++) out[o + i] = view.getFloat32(i * 4, true)
      break
    case PhysicalType.DOUBLE:
      for (let i = 0; i < count; i++) out[o + i] = view.getFloat64(i * 8, true)
      break
    case PhysicalType.INT32:
      for (let i = 0; i < count; i++) out[o + i] = view.getInt32(i * 4, true)
      break
    default:
      for (let i = 0; i < count; i++) out[o + i] = view.getUint32(i * 8, true) + view.getInt32(i * 8 + 4, true) * TWO_32
  }
}

/** BYTE_STREAM_SPLIT: byte k of value i is at k * count + i. */
const decodeByteStreamSplit = (type: number, bytes: Uint8Array, p: number, count: number, out: Target, o: number): void => {
  const width = BYTE_WIDTH[type]!
  if (p + count * width > bytes.length) corrupt("values run past the end of their page")
  const joined = new Uint8Array(count * width)
  for (let k = 0; k < width; k++) {
    const stream = p + k * count
    for (let i = 0; i < count; i++) joined[i * width + k] = bytes[stream + i]!
  }
  decodePlain(type, joined, 0, count, out, o)
}

/**
 * Decodes column `j` (all row groups) into `out[offset, offset + rows)`; NULL cells become `nullValue`.
 */
const decodeColumn = (bytes: Uint8Array, layout: ParquetLayout, j: number, out: Target, offset: number, nullValue: number): void => {
  const column = layout.columns[j]!
  const type = layout.types[j]!
  if (BYTE_WIDTH[type] === undefined) throw new Unsupported(column.name, `physical type ${column.physicalType}`)
  let o = offset
  for (let g = 0; g < layout.chunks.length; g++) {
    const chunk = layout.chunks[g]![j]!
    const groupEnd = o + layout.rowGroupRows[g]!
    let dictionary: Float64Array | undefined
    let p = chunk.start
    let seen = 0
    while (seen < chunk.numValues) {
      if (p >= chunk.end) corrupt(`column "${column.name}" ends after ${seen} of its ${chunk.numValues} values`)
      const reader = new CompactReader(bytes, p, chunk.end)
      const header = reader.struct()
      p = reader.pos
      const pageType = num(header, F.PageHeader.type, "page type")
      const compressedSize = num(header, F.PageHeader.compressedSize, "compressed_page_size")
      const uncompressedSize = num(header, F.PageHeader.uncompressedSize, "uncompressed_page_size")
      if (p + compressedSize > chunk.end) corrupt(`a page of column "${column.name}" runs past its column chunk (truncated?)`)
      const raw = bytes.subarray(p, p + compressedSize)
      p += compressedSize
      if (pageType === PageType.INDEX_PAGE) continue
      if (pageType === PageType.DICTIONARY_PAGE) {
        const dh = struct(header, F.PageHeader.dictionaryPage, "dictionary_page_header")
        const enc = num(dh, F.DictionaryPageHeader.encoding, "dictionary encoding")
        if (enc !== Encoding.PLAIN && enc !== Encoding.PLAIN_DICTIONARY) throw new Unsupported(column.name, `a ${ENCODING_NAMES[enc] ?? enc} dictionary`)
        const page = decompress(chunk.codec, raw, uncompressedSize, column.name)
        const n = num(dh, F.DictionaryPageHeader.numValues, "dictionary num_values")
        dictionary = new Float64Array(n)
        decodePlain(type, page, 0, n, dictionary, 0)
        continue
      }
      let numValues: number
      let encoding: number
      let page: Uint8Array
      let defStart: number
      let defEnd: number
      let valuesStart: number
      if (pageType === PageType.DATA_PAGE) {
        const dh = struct(header, F.PageHeader.dataPage, "data_page_header")
        numValues = num(dh, F.DataPageHeader.numValues, "num_values")
        encoding = num(dh, F.DataPageHeader.encoding, "encoding")
        page = decompress(chunk.codec, raw, uncompressedSize, column.name)
        defStart = 0
        defEnd = 0
        valuesStart = 0
        if (column.optional) {
          if (num(dh, F.DataPageHeader.defEncoding, "definition_level_encoding") !== Encoding.RLE) throw new Unsupported(column.name, "BIT_PACKED definition levels")
          if (page.length < 4) corrupt(`a page of column "${column.name}" is shorter than its level length`)
          const len = new DataView(page.buffer, page.byteOffset, 4).getUint32(0, true)
          defStart = 4
          defEnd = 4 + len
          valuesStart = defEnd
          if (defEnd > page.length) corrupt(`definition levels of column "${column.name}" run past their page`)
        }
      } else if (pageType === PageType.DATA_PAGE_V2) {
        const dh = struct(header, F.PageHeader.dataPageV2, "data_page_header_v2")
        numValues = num(dh, F.DataPageHeaderV2.numValues, "num_values")
        encoding = num(dh, F.DataPageHeaderV2.encoding, "encoding")
        const defLength = num(dh, F.DataPageHeaderV2.defLength, "definition_levels_byte_length")
        const repLength = num(dh, F.DataPageHeaderV2.repLength, "repetition_levels_byte_length")
        const compressed = dh.get(F.DataPageHeaderV2.isCompressed) !== false
        const levels = repLength + defLength
        if (levels > raw.length) corrupt(`levels of column "${column.name}" run past their page`)
        const values = compressed ? decompress(chunk.codec, raw.subarray(levels), uncompressedSize - levels, column.name) : raw.subarray(levels)
        page = new Uint8Array(levels + values.length)
        page.set(raw.subarray(0, levels), 0)
        page.set(values, levels)
        defStart = repLength
        defEnd = levels
        valuesStart = levels
      } else {
        return corrupt(`unknown page type ${pageType} in column "${column.name}"`)
      }
      if (seen + numValues > chunk.numValues || o + numValues > groupEnd) corrupt(`column "${column.name}" has more values than rows`)

      let present = numValues
      let defs: Int32Array | undefined
      if (column.optional && !allDefined(page, defStart, defEnd, numValues)) {
        defs = new Int32Array(numValues)
        decodeHybrid(page, defStart, defEnd, 1, numValues, defs)
        present = 0
        for (let i = 0; i < numValues; i++) present += defs[i]!
      }
      // Decode the present values densely, then spread them over the rows when some are NULL.
      const dense: Target = present === numValues ? out : out instanceof Float32Array ? new Float32Array(present) : new Float64Array(present)
      const denseOffset = present === numValues ? o : 0
      if (encoding === Encoding.PLAIN) decodePlain(type, page, valuesStart, present, dense, denseOffset)
      else if (encoding === Encoding.BYTE_STREAM_SPLIT) decodeByteStreamSplit(type, page, valuesStart, present, dense, denseOffset)
      else if (encoding === Encoding.PLAIN_DICTIONARY || encoding === Encoding.RLE_DICTIONARY) {
        if (dictionary === undefined) corrupt(`column "${column.name}" uses a dictionary it does not have`)
        const dict = dictionary!
        if (valuesStart >= page.length && present > 0) corrupt(`column "${column.name}" page ends before its dictionary indices`)
        const bitWidth = page[valuesStart] ?? 0
        const idx = new Int32Array(present)
        decodeHybrid(page, valuesStart + 1, page.length, bitWidth, present, idx)
        for (let i = 0; i < present; i++) {
          const k = idx[i]!
          if (k >= dict.length) corrupt(`column "${column.name}" refers to dictionary entry ${k} of ${dict.length}`)
          dense[denseOffset + i] = dict[k]!
        }
      } else throw new Unsupported(column.name, `the ${ENCODING_NAMES[encoding] ?? `#${encoding}`} encoding`)
      if (defs !== undefined && present !== numValues) {
        let k = 0
        for (let i = 0; i < numValues; i++) out[o + i] = defs[i] === 1 ? dense[k++]! : nullValue
      }
      o += numValues
      seen += numValues
    }
    if (o !== groupEnd) corrupt(`column "${column.name}" holds ${o - (groupEnd - layout.rowGroupRows[g]!)} values in a row group of ${layout.rowGroupRows[g]} rows`)
  }
}

const mapFailure =
  (file: string) =>
  (e: unknown): ParquetCorrupt | ParquetUnsupported => {
    if (e instanceof Corrupt) return new ParquetCorrupt({ file, reason: e.reason })
    if (e instanceof Unsupported) return new ParquetUnsupported({ file, column: e.column, feature: e.feature })
    throw e
  }

const attempt = <A>(file: string, f: () => A): Either.Either<A, ParquetCorrupt | ParquetUnsupported> => {
  try {
    return Either.right(f())
  } catch (e) {
    // Anything other than this module's two failure classes is a defect and is rethrown.
    return Either.left(mapFailure(file)(e))
  }
}

/** The columns and row count of a parquet file, from its footer. */
export const parquetSchema = (bytes: Uint8Array, file: string): Either.Either<{ rows: number; columns: ReadonlyArray<ParquetColumn> }, ParquetCorrupt | ParquetUnsupported> =>
  attempt(file, () => {
    const { rows, columns } = parseLayout(bytes)
    return { rows, columns }
  })

/** Every column of a flat numeric parquet file as float64 (NULL cells become NaN), by name. */
export const decodeParquetColumns = (
  bytes: Uint8Array,
  file: string,
): Either.Either<{ rows: number; columns: ReadonlyArray<ParquetColumn>; values: ReadonlyArray<Float64Array> }, ParquetCorrupt | ParquetUnsupported> =>
  attempt(file, () => {
    const layout = parseLayout(bytes)
    const values = layout.columns.map((_, j) => {
      const out = new Float64Array(layout.rows)
      decodeColumn(bytes, layout, j, out, 0, NaN)
      return out
    })
    return { rows: layout.rows, columns: layout.columns, values }
  })

// ---------------------------------------------------------------------------------------------
// Column-major float32 tables: an index column (e.g. `time`) followed by float value columns.

export interface ColumnMajorTable {
  /** The value columns' names, in file order (the index column excluded). */
  readonly columns: ReadonlyArray<string>
  readonly rows: number
  /** Column-major: column j's `rows` values at [j * rows, (j + 1) * rows), i.e. a C-order (columns, rows) matrix. */
  readonly data: Float32Array
  /** The index column's values. */
  readonly index: Float64Array
}

export interface ColumnMajorOptions {
  /** The name the first column must have; it is returned in `index`, not in `data`. */
  readonly indexColumn: string
  /** What NULL and NaN value cells become (pandas' `fillna`). */
  readonly missingValue: number
}

const INDEX_TYPES = new Set<number>([PhysicalType.INT32, PhysicalType.INT64, PhysicalType.FLOAT, PhysicalType.DOUBLE])
const VALUE_TYPES = new Set<number>([PhysicalType.FLOAT, PhysicalType.DOUBLE])

/** Decodes a parquet file's bytes into a `ColumnMajorTable`. */
export const decodeParquetColumnMajor = (
  bytes: Uint8Array,
  file: string,
  options: ColumnMajorOptions,
): Either.Either<ColumnMajorTable, ParquetCorrupt | ParquetUnsupported | ParquetSchemaMismatch> =>
  Either.flatMap(
    attempt(file, () => parseLayout(bytes)),
    (layout): Either.Either<ColumnMajorTable, ParquetCorrupt | ParquetUnsupported | ParquetSchemaMismatch> => {
      const first = layout.columns[0]
      if (first === undefined || first.name !== options.indexColumn) {
        return Either.left(new ParquetSchemaMismatch({ file, column: first?.name ?? "(none)", reason: `the first column must be "${options.indexColumn}"` }))
      }
      if (!INDEX_TYPES.has(layout.types[0]!)) {
        return Either.left(new ParquetSchemaMismatch({ file, column: first.name, reason: `is ${first.physicalType}, expected an integer or float type` }))
      }
      for (let j = 1; j < layout.columns.length; j++) {
        if (!VALUE_TYPES.has(layout.types[j]!)) {
          const c = layout.columns[j]!
          return Either.left(new ParquetSchemaMismatch({ file, column: c.name, reason: `is ${c.physicalType}, expected FLOAT or DOUBLE` }))
        }
      }
      return attempt(file, () => {
        const rows = layout.rows
        const nValues = layout.columns.length - 1
        const data = new Float32Array(nValues * rows)
        const index = new Float64Array(rows)
        decodeColumn(bytes, layout, 0, index, 0, NaN)
        const missing = options.missingValue
        for (let j = 0; j < nValues; j++) {
          const base = j * rows
          decodeColumn(bytes, layout, j + 1, data, base, missing)
          for (let i = base; i < base + rows; i++) if (data[i] !== data[i]) data[i] = missing
        }
        return { columns: layout.columns.slice(1).map((c) => c.name), rows, data, index }
      })
    },
  )

const readBytes = (file: string): Effect.Effect<Uint8Array, FileReadFailed> =>
  Effect.tryPromise({
    try: () => readFile(file),
    catch: (cause) => new FileReadFailed({ file, reason: describeCause(cause) }),
  })

/** Reads a parquet file into a `ColumnMajorTable` with the native decoder. */
export const readParquetColumnMajor = (
  file: string,
  options: ColumnMajorOptions,
): Effect.Effect<ColumnMajorTable, FileReadFailed | ParquetCorrupt | ParquetUnsupported | ParquetSchemaMismatch> =>
  Effect.flatMap(readBytes(file), (bytes) => decodeParquetColumnMajor(bytes, file, options))

// ---------------------------------------------------------------------------------------------
// Writer

export interface ParquetColumnData {
  readonly name: string
  readonly type: NumericPhysicalType
  /** `rows` values; integers for INT32 / INT64. */
  readonly values: ArrayLike<number>
}

export interface ParquetWriteOptions {
  /** Store NaN cells of FLOAT / DOUBLE columns as NULL, as pyarrow does for a pandas frame. */
  readonly nanAsNull: boolean
}

const CREATED_BY = "cairn parquet writer"
const FORMAT_VERSION = 1

/** Encodes columns of equal length as a parquet file (one row group, PLAIN, uncompressed, OPTIONAL columns). */
export const encodeParquet = (columns: ReadonlyArray<ParquetColumnData>, options: ParquetWriteOptions): Uint8Array => {
  const rows = columns[0]?.values.length ?? 0
  // First pass: NULL counts and definition levels, to size the output once.
  const plans = columns.map((column) => {
    if (column.values.length !== rows) throw new RangeError(`column "${column.name}" has ${column.values.length} values, the first has ${rows}`)
    const type = PhysicalType[column.type]
    const values = column.values
    let nulls = 0
    if (options.nanAsNull && (type === PhysicalType.FLOAT || type === PhysicalType.DOUBLE)) for (let i = 0; i < rows; i++) if (values[i] !== values[i]) nulls++
    // Definition levels: one RLE run of 1s, or bit-packed groups when some cells are NULL.
    const levels = new VarintBytes()
    if (nulls === 0) {
      levels.varint(rows * 2)
      levels.byte(1)
    } else {
      const groups = Math.ceil(rows / 8)
      levels.varint(groups * 2 + 1)
      const bits = new Uint8Array(groups)
      for (let i = 0; i < rows; i++) if (values[i] === values[i]) bits[i >> 3]! |= 1 << (i & 7)
      levels.append(bits)
    }
    return { column, type, nulls, levels: levels.bytes() }
  })
  let capacity = MAGIC_BYTES
  for (const p of plans) capacity += PAGE_HEADER_MAX_BYTES + 4 + p.levels.length + (rows - p.nulls) * BYTE_WIDTH[p.type]!
  const out = new Uint8Array(capacity)
  const view = new DataView(out.buffer)
  out.set(MAGIC, 0)
  let offset = MAGIC_BYTES
  const metas: Array<{ name: string; type: number; dataOffset: number; size: number }> = []
  const header = new CompactWriter(PAGE_HEADER_MAX_BYTES)
  for (const { column, type, nulls, levels } of plans) {
    const width = BYTE_WIDTH[type]!
    const bodyLength = 4 + levels.length + (rows - nulls) * width
    header.reset()
    const headerBytes = header
      .int(F.PageHeader.type, PageType.DATA_PAGE)
      .int(F.PageHeader.uncompressedSize, bodyLength)
      .int(F.PageHeader.compressedSize, bodyLength)
      .struct(F.PageHeader.dataPage, (w) =>
        w
          .int(F.DataPageHeader.numValues, rows)
          .int(F.DataPageHeader.encoding, Encoding.PLAIN)
          .int(F.DataPageHeader.defEncoding, Encoding.RLE)
          .int(F.DataPageHeader.repEncoding, Encoding.RLE),
      )
      .finishView()
    const start = offset
    out.set(headerBytes, offset)
    offset += headerBytes.length
    view.setUint32(offset, levels.length, true)
    out.set(levels, offset + 4)
    let q = offset + 4 + levels.length
    const values = column.values
    if (type === PhysicalType.FLOAT && nulls === 0 && values instanceof Float32Array && isLittleEndianHost) {
      out.set(new Uint8Array(values.buffer, values.byteOffset, rows * 4), q)
      q += rows * 4
    } else {
      for (let i = 0; i < rows; i++) {
        const v = values[i]!
        if (nulls > 0 && v !== v) continue
        switch (type) {
          case PhysicalType.FLOAT:
            view.setFloat32(q, v, true)
            break
          case PhysicalType.DOUBLE:
            view.setFloat64(q, v, true)
            break
          case PhysicalType.INT32:
            view.setInt32(q, v, true)
            break
          default: {
            if (!Number.isSafeInteger(v)) throw new RangeError(`INT64 column "${column.name}" row ${i} holds ${v}, not a safe integer`)
            const hi = Math.floor(v / TWO_32)
            view.setUint32(q, v - hi * TWO_32, true)
            view.setInt32(q + 4, hi, true)
          }
        }
        q += width
      }
    }
    offset = q
    metas.push({ name: column.name, type, dataOffset: start, size: offset - start })
  }
  const footer = new CompactWriter()
    .int(F.FileMetaData.version, FORMAT_VERSION)
    .structList(F.FileMetaData.schema, [undefined, ...metas], (w, m) => {
      if (m === undefined) w.binary(F.SchemaElement.name, "schema").int(F.SchemaElement.numChildren, metas.length)
      else w.int(F.SchemaElement.type, m.type).int(F.SchemaElement.repetition, Repetition.OPTIONAL).binary(F.SchemaElement.name, m.name)
    })
    .long(F.FileMetaData.numRows, rows)
    .structList(F.FileMetaData.rowGroups, [metas], (w, ms) =>
      w
        .structList(F.RowGroup.columns, ms, (cw, m) =>
          cw.long(F.ColumnChunk.fileOffset, m.dataOffset).struct(F.ColumnChunk.metaData, (mw) =>
            mw
              .int(F.ColumnMetaData.type, m.type)
              .intList(F.ColumnMetaData.encodings, [Encoding.PLAIN, Encoding.RLE])
              .stringList(F.ColumnMetaData.path, [m.name])
              .int(F.ColumnMetaData.codec, Codec.UNCOMPRESSED)
              .long(F.ColumnMetaData.numValues, rows)
              .long(F.ColumnMetaData.uncompressedSize, m.size)
              .long(F.ColumnMetaData.compressedSize, m.size)
              .long(F.ColumnMetaData.dataPageOffset, m.dataOffset),
          ),
        )
        .long(F.RowGroup.totalByteSize, ms.reduce((a, m) => a + m.size, 0))
        .long(F.RowGroup.numRows, rows),
    )
    .binary(F.FileMetaData.createdBy, CREATED_BY)
    .finish()
  const file = new Uint8Array(offset + footer.length + FOOTER_LENGTH_BYTES + MAGIC_BYTES)
  file.set(out.subarray(0, offset), 0)
  file.set(footer, offset)
  new DataView(file.buffer).setUint32(offset + footer.length, footer.length, true)
  file.set(MAGIC, offset + footer.length + FOOTER_LENGTH_BYTES)
  return file
}

/** A data page header (PageHeader + DataPageHeader of five small ints) fits in this many bytes. */
const PAGE_HEADER_MAX_BYTES = 64

class VarintBytes {
  private readonly out: Array<number> = []
  varint(v: number): void {
    while (v >= 128) {
      this.out.push((v % 128) | 0x80)
      v = Math.floor(v / 128)
    }
    this.out.push(v)
  }
  byte(b: number): void {
    this.out.push(b)
  }
  append(bytes: Uint8Array): void {
    for (const b of bytes) this.out.push(b)
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.out)
  }
}

export interface ColumnMajorWrite {
  readonly indexColumn: string
  /** Index values; written as INT64 when all are safe integers, else as DOUBLE. */
  readonly index: ArrayLike<number>
  readonly columns: ReadonlyArray<string>
  readonly rows: number
  /** Column-major float32 values, `columns.length * rows` of them. */
  readonly data: Float32Array
}

/** The parquet bytes of an index column followed by float32 value columns taken from column-major data. */
export const encodeParquetColumnMajor = (table: ColumnMajorWrite, options: ParquetWriteOptions): Uint8Array => {
  const { rows, data } = table
  if (data.length !== table.columns.length * rows) throw new RangeError(`${table.columns.length} columns of ${rows} rows need ${table.columns.length * rows} values, data has ${data.length}`)
  let integral = true
  for (let i = 0; i < rows; i++) if (!Number.isSafeInteger(table.index[i])) integral = false
  return encodeParquet(
    [
      { name: table.indexColumn, type: integral ? "INT64" : "DOUBLE", values: table.index },
      ...table.columns.map((name, j): ParquetColumnData => ({ name, type: "FLOAT", values: data.subarray(j * rows, (j + 1) * rows) })),
    ],
    options,
  )
}

/** Writes a column-major float32 table as a parquet file with the native writer. */
export const writeParquetColumnMajor = (file: string, table: ColumnMajorWrite, options: ParquetWriteOptions): Effect.Effect<void, FileWriteFailed> =>
  Effect.tryPromise({
    try: () => writeFile(file, encodeParquetColumnMajor(table, options)),
    catch: (cause) => new FileWriteFailed({ file, reason: describeCause(cause) }),
  })
