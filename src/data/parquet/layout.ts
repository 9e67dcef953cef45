/** A parquet file's layout, from its footer: the flat schema and where each column chunk lies. */
import { corrupt, Unsupported } from "./failure.js"
import { F, FOOTER_LENGTH_BYTES, MAGIC, MAGIC_BYTES, PHYSICAL_NAMES, Repetition } from "./format.js"
import { CompactReader, list, num, optNum, struct, text, type ThriftStruct } from "./thrift.js"

export interface ParquetColumn {
  readonly name: string
  readonly physicalType: string
  readonly optional: boolean
}

export interface ChunkInfo {
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

/** The layout of a parquet file's bytes, from its magic, footer length and Thrift footer. */
export const parseLayout = (bytes: Uint8Array): ParquetLayout => {
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
