/**
 * For tests: a state dict written as `torch.save(state_dict, f)` lays it out (zip, stored records,
 * `<stem>/data.pkl` at pickle protocol 2, one storage per tensor in `<stem>/data/<k>`), for fold
 * models too large to commit as fixtures. What torch itself writes is covered by the fixtures of
 * test/ml/model/pth.test.ts (test/golden/gen_pth.py); this writer only needs to be what torch reads.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { zipSync } from "fflate"
import type { SafetensorsDtype, SafetensorsTensor } from "../../../src/ml/model/safetensors.js"

const STORAGE_TYPES: Partial<Record<SafetensorsDtype, string>> = { F32: "FloatStorage", I64: "LongStorage", F64: "DoubleStorage", F16: "HalfStorage" }
const ELEMENT_BYTES: Partial<Record<SafetensorsDtype, number>> = { F32: 4, I64: 8, F64: 8, F16: 2 }

const text = (s: string): Array<number> => {
  const bytes = Buffer.from(s, "utf8")
  return [0x58, ...new Uint8Array(new Uint32Array([bytes.length]).buffer), ...bytes] // BINUNICODE
}
const int = (n: number): Array<number> => [0x4a, ...new Uint8Array(new Int32Array([n]).buffer)] // BININT
const global = (module: string, name: string): Array<number> => [0x63, ...Buffer.from(`${module}\n${name}\n`, "latin1")] // GLOBAL
const MARK = 0x28
const TUPLE = 0x74
const REDUCE = 0x52
const EMPTY_TUPLE = 0x29
const NEWFALSE = 0x89
const BINPERSID = 0x51
const SETITEMS = 0x75
const STOP = 0x2e

/** The pickle of an OrderedDict of `names[i]` -> a contiguous tensor over storage `i`. */
const statePickle = (tensors: ReadonlyArray<SafetensorsTensor>): Uint8Array => {
  const out: Array<number> = [0x80, 0x02, ...global("collections", "OrderedDict"), EMPTY_TUPLE, REDUCE, MARK]
  tensors.forEach((t, i) => {
    const type = STORAGE_TYPES[t.dtype]
    if (type === undefined) throw new Error(`torch-save: no storage type for ${t.dtype}`)
    const strides = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1))
    const numel = t.shape.reduce((a, b) => a * b, 1)
    out.push(...text(t.name), ...global("torch._utils", "_rebuild_tensor_v2"), MARK)
    out.push(MARK, ...text("storage"), ...global("torch", type), ...text(String(i)), ...text("cpu"), ...int(numel), TUPLE, BINPERSID)
    out.push(...int(0), MARK, ...t.shape.flatMap(int), TUPLE, MARK, ...strides.flatMap(int), TUPLE, NEWFALSE)
    out.push(...global("collections", "OrderedDict"), EMPTY_TUPLE, REDUCE, TUPLE, REDUCE)
  })
  out.push(SETITEMS, STOP)
  return Uint8Array.from(out)
}

/** Writes `tensors` to `file` as torch.save would, each name prefixed with `prefix` (the seed's wrapper: "model."). */
export const torchSave = (tensors: ReadonlyArray<SafetensorsTensor>, file: string, prefix = ""): void => {
  const stem = path.basename(file, path.extname(file))
  const named = tensors.map((t) => ({ ...t, name: `${prefix}${t.name}` }))
  const records: Record<string, Uint8Array> = { [`${stem}/data.pkl`]: statePickle(named), [`${stem}/version`]: Buffer.from("3\n") }
  named.forEach((t, i) => {
    if (t.bytes.length !== t.shape.reduce((a, b) => a * b, 1) * (ELEMENT_BYTES[t.dtype] ?? 0))
      throw new Error(`torch-save: ${t.name} has ${t.bytes.length} bytes`)
    records[`${stem}/data/${i}`] = t.bytes
  })
  fs.writeFileSync(file, zipSync(records, { level: 0 }))
}
