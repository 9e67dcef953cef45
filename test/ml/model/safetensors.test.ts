import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import {
  bf16ToFloat,
  float32ToHalfBits,
  halfToFloat,
  parseSafetensors,
  readSafetensors,
  type SafetensorsInput,
  serializeSafetensors,
  tensorToBigInt64,
  tensorToFloat32,
  writeSafetensors,
} from "../../../src/ml/model/safetensors.js"

// test/fixtures/ml/tiny-torch.safetensors is written by test/golden/gen_safetensors.py with
// safetensors.torch.save_file; every value is seq(n)[i] = float32(((i * 7919) % 1000 - 500) / 37).
const FIXTURE = new URL("../../fixtures/ml/tiny-torch.safetensors", import.meta.url)

const seq = (n: number): Float32Array => {
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) out[i] = (((i * 7919) % 1000) - 500) / 37
  return out
}

const ok = <A, E>(e: Either.Either<A, E>): A => {
  if (Either.isLeft(e)) throw new Error(`unexpected Left: ${String((e.left as { message?: string }).message)}`)
  return e.right
}

/** The fixture's state dict, built independently here. */
const tinyState = (): Array<SafetensorsInput> => [
  { name: "conv1.0.weight", dtype: "F32", shape: [4, 1, 3, 3], data: seq(36) },
  { name: "bn1.weight", dtype: "F32", shape: [4], data: seq(4).map((v) => v + 1) },
  { name: "bn1.running_mean", dtype: "F32", shape: [4], data: seq(4).map((v) => v * 0.5) },
  { name: "bn1.num_batches_tracked", dtype: "I64", shape: [], data: BigInt64Array.of(1234567890123n) },
  { name: "fc.weight", dtype: "F32", shape: [6, 4], data: seq(24) },
  { name: "fc.bias", dtype: "F32", shape: [6], data: seq(6) },
  { name: "half.weight", dtype: "F16", shape: [300], data: float32ToHalfBits(seq(300), "F16") },
  { name: "bf.weight", dtype: "BF16", shape: [300], data: float32ToHalfBits(seq(300), "BF16") },
  {
    name: "f64.weight",
    dtype: "F64",
    shape: [5],
    data: Float64Array.from({ length: 5 }, (_, i) => (((i * 7919) % 1000) - 500) / 37),
  },
  { name: "idx.i32", dtype: "I32", shape: [3], data: Int32Array.of(-3, 0, 7) },
]

