/**
 * The native parquet writer: what pandas/pyarrow would emit for a flat numeric frame. Every column
 * OPTIONAL, one row group, one PLAIN data page (v1) per column, uncompressed, NaN cells optionally
 * stored as NULLs. pyarrow and DuckDB read its files.
 */
import { Effect } from "effect"
import { writeFile } from "node:fs/promises"
import { describeError, FileWriteFailed } from "../data-errors.js"
import type { ColumnMajorWrite } from "./column-major.js"
import {
  BYTE_WIDTH,
  Codec,
  Encoding,
  F,
  FOOTER_LENGTH_BYTES,
  isLittleEndianHost,
  MAGIC,
  MAGIC_BYTES,
  PageType,
  PhysicalType,
  Repetition,
  TWO_32,
  type NumericPhysicalType,
} from "./format.js"
import { encodeDefinitionLevels } from "./rle.js"
import { CompactWriter } from "./thrift.js"

const CREATED_BY = "cairn parquet writer"
const FORMAT_VERSION = 1

/** A data page header (PageHeader + DataPageHeader of five small ints) fits in this many bytes. */
const PAGE_HEADER_MAX_BYTES = 64

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
    const levels = encodeDefinitionLevels(rows, nulls, (i) => values[i] === values[i])
    return { column, type, nulls, levels }
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
          cw
            .long(F.ColumnChunk.fileOffset, m.dataOffset)
            .struct(F.ColumnChunk.metaData, (mw) =>
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
        .long(
          F.RowGroup.totalByteSize,
          ms.reduce((a, m) => a + m.size, 0),
        )
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

/** The parquet bytes of an index column followed by float32 value columns taken from column-major data. */
export const encodeParquetColumnMajor = (table: ColumnMajorWrite, options: ParquetWriteOptions): Uint8Array => {
  const { rows, data } = table
  if (data.length !== table.columns.length * rows)
    throw new RangeError(`${table.columns.length} columns of ${rows} rows need ${table.columns.length * rows} values, data has ${data.length}`)
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
    catch: (cause) => new FileWriteFailed({ file, reason: describeError(cause) }),
  })
