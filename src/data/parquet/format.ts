/**
 * The parquet format's constants (parquet.thrift): the file magic, the enums the reader and writer
 * use, the Thrift field ids of the metadata structs, and the byte layout of numeric values.
 */

export const MAGIC = [0x50, 0x41, 0x52, 0x31] // "PAR1"
export const MAGIC_BYTES = MAGIC.length
export const FOOTER_LENGTH_BYTES = 4

export const PhysicalType = { BOOLEAN: 0, INT32: 1, INT64: 2, INT96: 3, FLOAT: 4, DOUBLE: 5, BYTE_ARRAY: 6, FIXED_LEN_BYTE_ARRAY: 7 } as const
export type NumericPhysicalType = "INT32" | "INT64" | "FLOAT" | "DOUBLE"
export const PHYSICAL_NAMES = ["BOOLEAN", "INT32", "INT64", "INT96", "FLOAT", "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"]
export const BYTE_WIDTH: Record<number, number> = { [PhysicalType.INT32]: 4, [PhysicalType.INT64]: 8, [PhysicalType.FLOAT]: 4, [PhysicalType.DOUBLE]: 8 }

export const Repetition = { REQUIRED: 0, OPTIONAL: 1, REPEATED: 2 } as const
export const Encoding = { PLAIN: 0, PLAIN_DICTIONARY: 2, RLE: 3, BIT_PACKED: 4, RLE_DICTIONARY: 8, BYTE_STREAM_SPLIT: 9 } as const
export const ENCODING_NAMES: Record<number, string> = {
  0: "PLAIN",
  2: "PLAIN_DICTIONARY",
  3: "RLE",
  4: "BIT_PACKED",
  5: "DELTA_BINARY_PACKED",
  6: "DELTA_LENGTH_BYTE_ARRAY",
  7: "DELTA_BYTE_ARRAY",
  8: "RLE_DICTIONARY",
  9: "BYTE_STREAM_SPLIT",
}
export const Codec = { UNCOMPRESSED: 0, SNAPPY: 1, GZIP: 2, LZO: 3, BROTLI: 4, LZ4: 5, ZSTD: 6, LZ4_RAW: 7 } as const
export const CODEC_NAMES = ["UNCOMPRESSED", "SNAPPY", "GZIP", "LZO", "BROTLI", "LZ4", "ZSTD", "LZ4_RAW"]
export const PageType = { DATA_PAGE: 0, INDEX_PAGE: 1, DICTIONARY_PAGE: 2, DATA_PAGE_V2: 3 } as const

// Thrift field ids of the metadata structs (parquet.thrift).
export const F = {
  FileMetaData: { version: 1, schema: 2, numRows: 3, rowGroups: 4, createdBy: 6 },
  SchemaElement: { type: 1, repetition: 3, name: 4, numChildren: 5 },
  RowGroup: { columns: 1, totalByteSize: 2, numRows: 3 },
  ColumnChunk: { fileOffset: 2, metaData: 3 },
  ColumnMetaData: {
    type: 1,
    encodings: 2,
    path: 3,
    codec: 4,
    numValues: 5,
    uncompressedSize: 6,
    compressedSize: 7,
    dataPageOffset: 9,
    dictionaryPageOffset: 11,
  },
  PageHeader: { type: 1, uncompressedSize: 2, compressedSize: 3, dataPage: 5, dictionaryPage: 7, dataPageV2: 8 },
  DataPageHeader: { numValues: 1, encoding: 2, defEncoding: 3, repEncoding: 4 },
  DictionaryPageHeader: { numValues: 1, encoding: 2 },
  DataPageHeaderV2: { numValues: 1, numNulls: 2, numRows: 3, encoding: 4, defLength: 5, repLength: 6, isCompressed: 7 },
} as const

export const isLittleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
export const TWO_32 = 4294967296
