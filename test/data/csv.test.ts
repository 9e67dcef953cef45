import { describe, expect, it } from "vitest"
import { formatCsv, pythonFloatRepr } from "../../src/data/csv.js"

describe("csv", () => {
  it("writes floats as Python's repr", () => {
    // Expected strings are Python 3.11's repr of the same doubles.
    const cases: ReadonlyArray<[number, string]> = [
      [0, "0.0"],
      [1, "1.0"],
      [0.1, "0.1"],
      [1 / 3, "0.3333333333333333"],
      [2 / 3, "0.6666666666666666"],
      [1e-5, "1e-05"],
      [1.5e-7, "1.5e-07"],
      [1e16, "1e+16"],
      [123456789012345680, "1.2345678901234568e+17"],
      [1e15, "1000000000000000.0"],
      [0.0001, "0.0001"],
      [5e-324, "5e-324"],
      [1.7976931348623157e308, "1.7976931348623157e+308"],
      [-0, "-0.0"],
      [12345.678, "12345.678"],
      [-2.5, "-2.5"],
      [NaN, "nan"],
      [Infinity, "inf"],
    ]
    for (const [x, want] of cases) expect(pythonFloatRepr(x)).toBe(want)
  })

  it("formats a table as pandas' to_csv(index=False)", () => {
    const text = formatCsv([
      { name: "id", kind: "integer", values: [4294967295, 7] },
      { name: "label", kind: "string", values: ["a,b", 'say "hi"'] },
      { name: "p", kind: "float", values: [0.5, 6] },
    ])
    expect(text).toBe('id,label,p\n4294967295,"a,b",0.5\n7,"say ""hi""",6.0\n')
    expect(() => formatCsv([{ name: "id", kind: "integer", values: [1.5] }])).toThrow(/row 1 holds 1.5/)
  })
})
