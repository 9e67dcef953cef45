/** Decoding one column of a flat numeric parquet file, over all its row groups and pages, into a typed array. */
import { decompress } from "./compression.js"
import { corrupt, Unsupported } from "./failure.js"
import { BYTE_WIDTH, Encoding, ENCODING_NAMES, F, isLittleEndianHost, PageType, PhysicalType, TWO_32 } from "./format.js"
import type { ParquetLayout } from "./layout.js"
import { allDefined, decodeHybrid } from "./rle.js"
import { CompactReader, num, struct } from "./thrift.js"

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
export const decodeColumn = (bytes: Uint8Array, layout: ParquetLayout, j: number, out: Target, offset: number, nullValue: number): void => {
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
          if (num(dh, F.DataPageHeader.defEncoding, "definition_level_encoding") !== Encoding.RLE)
            throw new Unsupported(column.name, "BIT_PACKED definition levels")
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
        corrupt(`unknown page type ${pageType} in column "${column.name}"`)
        return
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
    if (o !== groupEnd)
      corrupt(`column "${column.name}" holds ${o - (groupEnd - layout.rowGroupRows[g]!)} values in a row group of ${layout.rowGroupRows[g]} rows`)
  }
}
