import { Effect, Either } from "effect"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { decodeNpy, encodeNpy, npyHeader, readNpy, writeNpy } from "../../src/data/npy.js"

// Golden bytes from numpy 2.4.6 `np.save` (generator: test/golden/npy_golden.py).
const HEADER_400_300 =
  "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a20283430302c20333030292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a"
const SMALL_2_3 =
  "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c2033292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a000000000000c03f000000c0000050400000807f00000080"
const HEADER_7 =
  "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028372c292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a"
const FORTRAN_2_3 =
  "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a20547275652c20277368617065273a2028322c2033292c207d20202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a00000000000050400000c03f0000807f000000c000000080"

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex")
const fromHex = (h: string) => new Uint8Array(Buffer.from(h, "hex"))
const small = new Float32Array([0, 1.5, -2, 3.25, Infinity, -0])

const dir = mkdtempSync(join(tmpdir(), "cairn-npy-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe("npy", () => {
  it("writes numpy's header byte for byte", () => {
    expect(hex(npyHeader([400, 300]))).toBe(HEADER_400_300)
    expect(npyHeader([400, 300]).length % 64).toBe(0)
    expect(hex(npyHeader([7]))).toBe(HEADER_7)
  })

  it("writes numpy's whole file byte for byte", () => {
    expect(hex(encodeNpy(small, [2, 3]))).toBe(SMALL_2_3)
  })

  it("reads numpy's C-order and Fortran-order files", () => {
    for (const golden of [SMALL_2_3, FORTRAN_2_3]) {
      const got = Either.getOrThrow(decodeNpy(fromHex(golden), "golden.npy"))
      expect(got.shape).toEqual([2, 3])
      expect(Array.from(got.data)).toEqual(Array.from(small))
      expect(Object.is(got.data[5], -0)).toBe(true)
    }
  })

  it("round-trips through a file", async () => {
    const file = join(dir, "a.npy")
    const data = new Float32Array(400 * 300).map((_, i) => Math.fround(Math.sin(i) * 1e3))
    await Effect.runPromise(writeNpy(file, data, [400, 300]))
    expect(readFileSync(file).length).toBe(128 + 400 * 300 * 4)
    const back = await Effect.runPromise(readNpy(file))
    expect(back.shape).toEqual([400, 300])
    expect(Buffer.from(back.data.buffer).equals(Buffer.from(data.buffer))).toBe(true)
  })

  it("refuses broken files with the file name", async () => {
    const bad = (bytes: Uint8Array) => {
      const r = decodeNpy(bytes, "broken.npy")
      expect(Either.isLeft(r)).toBe(true)
      return Either.isLeft(r) ? r.left.message : ""
    }
    expect(bad(new Uint8Array([1, 2, 3]))).toMatch(/broken\.npy.*magic/)
    const full = fromHex(SMALL_2_3)
    expect(bad(full.subarray(0, full.length - 1))).toMatch(/broken\.npy.*23 data bytes.*needs 24/)
    expect(bad(full.subarray(0, 40))).toMatch(/truncated inside/)
    const f8 = fromHex(SMALL_2_3.replace(Buffer.from("<f4").toString("hex"), Buffer.from("<f8").toString("hex")))
    expect(bad(f8)).toMatch(/dtype is <f8/)
    const missing = await Effect.runPromise(Effect.flip(readNpy(join(dir, "nope.npy"))))
    expect(missing._tag).toBe("FileReadFailed")
    expect(missing.message).toContain("nope.npy")
  })
})
