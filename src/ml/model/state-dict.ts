/**
 * A checkpoint file's state dict, whatever format it was saved in (safetensors, or PyTorch's
 * `.pth` zip archives: pth.ts), under timm's own names; and its conversion to cairn's own format.
 * No TF.js here: stages use it on the main thread.
 */
import { Effect } from "effect"
import type { PthError, SafetensorsError } from "../ml-errors.js"
import { isTorchCheckpoint, readPth } from "./pth.js"
import { readSafetensors, type SafetensorsFile, writeSafetensors } from "./safetensors.js"

/** The metadata `safetensors.torch.save_file` users conventionally write. */
export const TORCH_METADATA: Readonly<Record<string, string>> = { format: "pt" }

/**
 * Prefixes of the modules that wrap a timm model in a saved state dict: the seed's
 * `self.model = timm.create_model(...)` (`model.`) and DataParallel (`module.`).
 */
export const WRAPPER_PREFIXES: ReadonlyArray<string> = ["module.", "model."]

/**
 * The state dict under timm's own names: a wrapper's prefix that every name carries is dropped
 * (repeatedly: `module.model.conv1.0.weight` -> `conv1.0.weight`). A prefix only some names carry
 * is kept, and the strict load names the tensor that does not fit.
 */
export const unwrapStateDict = (state: SafetensorsFile): SafetensorsFile => {
  const names = [...state.tensors.keys()]
  const prefix = WRAPPER_PREFIXES.find((p) => names.length > 0 && names.every((n) => n.startsWith(p)))
  if (prefix === undefined) return state
  const tensors = new Map([...state.tensors].map(([name, t]) => [name.slice(prefix.length), { ...t, name: name.slice(prefix.length) }]))
  return unwrapStateDict({ ...state, tensors })
}

/** A checkpoint file's state dict under timm's names: PyTorch's `.pth`/`.pt` zip archives, else safetensors. */
export const readStateDict = (file: string): Effect.Effect<SafetensorsFile, SafetensorsError | PthError> => {
  const read: Effect.Effect<SafetensorsFile, SafetensorsError | PthError> = isTorchCheckpoint(file) ? readPth(file) : readSafetensors(file)
  return Effect.map(read, unwrapStateDict)
}

/**
 * A checkpoint in any format `readStateDict` reads, written as cairn's own: safetensors under
 * timm's names, every tensor's dtype and values kept (what a stage keeps of a given `.pth`).
 */
export const writeStateDictAsSafetensors = (from: string, to: string): Effect.Effect<void, SafetensorsError | PthError> =>
  Effect.flatMap(readStateDict(from), (state) =>
    writeSafetensors(
      to,
      [...state.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: t.bytes })),
      TORCH_METADATA,
    ),
  )