describe("safetensors", () => {
  const fixture = new Uint8Array(fs.readFileSync(FIXTURE))

  it("reads a file written by safetensors.torch", () => {
    const file = ok(parseSafetensors(fixture, "tiny-torch.safetensors"))
    expect(file.metadata).toEqual({ format: "pt" })
    expect([...file.tensors.keys()].sort()).toEqual(
      tinyState()
        .map((t) => t.name)
        .sort(),
    )
    const conv = file.tensors.get("conv1.0.weight")!
    expect(conv.dtype).toBe("F32")
    expect(conv.shape).toEqual([4, 1, 3, 3])
    expect(Array.from(tensorToFloat32(conv))).toEqual(Array.from(seq(36)))
    const counter = file.tensors.get("bn1.num_batches_tracked")!
    expect(counter.shape).toEqual([])
    expect(Array.from(tensorToBigInt64(counter)!)).toEqual([1234567890123n])
    expect(tensorToBigInt64(conv)).toBeUndefined()
    // half precision: what torch's rounding kept, read back as floats
    const half = tensorToFloat32(file.tensors.get("half.weight")!)
    const bf = tensorToFloat32(file.tensors.get("bf.weight")!)
    const ref = seq(300)
    for (let i = 0; i < 300; i++) {
      expect(Math.abs(half[i]! - ref[i]!)).toBeLessThanOrEqual(Math.abs(ref[i]!) * 2 ** -11 + 2 ** -25)
      expect(Math.abs(bf[i]! - ref[i]!)).toBeLessThanOrEqual(Math.abs(ref[i]!) * 2 ** -8)
    }
    expect(Array.from(tensorToFloat32(file.tensors.get("idx.i32")!))).toEqual([-3, 0, 7])
    expect(Array.from(tensorToFloat32(file.tensors.get("f64.weight")!))).toEqual(Array.from(seq(5)))
  })

  it("writes byte-for-byte what safetensors.torch writes (order, header, padding, F16/BF16 rounding)", () => {
    const bytes = ok(serializeSafetensors(tinyState(), { format: "pt" }))
    expect(bytes.length).toBe(fixture.length)
    expect(Buffer.from(bytes).equals(Buffer.from(fixture))).toBe(true)
    // and the input order does not matter
    const reversed = ok(serializeSafetensors(tinyState().reverse(), { format: "pt" }))
    expect(Buffer.from(reversed).equals(Buffer.from(fixture))).toBe(true)
  })

  it("round-trips through a file", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-st-"))
    const file = path.join(dir, "sub", "x.safetensors")
    await Effect.runPromise(writeSafetensors(file, tinyState()))
    const back = await Effect.runPromise(readSafetensors(file))
    expect(back.metadata).toBeUndefined()
    for (const t of tinyState()) {
      const got = back.tensors.get(t.name)!
      expect(got.dtype).toBe(t.dtype)
      expect(got.shape).toEqual(t.shape)
      expect(Buffer.from(got.bytes).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))).toBe(true)
    }
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it("converts half and bfloat16 bits like IEEE / torch", () => {
    expect(halfToFloat(0x3c00)).toBe(1)
    expect(halfToFloat(0xc000)).toBe(-2)
    expect(halfToFloat(0x0001)).toBe(2 ** -24)
    expect(halfToFloat(0x7c00)).toBe(Infinity)
    expect(Number.isNaN(halfToFloat(0x7e00))).toBe(true)
    expect(Array.from(float32ToHalfBits(Float32Array.of(65504, 65520, 1e-8, 2 ** -24, -0), "F16"))).toEqual([0x7bff, 0x7c00, 0, 1, 0x8000])
    expect(bf16ToFloat(0x3f80)).toBe(1)
    // 1 + 2^-8 is a tie between bf16 1 and 1 + 2^-7: round to even (1)
    expect(Array.from(float32ToHalfBits(Float32Array.of(1 + 2 ** -8, 1 + 3 * 2 ** -8), "BF16"))).toEqual([0x3f80, 0x3f82])
  })

  it("rejects malformed files with a tagged error naming the file and tensor", () => {
    const bad = (bytes: Uint8Array): string => {
      const r = parseSafetensors(bytes, "bad.safetensors")
      if (Either.isRight(r)) throw new Error("expected a Left")
      expect(r.left._tag).toBe("SafetensorsError")
      return r.left.message
    }
    const make = (header: string, data: Uint8Array = new Uint8Array(0)): Uint8Array => {
      const h = Buffer.from(header)
      const out = new Uint8Array(8 + h.length + data.length)
      new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true)
      out.set(h, 8)
      out.set(data, 8 + h.length)
      return out
    }
    expect(bad(new Uint8Array(4))).toMatch(/bad\.safetensors: 4 bytes/)
    expect(bad(make("{not json"))).toMatch(/not UTF-8 JSON/)
    expect(bad(make('{"w":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}}', new Uint8Array(1)))).toMatch(/tensor w: unsupported dtype "F8"/)
    expect(bad(make('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', new Uint8Array(4)))).toMatch(/tensor w: .*needs 8/)
    expect(bad(make('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Uint8Array(8)))).toMatch(
      /expected 0/,
    )
    expect(bad(make('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', new Uint8Array(8)))).toMatch(/cover 4 bytes of a 8-byte/)
    const dup = serializeSafetensors([
      { name: "a", dtype: "F32", shape: [1], data: new Float32Array(1) },
      { name: "a", dtype: "F32", shape: [1], data: new Float32Array(1) },
    ])
    expect(Either.isLeft(dup) && dup.left.message).toMatch(/tensor a: duplicate name/)
  })
})
