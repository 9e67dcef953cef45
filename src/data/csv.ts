/**
 * Writing CSV files as pandas' `to_csv(index=False)` does: a header row, `,` separators, `\n`
 * line ends, floats in Python's shortest round-trip `repr` ("0.0", "0.3333333333333333", "1e-05"),
 * integers as digits, and strings quoted only when they hold `,`, `"` or a line break.
 */
import { Effect } from "effect"
import { writeFile } from "node:fs/promises"
import { describeError, FileWriteFailed } from "./data-errors.js"

/** Python's `repr(float)` switches to scientific notation outside 1e-4 <= |x| < 1e16. */
const REPR_MIN_EXPONENT = -4
const REPR_MAX_EXPONENT = 16

/** Python's `repr` of a float: the shortest digits that round-trip, laid out as Python does. */
export const pythonFloatRepr = (x: number): string => {
  if (Number.isNaN(x)) return "nan"
  if (x === Infinity) return "inf"
  if (x === -Infinity) return "-inf"
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0"
  // toExponential() without an argument gives the shortest round-trip digits.
  const [mantissa, exp] = Math.abs(x).toExponential().split("e") as [string, string]
  const exponent = Number(exp)
  const digits = mantissa.replace(".", "")
  const sign = x < 0 ? "-" : ""
  if (exponent < REPR_MIN_EXPONENT || exponent >= REPR_MAX_EXPONENT) {
    const m = digits.length === 1 ? digits : `${digits[0]}.${digits.slice(1)}`
    const e = Math.abs(exponent) < 10 ? `0${Math.abs(exponent)}` : String(Math.abs(exponent))
    return `${sign}${m}e${exponent < 0 ? "-" : "+"}${e}`
  }
  if (exponent < 0) return `${sign}0.${"0".repeat(-exponent - 1)}${digits}`
  const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, "0")
  const fraction = digits.slice(exponent + 1)
  return `${sign}${whole}.${fraction === "" ? "0" : fraction}`
}

/** One CSV column: floats (written with `pythonFloatRepr`), integers, or strings. */
export type CsvOutColumn =
  | { readonly name: string; readonly kind: "float"; readonly values: ArrayLike<number> }
  | { readonly name: string; readonly kind: "integer"; readonly values: ArrayLike<number> }
  | { readonly name: string; readonly kind: "string"; readonly values: ReadonlyArray<string> }

const quote = (s: string): string => (/[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s)

const cell = (column: CsvOutColumn, i: number): string => {
  switch (column.kind) {
    case "float":
      return pythonFloatRepr(column.values[i]!)
    case "integer": {
      const v = column.values[i]!
      if (!Number.isSafeInteger(v)) throw new RangeError(`integer column "${column.name}" row ${i + 1} holds ${v}`)
      return String(v)
    }
    case "string":
      return quote(column.values[i]!)
  }
}

/** The text of a CSV file with these columns (all of the same length). */
export const formatCsv = (columns: ReadonlyArray<CsvOutColumn>): string => {
  const rows = columns[0]?.values.length ?? 0
  for (const c of columns) {
    if (c.values.length !== rows) throw new RangeError(`column "${c.name}" has ${c.values.length} values, "${columns[0]!.name}" has ${rows}`)
  }
  const lines: Array<string> = [columns.map((c) => quote(c.name)).join(",")]
  for (let i = 0; i < rows; i++) lines.push(columns.map((c) => cell(c, i)).join(","))
  return `${lines.join("\n")}\n`
}

/** Writes `columns` as a CSV file. */
export const writeCsv = (file: string, columns: ReadonlyArray<CsvOutColumn>): Effect.Effect<void, FileWriteFailed> =>
  Effect.tryPromise({
    try: () => writeFile(file, formatCsv(columns)),
    catch: (cause) => new FileWriteFailed({ file, reason: describeError(cause) }),
  })
