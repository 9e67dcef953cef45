/**
 * The Thrift compact protocol, as parquet's footer and page headers use it: a reader into generic
 * values (`ThriftStruct` maps field ids to values), a writer of the few value kinds the parquet
 * writer needs, and typed getters of struct fields.
 */
import { corrupt } from "./failure.js"

const CT = { STOP: 0, TRUE: 1, FALSE: 2, BYTE: 3, I16: 4, I32: 5, I64: 6, DOUBLE: 7, BINARY: 8, LIST: 9, SET: 10, MAP: 11, STRUCT: 12 } as const

export type ThriftValue = number | boolean | Uint8Array | ThriftList | ThriftStruct
export interface ThriftList extends ReadonlyArray<ThriftValue> {}
export type ThriftStruct = Map<number, ThriftValue>

export class CompactReader {
  pos: number
  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
  ) {
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

export class CompactWriter {
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

export const num = (s: ThriftStruct, id: number, what: string): number => {
  const v = s.get(id)
  return typeof v === "number" ? v : corrupt(`missing ${what}`)
}
export const optNum = (s: ThriftStruct, id: number): number | undefined => {
  const v = s.get(id)
  return typeof v === "number" ? v : undefined
}
export const struct = (s: ThriftStruct, id: number, what: string): ThriftStruct => {
  const v = s.get(id)
  return v instanceof Map ? v : corrupt(`missing ${what}`)
}
export const list = (s: ThriftStruct, id: number, what: string): ThriftList => {
  const v = s.get(id)
  return Array.isArray(v) ? v : corrupt(`missing ${what}`)
}
export const text = (v: ThriftValue | undefined, what: string): string =>
  v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("utf8") : corrupt(`missing ${what}`)
