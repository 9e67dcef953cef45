/** The RLE / bit-packed hybrid encoding of parquet's definition levels and dictionary indices. */
import { corrupt } from "./failure.js"

/** Decodes `count` values of `bitWidth` bits from `bytes[start, end)` into `out` (from 0). */
export const decodeHybrid = (bytes: Uint8Array, start: number, end: number, bitWidth: number, count: number, out: Int32Array): void => {
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
export const allDefined = (bytes: Uint8Array, start: number, end: number, count: number): boolean => {
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

/** A growable byte buffer with unsigned varints. */
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

/**
 * 1-bit definition levels of `rows` values in the RLE / bit-packed hybrid: one RLE run of 1s when
 * `nulls` is 0, else bit-packed groups of 8 with bit i set where `isDefined(i)`.
 */
export const encodeDefinitionLevels = (rows: number, nulls: number, isDefined: (i: number) => boolean): Uint8Array => {
  const levels = new VarintBytes()
  if (nulls === 0) {
    levels.varint(rows * 2)
    levels.byte(1)
  } else {
    const groups = Math.ceil(rows / 8)
    levels.varint(groups * 2 + 1)
    const bits = new Uint8Array(groups)
    for (let i = 0; i < rows; i++) if (isDefined(i)) bits[i >> 3]! |= 1 << (i & 7)
    levels.append(bits)
  }
  return levels.bytes()
}
