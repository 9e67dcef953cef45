/** Decompression of a parquet page by its column chunk's codec. */
import * as zlib from "node:zlib"
import { corrupt, Unsupported } from "./failure.js"
import { Codec, CODEC_NAMES } from "./format.js"
import { snappyDecompress } from "./snappy.js"

/** `data` decompressed with `codec`; its length must be `uncompressedSize`. `column` names the page's column in errors. */
export const decompress = (codec: number, data: Uint8Array, uncompressedSize: number, column: string): Uint8Array => {
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
