/**
 * Tagged errors of the training engine (backends, optimizer/schedule configuration, checkpoints,
 * data, metric inputs, training and worker threads). Each `message` is computed from the fields and
 * names the file, tensor, row or column at fault. No TF.js here: the main thread rebuilds these
 * from a worker's answers without loading it.
 */
import { Data } from "effect"
import { FileReadFailed, FileWriteFailed, NpyInvalid } from "../data/data-errors.js"
import { BACKEND_ORDER, BACKEND_PACKAGES, type BackendName, type BackendRequest } from "./engines/tfjs/backend-probe.js"

/** A TF.js backend that cannot be loaded or initialised. */
export class BackendUnavailable extends Data.TaggedError("BackendUnavailable")<{
  readonly requested: BackendRequest
  readonly backend: BackendName
  readonly reason: string
}> {
  override get message(): string {
    const via = this.requested === this.backend ? "" : ` (while resolving "${this.requested}")`
    return `TF.js backend ${this.backend} (${BACKEND_PACKAGES[this.backend].pkg}) is unavailable${via}: ${this.reason}`
  }
}

/** A hyperparameter or engine option that cannot be used (`field` names it, as in the config object). */
export class TrainConfigError extends Data.TaggedError("TrainConfigError")<{
  readonly field: string
  readonly value: string
  readonly detail: string
}> {
  override get message(): string {
    return `training config ${this.field}=${this.value}: ${this.detail}`
  }
}

/** A safetensors file that cannot be read or written as such (bad header, offsets, dtype...). */
export class SafetensorsError extends Data.TaggedError("SafetensorsError")<{
  readonly file: string
  /** The tensor at fault, or "" for the header / the file as a whole. */
  readonly tensor: string
  readonly detail: string
}> {
  override get message(): string {
    return this.tensor === "" ? `safetensors ${this.file}: ${this.detail}` : `safetensors ${this.file}, tensor ${this.tensor}: ${this.detail}`
  }
}

/**
 * A PyTorch checkpoint (torch.save's zip archive: a pickled state dict and its storages) that cannot
 * be read, or whose pickle names a global outside the allow-list of torch.load(weights_only=True).
 */
export class PthError extends Data.TaggedError("PthError")<{
  readonly file: string
  /** The global the pickle names and may not ("os.system"), or "" when the file is unreadable for another reason. */
  readonly global: string
  readonly detail: string
}> {
  override get message(): string {
    return this.global === ""
      ? `${this.file}: ${this.detail}`
      : `${this.file}: pickle names ${this.global}, which a checkpoint may not: only tensors and ordered dicts are read (as torch.load(weights_only=True))`
  }
}

/** A state dict that does not fit the model: a missing, unexpected or mis-shaped tensor. */
export class CheckpointMismatch extends Data.TaggedError("CheckpointMismatch")<{
  readonly file: string
  readonly tensor: string
  /** "values": the tensor holds NaN or infinite values (the weights of a diverged training). */
  readonly kind: CheckpointMismatchKind
  readonly detail: string
}> {
  override get message(): string {
    return `checkpoint ${this.file}, tensor ${this.tensor} (${this.kind}): ${this.detail}`
  }
}

const CHECKPOINT_MISMATCH_KINDS = ["missing", "unexpected", "shape", "dtype", "values"] as const
export type CheckpointMismatchKind = (typeof CHECKPOINT_MISMATCH_KINDS)[number]

/**
 * A model file whose input or output is not what the caller feeds or reads: checked before the
 * model is used, so that a model with 5 or 7 outputs fails naming its file instead of giving a
 * silently wrong result or an out-of-bounds write.
 */
export class ModelIoMismatch extends Data.TaggedError("ModelIoMismatch")<{
  /** The model file (a checkpoint or an ONNX file), as the user knows it. */
  readonly model: string
  readonly side: "input" | "output"
  /** What the caller needs, e.g. `input [N, 1, 64, 64]` or `[batch, 6] (one logit per class)`. */
  readonly expected: string
  /** What the model has. */
  readonly found: string
}> {
  override get message(): string {
    return `model ${this.model}: its ${this.side} is ${this.found}, expected ${this.expected}: it was made for another task or configuration; use a model trained with this one`
  }
}

/**
 * A loss that is NaN or infinite: training diverged (or the given weights make the outputs
 * overflow). Replaces a NaN that would otherwise travel on into the stage's metrics.
 */
