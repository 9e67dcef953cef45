/** Snappy decompression (the raw block format, as parquet pages use it). */
import { corrupt } from "./failure.js"

/** The bytes a snappy block decodes to (its varint length, then literal and copy elements). */
export const snappyDecompress = (src: Uint8Array): Uint8Array => {
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
