/**
 * What the pickle of a PyTorch checkpoint reads into (torch-pickle.ts): Python's values as tagged
 * objects (tuples, lists, dicts, globals), storages named by persistent ids and tensors over them,
 * the storage types a checkpoint may name, and a value's Python type for errors.
 */
import type { SafetensorsDtype } from "./safetensors.js"

/** A storage type of the pickle (`torch.FloatStorage`) and the dtype of its elements. */
export const TORCH_STORAGE_DTYPES: ReadonlyMap<string, { readonly dtype: SafetensorsDtype; readonly bytes: number }> = new Map([
  ["torch.FloatStorage", { dtype: "F32", bytes: 4 }],
  ["torch.DoubleStorage", { dtype: "F64", bytes: 8 }],
  ["torch.HalfStorage", { dtype: "F16", bytes: 2 }],
  ["torch.BFloat16Storage", { dtype: "BF16", bytes: 2 }],
  ["torch.LongStorage", { dtype: "I64", bytes: 8 }],
  ["torch.IntStorage", { dtype: "I32", bytes: 4 }],
  ["torch.ShortStorage", { dtype: "I16", bytes: 2 }],
  ["torch.CharStorage", { dtype: "I8", bytes: 1 }],
  ["torch.ByteStorage", { dtype: "U8", bytes: 1 }],
  ["torch.BoolStorage", { dtype: "BOOL", bytes: 1 }],
])

/** A storage named by a persistent id: `('storage', torch.FloatStorage, key, location, numel)`. */
export interface StorageRef {
  readonly kind: "storage"
  readonly dtype: SafetensorsDtype
  readonly elementBytes: number
  /** Its record in the archive: `<archive>/data/<key>`. */
  readonly key: string
  readonly numel: number
}

/** A tensor: a strided view of a storage. */
export interface TensorRef {
  readonly kind: "tensor"
  readonly storage: StorageRef
  readonly offset: number
  readonly shape: ReadonlyArray<number>
  readonly stride: ReadonlyArray<number>
}

export interface PyTuple {
  readonly kind: "tuple"
  readonly items: ReadonlyArray<PickleValue>
}

export interface PyList {
  readonly kind: "list"
  readonly items: Array<PickleValue>
}

/** Dict keys: the hashable values a state dict uses. */
export type PyKey = string | number | bigint | boolean | null

export interface PyDict {
  readonly kind: "dict"
  readonly ordered: boolean
  readonly entries: Map<PyKey, PickleValue>
}

/** An allowed global, before it is called. */
export interface PyGlobal {
  readonly kind: "global"
  readonly name: string
}

export type PickleValue = null | boolean | number | bigint | string | Uint8Array | PyTuple | PyList | PyDict | PyGlobal | StorageRef | TensorRef

/** A value's Python type, for errors. */
export const describe = (v: PickleValue): string => {
  if (v === null) return "None"
  if (typeof v === "boolean") return "a bool"
  if (typeof v === "number") return Number.isInteger(v) ? "an int" : "a float"
  if (typeof v === "bigint") return "an int"
  if (typeof v === "string") return "a str"
  if (v instanceof Uint8Array) return "bytes"
  switch (v.kind) {
    case "tuple":
      return "a tuple"
    case "list":
      return "a list"
    case "dict":
      return v.ordered ? "an OrderedDict" : "a dict"
    case "global":
      return v.name
    case "storage":
      return "a storage"
    case "tensor":
      return "a tensor"
  }
}