export class LossNotFinite extends Data.TaggedError("LossNotFinite")<{
  /** The fold being trained, or -1 when a given checkpoint is evaluated. */
  readonly fold: number
  /** The checkpoint evaluated ("" while training). */
  readonly checkpoint: string
  readonly phase: "training" | "validation"
  readonly value: number
  /** 1-based epoch (0 when a checkpoint is evaluated). */
  readonly epoch: number
  /** 1-based step of the epoch (0 for a validation loss). */
  readonly step: number
  /** The learning rate of that step (0 when a checkpoint is evaluated). */
  readonly lr: number
}> {
  override get message(): string {
    if (this.checkpoint !== "") {
      return `checkpoint ${this.checkpoint}: its ${this.phase} loss is ${this.value}: the model's outputs are not finite on these windows; check the weights (from a diverged training?)`
    }
    const at =
      this.phase === "training" ? `at epoch ${this.epoch} step ${this.step} (lr ${this.lr})` : `at epoch ${this.epoch} (lr ${this.lr} at its last step)`
    return `fold ${this.fold}: the ${this.phase} loss became ${this.value} ${at}: training diverged; lower lr, or check the inputs and labels for extreme values`
  }
}

/** A row of a dataset (window or label) that is not what training needs. */
export class DatasetError extends Data.TaggedError("DatasetError")<{
  /** The window file of that row, or "<memory>" for in-memory windows. */
  readonly file: string
  readonly row: number
  readonly column: string
  readonly detail: string
}> {
  override get message(): string {
    return `dataset row ${this.row} (${this.file}), ${this.column}: ${this.detail}`
  }
}

/** A metric input that the Kaggle metric would reject (ParticipantVisibleError there). */
export class MetricInputError extends Data.TaggedError("MetricInputError")<{
  /** "solution" or "submission" (the metric's own names). */
  readonly source: string
  /** -1 when the problem is not tied to one row. */
  readonly row: number
  /** "" when the problem is not tied to one column. */
  readonly column: string
  readonly detail: string
}> {
  override get message(): string {
    const at = [this.row >= 0 ? `row ${this.row}` : "", this.column === "" ? "" : `column ${this.column}`].filter((s) => s !== "").join(", ")
    return `${this.source}${at === "" ? "" : ` ${at}`}: ${this.detail}`
  }
}

/** Training went wrong at a given point (non-finite loss, empty fold, ...). */
export class TrainError extends Data.TaggedError("TrainError")<{
  readonly fold: number
  readonly epoch: number
  readonly step: number
  readonly detail: string
}> {
  override get message(): string {
    return `fold ${this.fold}, epoch ${this.epoch}, step ${this.step}: ${this.detail}`
  }
}

/** A worker thread died, or failed with an error that is not one of the tagged errors above. */
export class WorkerFailed extends Data.TaggedError("WorkerFailed")<{
  readonly task: string
  readonly detail: string
}> {
  override get message(): string {
    return `worker ${this.task}: ${this.detail}`
  }
}

/** A model or option that cannot be written as ONNX (`detail` says what is wrong). */
export class OnnxExportError extends Data.TaggedError("OnnxExportError")<{
  readonly model: string
  readonly detail: string
}> {
  override get message(): string {
    return `ONNX export of ${this.model}: ${this.detail}`
  }
}

/** ONNX Runtime could not load a model or run it on the given input. */
export class OnnxRuntimeError extends Data.TaggedError("OnnxRuntimeError")<{
  readonly operation: "load" | "run"
  /** the model file, or "<bytes>" for a model given in memory */
  readonly model: string
  readonly detail: string
}> {
  override get message(): string {
    return `ONNX Runtime ${this.operation} of ${this.model}: ${this.detail}`
  }
}

/** Every tagged error of the engine (and the data-layer errors it passes on): what a worker marshals back. */
export type MlError =
  | BackendUnavailable
  | TrainConfigError
  | SafetensorsError
  | PthError
  | CheckpointMismatch
  | FileReadFailed
  | NpyInvalid
  | DatasetError
  | MetricInputError
  | TrainError
  | OnnxExportError
  | OnnxRuntimeError
  | ModelIoMismatch
  | LossNotFinite
  | FileWriteFailed
  | WorkerFailed

/** Every tag of `MlError`: `satisfies` fails to compile while one is missing or extra. */
const ML_ERROR_TAGS: ReadonlySet<string> = new Set(
  Object.keys({
    BackendUnavailable: true,
    TrainConfigError: true,
    SafetensorsError: true,
    PthError: true,
    CheckpointMismatch: true,
    FileReadFailed: true,
    NpyInvalid: true,
    DatasetError: true,
    MetricInputError: true,
    TrainError: true,
    OnnxExportError: true,
    OnnxRuntimeError: true,
    ModelIoMismatch: true,
    LossNotFinite: true,
    FileWriteFailed: true,
    WorkerFailed: true,
  } satisfies Record<MlError["_tag"], true>),
)

/** Whether `error` is one of the engine's tagged errors. */
export const isMlError = (error: unknown): error is MlError =>
  typeof error === "object" && error !== null && ML_ERROR_TAGS.has(String((error as { readonly _tag?: unknown })._tag))

