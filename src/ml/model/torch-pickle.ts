/**
 * The pickle of a PyTorch checkpoint (`data.pkl` in torch.save's zip), read by an allow-list
 * machine that can only build what `torch.load(weights_only=True)` builds for a state dict:
 * ordered dicts, tuples, lists, strings, numbers, and tensors over storages. Nothing is ever
 * called or imported: a global is a name looked up in `ALLOWED_GLOBALS`, and a name outside it
 * (`os.system`, `builtins.eval`, a pickled module class) stops the read before anything else
 * happens, with that name. Opcodes that build arbitrary objects (INST, OBJ, NEWOBJ of anything
 * but OrderedDict, extension codes, text persistent ids) are refused the same way.
 *
 * Pickle protocols 2 to 5 are read (torch.save writes protocol 2); the opcodes are those of
 * CPython's `Lib/pickle.py`.
 */
import { Either } from "effect"
import { describe as describeValue, type PickleValue, type PyDict, type PyKey } from "./pickle-values.js"
import { call, globalNamed, ORDERED_DICT, type PickleRefusal, Refused, refuse, storageFromPid } from "./pickle-allow-list.js"

export { ALLOWED_GLOBALS, type PickleRefusal } from "./pickle-allow-list.js"

/** Opcode names for errors (CPython's pickle.py), of those a checkpoint may not use. */
const REFUSED_OPCODES: ReadonlyMap<number, string> = new Map([
  [0x50, "PERSID"],
  [0x81, "NEWOBJ"],
  [0x92, "NEWOBJ_EX"],
  [0x82, "EXT1"],
  [0x83, "EXT2"],
  [0x84, "EXT4"],
  [0x6f, "OBJ"],
  [0x8f, "EMPTY_SET"],
  [0x90, "ADDITEMS"],
  [0x91, "FROZENSET"],
  [0x96, "BYTEARRAY8"],
  [0x97, "NEXT_BUFFER"],
  [0x98, "READONLY_BUFFER"],
])

/** The highest pickle protocol (Python 3.8+). */
const HIGHEST_PROTOCOL = 5

const MARK = Symbol("mark")
type StackItem = PickleValue | typeof MARK

/** A stack item's Python type, for errors. */
const describe = (v: StackItem): string => (v === MARK ? "a mark" : describeValue(v))

const isKey = (v: PickleValue): v is PyKey => v === null || ["string", "number", "bigint", "boolean"].includes(typeof v)

/** Little-endian two's complement bytes (LONG1 / LONG4) as a number when safe, else a bigint. */
const decodeLong = (bytes: Uint8Array): number | bigint => {
  if (bytes.length === 0) return 0
  let n = 0n
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!)
  if ((bytes[bytes.length - 1]! & 0x80) !== 0) n -= 1n << BigInt(bytes.length * 8)
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n
}

/**
 * Reads a pickle, building only allowed values; `Left` names the refused global or what is wrong.
 * A malformed pickle (cut short, stack underflow) is refused like any other.
 */
export const readTorchPickle = (bytes: Uint8Array): Either.Either<PickleValue, PickleRefusal> => {
  try {
    return Either.right(run(bytes))
  } catch (error) {
    if (error instanceof Refused) return Either.left(error.refusal)
    if (error instanceof RangeError) return Either.left({ global: "", detail: `the pickle is cut short or malformed (${error.message})` })
    throw error
  }
}

