/**
 * The allow-list of the torch pickle reader (torch-pickle.ts): the globals a checkpoint's pickle may
 * name, and what "calling" one of them builds (an OrderedDict, a tensor over a storage), each built
 * here from plain values and nothing else. Anything outside the list is refused with its name.
 */
import { describe, type PickleValue, type PyGlobal, type PyKey, type StorageRef, type TensorRef, TORCH_STORAGE_DTYPES } from "./pickle-values.js"

export const ORDERED_DICT = "collections.OrderedDict"
const REBUILD_TENSOR_V2 = "torch._utils._rebuild_tensor_v2"
const REBUILD_TENSOR = "torch._utils._rebuild_tensor"
const REBUILD_PARAMETER = "torch._utils._rebuild_parameter"
const REBUILD_PARAMETER_WITH_STATE = "torch._utils._rebuild_parameter_with_state"

/** Every global a checkpoint's pickle may name. */
export const ALLOWED_GLOBALS: ReadonlySet<string> = new Set([
  ORDERED_DICT,
  REBUILD_TENSOR_V2,
  REBUILD_TENSOR,
  REBUILD_PARAMETER,
  REBUILD_PARAMETER_WITH_STATE,
  ...TORCH_STORAGE_DTYPES.keys(),
])

/** Why a pickle was not read: `global` set when it names (or builds with) something outside the allow-list. */
export interface PickleRefusal {
  readonly global: string
  readonly detail: string
}

export class Refused {
  constructor(readonly refusal: PickleRefusal) {}
}

export const refuse = (detail: string, global = ""): never => {
  throw new Refused({ global, detail })
}

const intOf = (v: PickleValue, what: string): number => {
  if (typeof v === "number" && Number.isInteger(v)) return v
  if (typeof v === "bigint" && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v)
  return refuse(`${what} is ${describe(v)}, expected an integer`)
}

const intsOf = (v: PickleValue, what: string): ReadonlyArray<number> => {
  if (typeof v !== "object" || v === null || !("kind" in v) || v.kind !== "tuple") return refuse(`${what} is ${describe(v)}, expected a tuple of integers`)
  return v.items.map((x, i) => intOf(x, `${what}[${i}]`))
}

/** The storage a persistent id names (`persistent_load` of torch's zip format). */
export const storageFromPid = (pid: PickleValue): StorageRef => {
  if (typeof pid !== "object" || pid === null || !("kind" in pid) || pid.kind !== "tuple")
    return refuse(`a persistent id is ${describe(pid)}, expected a tuple`)
  const [tag, type, key, , numel] = pid.items
  if (tag !== "storage" || pid.items.length !== 5) return refuse(`a persistent id is not ('storage', type, key, location, numel)`)
  if (typeof type !== "object" || type === null || !("kind" in type) || type.kind !== "global") return refuse(`a storage's type is ${describe(type ?? null)}`)
  const dtype = TORCH_STORAGE_DTYPES.get(type.name)
  if (dtype === undefined) return refuse(`${type.name} is not a storage type`)
  if (typeof key !== "string") return refuse(`a storage's key is ${describe(key ?? null)}, expected a str`)
  return { kind: "storage", dtype: dtype.dtype, elementBytes: dtype.bytes, key, numel: intOf(numel ?? null, `storage ${key}'s numel`) }
}

/** `_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks[, metadata])` and `_rebuild_tensor`. */
const rebuildTensor = (args: ReadonlyArray<PickleValue>, name: string): TensorRef => {
  const [storage, offset, size, stride] = args
  if (typeof storage !== "object" || storage === null || !("kind" in storage) || storage.kind !== "storage") {
    return refuse(`${name}'s storage is ${describe(storage ?? null)}`)
  }
  const shape = intsOf(size ?? null, `${name}'s size`)
  const strides = intsOf(stride ?? null, `${name}'s stride`)
  const at = intOf(offset ?? null, `${name}'s storage offset`)
  if (shape.length !== strides.length) refuse(`${name}: size ${shape.length}-d, stride ${strides.length}-d`)
  if (at < 0 || shape.some((d) => d < 0) || strides.some((s) => s < 0)) refuse(`${name}: a negative offset, size or stride`)
  // The last element the view reaches must lie in its storage.
  const empty = shape.some((d) => d === 0)
  const last = at + shape.reduce((acc, d, i) => acc + (d - 1) * strides[i]!, 0)
  if (!empty && last >= storage.numel) refuse(`a tensor reaches element ${last} of storage ${storage.key}, which has ${storage.numel}`)
  return { kind: "tensor", storage, offset: at, shape, stride: strides }
}

/** What calling an allowed global with `args` builds (REDUCE). */
export const call = (fn: PyGlobal, args: ReadonlyArray<PickleValue>): PickleValue => {
  switch (fn.name) {
    case ORDERED_DICT: {
      const entries = new Map<PyKey, PickleValue>()
      if (args.length > 0) refuse(`OrderedDict is built with arguments`)
      return { kind: "dict", ordered: true, entries }
    }
    case REBUILD_TENSOR_V2:
    case REBUILD_TENSOR:
      return rebuildTensor(args, fn.name)
    case REBUILD_PARAMETER:
    case REBUILD_PARAMETER_WITH_STATE: {
      const data = args[0] ?? null
      if (typeof data !== "object" || data === null || !("kind" in data) || data.kind !== "tensor") return refuse(`${fn.name} of ${describe(data)}`)
      return data
    }
    default:
      return refuse(`${fn.name} is called`)
  }
}

/** A global the pickle names, if allowed. */
export const globalNamed = (module: string, name: string): PyGlobal => {
  const full = `${module}.${name}`
  return ALLOWED_GLOBALS.has(full) ? { kind: "global", name: full } : refuse(`names ${full}`, full)
}
