/**
 * PyTorch checkpoints as `torch.save` writes them since torch 1.6 (`best_model_fold0.pth`): a zip
 * archive of `<archive>/data.pkl`, the pickled object, and `<archive>/data/<key>`, one raw
 * little-endian storage per key, every record stored uncompressed. The zip is read with fflate,
 * the pickle by the allow-list machine of torch-pickle.ts (nothing in the file is ever run), and a
 * state dict comes out in the form of a safetensors file (name -> dtype, shape, bytes), so that
 * checkpoint.ts checks and loads both formats alike.
 */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { Effect, Either } from "effect"
import { type UnzipFileInfo, unzipSync } from "fflate"
import { PthError } from "../ml-errors.js"
import type { SafetensorsFile, SafetensorsTensor } from "./safetensors.js"
import { describe, type PickleValue, type TensorRef } from "./pickle-values.js"
import { readTorchPickle } from "./torch-pickle.js"

/** The file names read as PyTorch checkpoints (anything else is read as safetensors). */
export const TORCH_CHECKPOINT_EXTENSIONS: ReadonlyArray<string> = [".pth", ".pt"]

export const isTorchCheckpoint = (file: string): boolean => TORCH_CHECKPOINT_EXTENSIONS.includes(path.extname(file).toLowerCase())

/** A zip archive's first bytes (a local file header). */
const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04] as const
/** The pickle's record and the folder of storages, under the archive's one top folder. */
const PICKLE_RECORD = /^([^/]+)\/data\.pkl$/
const BYTEORDER_RECORD = "byteorder"
/** Zip compression method 0: stored. torch never compresses its records. */
const STORED = 0
/** What every refused pickle's message ends with. */
const WEIGHTS_ONLY = "only tensors and ordered dicts are read (as torch.load(weights_only=True))"
/** How to turn another kind of file into one that is read. */
const RESAVE = "in Python: torch.save(torch.load(f, map_location='cpu'), f) with torch >= 1.6 writes the zip format"

const numel = (shape: ReadonlyArray<number>): number => shape.reduce((a, b) => a * b, 1)

/** Whether a view with these strides is the storage's elements in C order from its offset. */
const contiguous = (t: TensorRef): boolean => {
  let expected = 1
  for (let d = t.shape.length - 1; d >= 0; d--) {
    if (t.shape[d]! !== 1 && t.stride[d]! !== expected) return false
    expected *= t.shape[d]!
  }
  return true
}

/** The tensor's elements in C order, as bytes: a view into the storage when contiguous, else gathered. */
const tensorBytes = (t: TensorRef, storage: Uint8Array): Uint8Array => {
  const es = t.storage.elementBytes
  const n = numel(t.shape)
  if (contiguous(t)) return storage.subarray(t.offset * es, (t.offset + n) * es)
  const out = new Uint8Array(n * es)
  const index = new Array<number>(t.shape.length).fill(0)
  let src = t.offset
  for (let i = 0; i < n; i++) {
    out.set(storage.subarray(src * es, (src + 1) * es), i * es)
    // Odometer over the multi-index, last dimension fastest.
    for (let d = t.shape.length - 1; d >= 0; d--) {
      index[d]!++
      src += t.stride[d]!
      if (index[d]! < t.shape[d]!) break
      src -= t.stride[d]! * t.shape[d]!
      index[d] = 0
    }
  }
  return out
}

/** The state dict in a PyTorch checkpoint's bytes; `file` names it in errors. */
export const parsePth = (bytes: Uint8Array, file: string): Either.Either<SafetensorsFile, PthError> => {
  const fail = (detail: string, global = ""): Either.Either<never, PthError> => Either.left(new PthError({ file, global, detail }))
  if (!ZIP_MAGIC.every((b, i) => bytes[i] === b)) {
    return fail(`not a zip archive: a checkpoint saved by torch < 1.6 or with _use_new_zipfile_serialization=False is not read; ${RESAVE}`)
  }
  const compressed: Array<string> = []
  const unzipped = Either.try({
    try: () =>
      unzipSync(bytes, {
        filter: (entry: UnzipFileInfo) => {
          // Only stored records are read: a compressed one is not torch's and could inflate without bound.
          if (entry.compression !== STORED) compressed.push(entry.name)
          return entry.compression === STORED
        },
      }),
    catch: (error) => (error instanceof Error ? error.message : String(error)),
  })
  if (Either.isLeft(unzipped)) return fail(`not a readable zip archive (${unzipped.left})`)
  if (compressed.length > 0) return fail(`record ${compressed[0]} is compressed: torch.save stores its records uncompressed; ${RESAVE}`)
  const records = unzipped.right
  const pickles = Object.keys(records).filter((name) => PICKLE_RECORD.test(name))
  if (pickles.length !== 1) {
    return fail(`${pickles.length === 0 ? "no" : `${pickles.length}`} <archive>/data.pkl records: not a torch.save archive`)
  }
  const archive = PICKLE_RECORD.exec(pickles[0]!)![1]!
  const byteorder = records[`${archive}/${BYTEORDER_RECORD}`]
  if (byteorder !== undefined && new TextDecoder().decode(byteorder).trim() !== "little") {
    return fail(`its storages are ${new TextDecoder().decode(byteorder).trim()}-endian; only little-endian checkpoints are read`)
  }
  const read = readTorchPickle(records[pickles[0]!]!)
  if (Either.isLeft(read)) return fail(`pickle: ${read.left.detail}: ${WEIGHTS_ONLY}`, read.left.global)
  const root: PickleValue = read.right
  if (typeof root !== "object" || root === null || !("kind" in root) || root.kind !== "dict") {
    return fail(`the pickle holds ${describe(root)}, not a state dict: save one with torch.save(model.state_dict(), f)`)
  }
  const tensors = new Map<string, SafetensorsTensor>()
  for (const [name, value] of root.entries) {
    if (typeof name !== "string") return fail(`the state dict has a key that is ${describe(name)}, not a tensor name`)
    if (typeof value !== "object" || value === null || !("kind" in value) || value.kind !== "tensor") {
      return fail(`state dict entry ${name} is ${describe(value)}, not a tensor: save the model's state dict alone, torch.save(model.state_dict(), f)`)
    }
    const record = `${archive}/data/${value.storage.key}`
    const storage = records[record]
    if (storage === undefined) return fail(`tensor ${name}: its storage ${record} is not in the archive`)
    const expected = value.storage.numel * value.storage.elementBytes
    if (storage.length !== expected) {
      return fail(`tensor ${name}: storage ${record} has ${storage.length} bytes, its ${value.storage.numel} ${value.storage.dtype} elements need ${expected}`)
    }
    tensors.set(name, { name, dtype: value.storage.dtype, shape: value.shape, bytes: tensorBytes(value, storage) })
  }
  return Either.right({ metadata: undefined, tensors })
}

/** Reads a PyTorch checkpoint's state dict. */
export const readPth = (file: string): Effect.Effect<SafetensorsFile, PthError> =>
  Effect.flatMap(
    Effect.tryPromise({
      try: () => fs.readFile(file),
      catch: (error) => new PthError({ file, global: "", detail: `cannot read: ${error instanceof Error ? error.message : String(error)}` }),
    }),
    (bytes) => parsePth(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), file),
  )