/** Rebuilds an engine error from its plain fields (`_tag` + fields), e.g. after a postMessage. */
export const reviveMlError = (value: unknown, task: string): MlError => {
  if (typeof value !== "object" || value === null) {
    return new WorkerFailed({ task, detail: `non-object error ${String(value)}` })
  }
  const v = value as Record<string, unknown>
  const s = (key: string): string => (typeof v[key] === "string" ? (v[key] as string) : String(v[key]))
  const n = (key: string): number => (typeof v[key] === "number" ? (v[key] as number) : Number(v[key]))
  switch (v["_tag"]) {
    case "BackendUnavailable": {
      const backend = BACKEND_ORDER.find((b) => b === v["backend"])
      const requested = v["requested"] === "auto" ? "auto" : BACKEND_ORDER.find((b) => b === v["requested"])
      if (backend === undefined || requested === undefined) break
      return new BackendUnavailable({ requested, backend, reason: s("reason") })
    }
    case "TrainConfigError":
      return new TrainConfigError({ field: s("field"), value: s("value"), detail: s("detail") })
    case "SafetensorsError":
      return new SafetensorsError({ file: s("file"), tensor: s("tensor"), detail: s("detail") })
    case "PthError":
      return new PthError({ file: s("file"), global: s("global"), detail: s("detail") })
    case "CheckpointMismatch": {
      const kind = CHECKPOINT_MISMATCH_KINDS.find((k) => k === v["kind"])
      return new CheckpointMismatch({
        file: s("file"),
        tensor: s("tensor"),
        kind: kind ?? "unexpected",
        detail: s("detail"),
      })
    }
    case "FileReadFailed":
      return new FileReadFailed({ file: s("file"), reason: s("reason") })
    case "NpyInvalid":
      return new NpyInvalid({ file: s("file"), reason: s("reason") })
    case "DatasetError":
      return new DatasetError({ file: s("file"), row: n("row"), column: s("column"), detail: s("detail") })
    case "MetricInputError":
      return new MetricInputError({ source: s("source"), row: n("row"), column: s("column"), detail: s("detail") })
    case "TrainError":
      return new TrainError({ fold: n("fold"), epoch: n("epoch"), step: n("step"), detail: s("detail") })
    case "OnnxExportError":
      return new OnnxExportError({ model: s("model"), detail: s("detail") })
    case "OnnxRuntimeError":
      return new OnnxRuntimeError({ operation: v["operation"] === "load" ? "load" : "run", model: s("model"), detail: s("detail") })
    case "ModelIoMismatch":
      return new ModelIoMismatch({ model: s("model"), side: v["side"] === "input" ? "input" : "output", expected: s("expected"), found: s("found") })
    case "LossNotFinite":
      return new LossNotFinite({
        fold: n("fold"),
        checkpoint: s("checkpoint"),
        phase: v["phase"] === "training" ? "training" : "validation",
        value: n("value"),
        epoch: n("epoch"),
        step: n("step"),
        lr: n("lr"),
      })
    case "FileWriteFailed":
      return new FileWriteFailed({ file: s("file"), reason: s("reason") })
    case "WorkerFailed":
      return new WorkerFailed({ task: s("task"), detail: s("detail") })
  }
  return new WorkerFailed({ task, detail: typeof v["message"] === "string" ? v["message"] : JSON.stringify(v) })
}

/**
 * The plain, structured-clone-safe fields of a tagged error (its `_tag` and `message` included);
 * `reviveMlError` rebuilds the engine's own, any other tag becomes a WorkerFailed with its message.
 */
export const marshalMlError = (error: { readonly _tag: string; readonly message: string }): Record<string, unknown> => {
  const out: Record<string, unknown> = { _tag: error._tag, message: error.message }
  for (const [key, value] of Object.entries(error)) {
    if (typeof value === "string" || typeof value === "number") out[key] = value
  }
  return out
}

/**
 * The same error with file paths shown as the user knows them: each key of `names` (a path the
 * engine was given: a stage's working copy, a file in the store) is replaced by its value (the
 * user's file, or "best_model_fold0.safetensors (output of train/fold-0)") in every text field.
 */
export const renameFiles = (error: MlError, names: ReadonlyMap<string, string>): MlError => {
  const fields = marshalMlError(error)
  let changed = false
  for (const [key, value] of Object.entries(fields)) {
    if (typeof value !== "string" || key === "_tag") continue
    let text = value
    for (const [from, to] of names) text = text.replaceAll(from, to)
    if (text !== value) {
      fields[key] = text
      changed = true
    }
  }
  return changed ? reviveMlError(fields, error._tag) : error
}
