/**
 * Column tables passed between stages as Arrow IPC files: typed columns in, typed columns out,
 * no per-row objects. (apache-arrow's `tableFromArrays` / `tableToIPC` / `tableFromIPC`.)
 */
import * as fs from "node:fs"
import { tableFromArrays, tableFromIPC, tableToIPC } from "apache-arrow"
import { Effect } from "effect"
import { describeError, FileReadFailed, FileWriteFailed } from "./data-errors.js"

export type ColumnValues = Float64Array | Float32Array | Int32Array | ReadonlyArray<string>

export type Columns = Readonly<Record<string, ColumnValues>>

/** Writes columns of equal length as an Arrow IPC file (written whole, then renamed into place). */
export const writeArrowTable = (file: string, columns: Columns): Effect.Effect<void, FileWriteFailed> =>
  Effect.try({
    try: () => {
      const lengths = new Set(Object.values(columns).map((c) => c.length))
      if (lengths.size > 1) throw new Error(`columns have different lengths: ${[...lengths].join(", ")}`)
      const bytes = tableToIPC(tableFromArrays(columns as Record<string, Float64Array | Float32Array | Int32Array | Array<string>>), "file")
      const tmp = `${file}.tmp-${process.pid}`
      fs.writeFileSync(tmp, bytes)
      fs.renameSync(tmp, file)
    },
    catch: (cause) => new FileWriteFailed({ file, reason: describeError(cause) }),
  })

/** A read Arrow table: its row count and a typed accessor per column. */
export interface ArrowColumns {
  readonly file: string
  readonly rows: number
  readonly names: ReadonlyArray<string>
  readonly numbers: (name: string) => Effect.Effect<Float64Array, FileReadFailed>
  readonly int32: (name: string) => Effect.Effect<Int32Array, FileReadFailed>
  readonly strings: (name: string) => Effect.Effect<ReadonlyArray<string>, FileReadFailed>
}

export const readArrowTable = (file: string): Effect.Effect<ArrowColumns, FileReadFailed> =>
  Effect.try({
    try: () => {
      const table = tableFromIPC(fs.readFileSync(file))
      const child = (name: string) => {
        const c = table.getChild(name)
        if (!c) throw new Error(`no column "${name}" (has: ${table.schema.fields.map((f) => f.name).join(", ")})`)
        return c
      }
      const get = <A>(name: string, convert: (values: ArrayLike<unknown>) => A) =>
        Effect.try({
          try: () => convert(child(name).toArray() as ArrayLike<unknown>),
          catch: (cause) => new FileReadFailed({ file, reason: describeError(cause) }),
        })
      return {
        file,
        rows: table.numRows,
        names: table.schema.fields.map((f) => f.name),
        numbers: (name: string) => get(name, (v) => (v instanceof Float64Array ? v : Float64Array.from(v as ArrayLike<number>))),
        int32: (name: string) => get(name, (v) => (v instanceof Int32Array ? v : Int32Array.from(v as ArrayLike<number>))),
        strings: (name: string) => get(name, (v) => Array.from(v as ArrayLike<unknown>, String)),
      }
    },
    catch: (cause) => new FileReadFailed({ file, reason: describeError(cause) }),
  })