const run = (bytes: Uint8Array): PickleValue => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const strict = new TextDecoder("utf-8", { fatal: true })
  const utf8 = {
    decode: (b: Uint8Array): string =>
      Either.getOrElse(
        Either.try(() => strict.decode(b)),
        () => refuse(`a str at byte ${pos - b.length} is not UTF-8`),
      ),
  }
  const latin1 = new TextDecoder("latin1")
  let pos = 0
  let stack: Array<StackItem> = []
  const marks: Array<Array<StackItem>> = []
  const memo = new Map<number, PickleValue>()

  const take = (n: number): Uint8Array => {
    if (n < 0 || pos + n > bytes.length) throw new RangeError(`${n} bytes needed at byte ${pos} of ${bytes.length}`)
    const out = bytes.subarray(pos, pos + n)
    pos += n
    return out
  }
  const u8 = () => take(1)[0]!
  const u16 = () => view.getUint16(take(2).byteOffset - bytes.byteOffset, true)
  const u32 = () => view.getUint32(take(4).byteOffset - bytes.byteOffset, true)
  const i32 = () => view.getInt32(take(4).byteOffset - bytes.byteOffset, true)
  const u64 = () => {
    const n = view.getBigUint64(take(8).byteOffset - bytes.byteOffset, true)
    if (n > BigInt(bytes.length)) throw new RangeError(`a length of ${n} bytes in a ${bytes.length}-byte pickle`)
    return Number(n)
  }
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos)
    if (end < 0) throw new RangeError(`no end of line after byte ${pos}`)
    const text = latin1.decode(bytes.subarray(pos, end))
    pos = end + 1
    return text
  }
  const pop = (): PickleValue => {
    const v = stack.pop()
    if (v === undefined) throw new RangeError(`stack underflow at byte ${pos}`)
    if (v === MARK) return refuse(`a mark is used as a value at byte ${pos}`)
    return v
  }
  const top = (): PickleValue => {
    const v = stack[stack.length - 1]
    if (v === undefined) throw new RangeError(`stack underflow at byte ${pos}`)
    if (v === MARK) return refuse(`a mark is used as a value at byte ${pos}`)
    return v
  }
  /** The items pushed since the last MARK, which is removed. */
  const popMark = (): Array<PickleValue> => {
    const items = stack
    const before = marks.pop()
    if (before === undefined) throw new RangeError(`no mark at byte ${pos}`)
    stack = before
    return items as Array<PickleValue>
  }
  const setItems = (dict: PickleValue, items: ReadonlyArray<PickleValue>) => {
    if (typeof dict !== "object" || dict === null || !("kind" in dict) || dict.kind !== "dict") return refuse(`items are set on ${describe(dict)}`)
    if (items.length % 2 !== 0) refuse(`an odd number of items for a dict`)
    for (let i = 0; i < items.length; i += 2) {
      const key = items[i]!
      if (!isKey(key)) return refuse(`a dict key is ${describe(key)}`)
      dict.entries.set(key, items[i + 1]!)
    }
  }
  const append = (list: PickleValue, items: ReadonlyArray<PickleValue>) => {
    if (typeof list !== "object" || list === null || !("kind" in list) || list.kind !== "list") return refuse(`items are appended to ${describe(list)}`)
    list.items.push(...items)
  }
  const memoGet = (index: number): PickleValue => {
    const v = memo.get(index)
    if (v === undefined) return refuse(`memo ${index} is read before it is written`)
    return v
  }

  for (;;) {
    const at = pos
    const op = u8()
    switch (op) {
      case 0x80: {
        // PROTO
        const protocol = u8()
        if (protocol > HIGHEST_PROTOCOL) refuse(`pickle protocol ${protocol} (at most ${HIGHEST_PROTOCOL} is read)`)
        break
      }
      case 0x95: // FRAME: a length hint only
        take(8)
        break
      case 0x2e: // STOP
        return pop()
      case 0x28: // MARK
        marks.push(stack)
        stack = []
        break
      case 0x30: // POP
        if (stack.length === 0) popMark()
        else stack.pop()
        break
      case 0x31: // POP_MARK
        popMark()
        break
      case 0x32: // DUP
        stack.push(top())
        break
      case 0x4e: // NONE
        stack.push(null)
        break
      case 0x88: // NEWTRUE
        stack.push(true)
        break
      case 0x89: // NEWFALSE
        stack.push(false)
        break
      case 0x4a: // BININT
        stack.push(i32())
        break
      case 0x4b: // BININT1
        stack.push(u8())
        break
      case 0x4d: // BININT2
        stack.push(u16())
        break
      case 0x8a: // LONG1
        stack.push(decodeLong(take(u8())))
        break
      case 0x8b: // LONG4
        stack.push(decodeLong(take(u32())))
        break
      case 0x47: // BINFLOAT (big-endian double)
        stack.push(view.getFloat64(take(8).byteOffset - bytes.byteOffset, false))
        break
      case 0x58: // BINUNICODE
        stack.push(utf8.decode(take(u32())))
        break
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8.decode(take(u8())))
        break
      case 0x8d: // BINUNICODE8
        stack.push(utf8.decode(take(u64())))
        break
      case 0x54: // BINSTRING (Python 2 str)
        stack.push(latin1.decode(take(i32())))
        break
      case 0x55: // SHORT_BINSTRING
        stack.push(latin1.decode(take(u8())))
        break
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice())
        break
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice())
        break
      case 0x8e: // BINBYTES8
        stack.push(take(u64()).slice())
        break
      case 0x29: // EMPTY_TUPLE
        stack.push({ kind: "tuple", items: [] })
        break
      case 0x74: {
        // TUPLE (the items first: popMark replaces `stack`)
        const items = popMark()
        stack.push({ kind: "tuple", items })
        break
      }
      case 0x85: // TUPLE1
        stack.push({ kind: "tuple", items: [pop()] })
        break
      case 0x86: {
        // TUPLE2
        const b = pop()
        stack.push({ kind: "tuple", items: [pop(), b] })
        break
      }
      case 0x87: {
        // TUPLE3
        const c = pop()
        const b = pop()
        stack.push({ kind: "tuple", items: [pop(), b, c] })
        break
      }
      case 0x5d: // EMPTY_LIST
        stack.push({ kind: "list", items: [] })
        break
      case 0x6c: {
        // LIST
        const items = popMark()
        stack.push({ kind: "list", items })
        break
      }
      case 0x61: {
        // APPEND
        const v = pop()
        append(top(), [v])
        break
      }
      case 0x65: {
        // APPENDS
        const items = popMark()
        append(top(), items)
        break
      }
      case 0x7d: // EMPTY_DICT
        stack.push({ kind: "dict", ordered: false, entries: new Map() })
        break
      case 0x64: {
        // DICT
        const dict: PyDict = { kind: "dict", ordered: false, entries: new Map() }
        setItems(dict, popMark())
        stack.push(dict)
        break
      }
      case 0x73: {
        // SETITEM
        const v = pop()
        const k = pop()
        setItems(top(), [k, v])
        break
      }
      case 0x75: {
        // SETITEMS
        const items = popMark()
        setItems(top(), items)
        break
      }
      case 0x71: // BINPUT
        memo.set(u8(), top())
        break
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top())
        break
      case 0x94: // MEMOIZE
        memo.set(memo.size, top())
        break
      case 0x68: // BINGET
        stack.push(memoGet(u8()))
        break
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(u32()))
        break
      case 0x63: {
        // GLOBAL: "module\nname\n"
        const module = line()
        stack.push(globalNamed(module, line()))
        break
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop()
        const module = pop()
        if (typeof module !== "string" || typeof name !== "string") return refuse(`STACK_GLOBAL of ${describe(module)} and ${describe(name)}`)
        stack.push(globalNamed(module, name))
        break
      }
      case 0x69: {
        // INST: builds an instance of "module\nname\n"; named so that the error says what it would build.
        const module = line()
        const name = line()
        globalNamed(module, name)
        return refuse(`INST at byte ${at}`)
      }
      case 0x52: {
        // REDUCE: only an allowed global is ever "called", and only to build data.
        const args = pop()
        const fn = pop()
        if (typeof fn !== "object" || fn === null || !("kind" in fn) || fn.kind !== "global") return refuse(`REDUCE calls ${describe(fn)}`)
        if (typeof args !== "object" || args === null || !("kind" in args) || args.kind !== "tuple") return refuse(`REDUCE with ${describe(args)} arguments`)
        stack.push(call(fn, args.items))
        break
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args), for OrderedDict only (torch's weights-only unpickler allows its allowed classes).
        const args = pop()
        const cls = pop()
        if (typeof cls !== "object" || cls === null || !("kind" in cls) || cls.kind !== "global" || cls.name !== ORDERED_DICT)
          return refuse(`NEWOBJ of ${describe(cls)}`)
        if (typeof args !== "object" || args === null || !("kind" in args) || args.kind !== "tuple" || args.items.length > 0)
          return refuse(`NEWOBJ of OrderedDict with arguments`)
        stack.push({ kind: "dict", ordered: true, entries: new Map() })
        break
      }
      case 0x62: {
        // BUILD: a state dict's attributes (`_metadata`) are set on it; they are not needed and dropped.
        const state = pop()
        const target = top()
        if (typeof target !== "object" || target === null || !("kind" in target) || target.kind !== "dict") return refuse(`BUILD on ${describe(target)}`)
        if (typeof state !== "object" || state === null || !("kind" in state) || state.kind !== "dict") return refuse(`BUILD with ${describe(state)} state`)
        break
      }
      case 0x51: // BINPERSID
        stack.push(storageFromPid(pop()))
        break
      default: {
        const name = REFUSED_OPCODES.get(op)
        return refuse(`opcode ${name ?? "0x"}${name === undefined ? op.toString(16).padStart(2, "0") : ""} at byte ${at} is not read`)
      }
    }
  }
}
