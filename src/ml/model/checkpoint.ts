/**
 * Model checkpoints as timm/PyTorch state dicts in safetensors files (read also from PyTorch's own
 * `.pth` files, `torch.save(model.state_dict(), f)`: pth.ts).
 *
 * - `saveCheckpoint`: every state_dict entry under its timm name, in PyTorch layout (conv OIHW,
 *   linear [out, in]), float32; `num_batches_tracked` as an int64 scalar — so
 *   `timm.create_model(variant, num_classes=.., in_chans=..).load_state_dict(safetensors.torch.load_file(f))`
 *   loads it strictly.
 * - `loadCheckpoint`: the reverse, strict: first the model's input channels and output classes
 *   (a `ModelIoMismatch`: "output [batch, 5], expected [batch, 6]"), then every tensor: a missing,
 *   unexpected or mis-shaped tensor, or one holding NaN or infinite values, is a
 *   `CheckpointMismatch` naming the file and the tensor.
 * - `loadPretrained`: ImageNet timm weights (in_chans 3, 1000 classes) into a model with other
 *   input channels / classes, as timm's `load_pretrained` does: the first conv's weight goes
 *   through `adapt_input_conv` (summed over RGB for in_chans=1; repeated and rescaled by 3/in_chans
 *   otherwise) and the classifier is dropped when the class counts differ (it keeps its init).
 */
import { Effect, Either } from "effect"
import { CheckpointMismatch, ModelIoMismatch, type PthError, type SafetensorsError } from "../ml-errors.js"
import { readStateDict, TORCH_METADATA } from "./state-dict.js"
import { assignFromTorchLayout, type NamedTensor, readStateValues, toTorchLayout } from "./resnet.js"
import { type SafetensorsFile, type SafetensorsInput, type SafetensorsTensor, tensorToBigInt64, tensorToFloat32, writeSafetensors } from "./safetensors.js"

/** What a checkpoint needs of a model: its state_dict entries. */
export interface StatefulModel {
  readonly tensors: ReadonlyArray<NamedTensor>
}

export { checkpointFileName } from "./checkpoint-name.js"
export { readStateDict, TORCH_METADATA, unwrapStateDict, writeStateDictAsSafetensors } from "./state-dict.js"

/**
 * The model's state dict as safetensors inputs (PyTorch layouts, int64 counters), from `values`
 * (`readStateValues`: any backend) or read synchronously (cpu, wasm).
 */
export const stateDictTensors = (model: StatefulModel, values?: ReadonlyMap<string, Float32Array>): Array<SafetensorsInput> =>
  model.tensors.map((t): SafetensorsInput => {
    const tfValues = values?.get(t.name)
    if (t.kind === "counter") {
      const value = (tfValues ?? t.variable.dataSync())[0] ?? 0
      return { name: t.name, dtype: "I64", shape: [...t.torchShape], data: BigInt64Array.of(BigInt(Math.round(value))) }
    }
    return { name: t.name, dtype: "F32", shape: [...t.torchShape], data: toTorchLayout(t, tfValues) }
  })

/** Writes the model's state dict to `file` (atomically); its values are read asynchronously (any backend). */
export const saveCheckpoint = (
  model: StatefulModel,
  file: string,
  metadata: Readonly<Record<string, string>> = TORCH_METADATA,
): Effect.Effect<void, SafetensorsError> =>
  Effect.flatMap(
    Effect.promise(() => readStateValues(model.tensors)),
    (values) => writeSafetensors(file, stateDictTensors(model, values), metadata),
  )

const sameShape = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): boolean => a.length === b.length && a.every((d, i) => d === b[i])

const shapeText = (s: ReadonlyArray<number>): string => `[${s.join(", ")}]`

/** Values for one model tensor from a stored one, or the reason they cannot be used. */
const storedValues = (t: NamedTensor, stored: SafetensorsTensor, file: string): Either.Either<Float32Array, CheckpointMismatch> => {
  if (t.kind === "counter") {
    const ints = tensorToBigInt64(stored)
    if (ints === undefined || ints.length !== 1) {
      return Either.left(
        new CheckpointMismatch({
          file,
          tensor: t.name,
          kind: "dtype",
          detail: `a counter needs one integer, the file has ${stored.dtype} ${shapeText(stored.shape)}`,
        }),
      )
    }
    return Either.right(Float32Array.of(Number(ints[0]!)))
  }
  if (!sameShape(stored.shape, t.torchShape)) {
    return Either.left(
      new CheckpointMismatch({
        file,
        tensor: t.name,
        kind: "shape",
        detail: `the file has shape ${shapeText(stored.shape)}, the model ${shapeText(t.torchShape)}`,
      }),
    )
  }
  if (!["F32", "F16", "BF16", "F64"].includes(stored.dtype)) {
    return Either.left(new CheckpointMismatch({ file, tensor: t.name, kind: "dtype", detail: `expected a float tensor, the file has ${stored.dtype}` }))
  }
  const values = tensorToFloat32(stored)
  let nonFinite = 0
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) nonFinite++
  if (nonFinite > 0) {
    return Either.left(
      new CheckpointMismatch({
        file,
        tensor: t.name,
        kind: "values",
        detail: `${nonFinite} of ${values.length} values are NaN or infinite: these weights are unusable (saved from a training that diverged?)`,
      }),
    )
  }
  return Either.right(values)
}

export interface LoadOptions {
  /** Model tensors that may be absent from the file (kept as they are). */
  readonly allowMissing?: ReadonlySet<string>
  /** File tensors to ignore. */
  readonly ignore?: ReadonlySet<string>
  /** Replaces the stored values of a tensor before the shape check (e.g. adapt_input_conv). */
  readonly adapt?: ReadonlyMap<string, (stored: SafetensorsTensor) => SafetensorsTensor>
}

/**
 * Loads a parsed state dict into the model, strictly: every model tensor must be in the file
 * (unless allowed missing), every file tensor must be in the model (unless ignored), shapes must
 * match. Nothing is assigned unless everything fits.
 */
export const loadStateDict = (model: StatefulModel, state: SafetensorsFile, file: string, options: LoadOptions = {}): Either.Either<void, CheckpointMismatch> =>
  Either.gen(function* () {
    const known = new Set(model.tensors.map((t) => t.name))
    for (const name of state.tensors.keys()) {
      if (!known.has(name) && !(options.ignore?.has(name) ?? false)) {
        return yield* Either.left(new CheckpointMismatch({ file, tensor: name, kind: "unexpected", detail: "not a tensor of the model" }))
      }
    }
    const assignments: Array<readonly [NamedTensor, Float32Array]> = []
    for (const t of model.tensors) {
      const raw = state.tensors.get(t.name)
      if (raw === undefined || (options.ignore?.has(t.name) ?? false)) {
        if (options.allowMissing?.has(t.name) ?? false) continue
        return yield* Either.left(
          new CheckpointMismatch({ file, tensor: t.name, kind: "missing", detail: `the model's ${shapeText(t.torchShape)} tensor is not in the file` }),
        )
      }
      const adapt = options.adapt?.get(t.name)
      const values = yield* storedValues(t, adapt === undefined ? raw : adapt(raw), file)
      assignments.push([t, values])
    }
    for (const [t, values] of assignments) assignFromTorchLayout(t, values)
  })

/** Which timm state_dict names are the first conv and the classifier (timm's pretrained_cfg). */
export interface PretrainedLayout {
  readonly firstConv: string
  readonly classifier: string
}

/** timm's pretrained_cfg for the ResNet-D family: first_conv 'conv1.0', classifier 'fc'. */
export const RESNET_D_PRETRAINED: PretrainedLayout = { firstConv: "conv1.0", classifier: "fc" }

/** What a model takes and gives: image channels in, class logits out. */
export interface ModelIo {
  readonly inChans: number
  readonly numClasses: number
}

/**
 * The input channels and output classes a stored state dict was made for (its first conv's
 * `[O, I, k, k]` and its classifier's `[classes, features]`) against the model's: a mismatch names
 * the file with expected vs found, before any tensor is compared. A tensor that is absent or not
 * of that rank is left to the strict load (a missing or mis-shaped tensor).
 */
export const checkStateDictIo = (
  state: SafetensorsFile,
  file: string,
  io: ModelIo,
  layout: PretrainedLayout = RESNET_D_PRETRAINED,
): Either.Either<void, ModelIoMismatch> => {
  const conv = state.tensors.get(`${layout.firstConv}.weight`)
  if (conv !== undefined && conv.shape.length === 4 && conv.shape[1] !== io.inChans) {
    return Either.left(
      new ModelIoMismatch({
        model: file,
        side: "input",
        expected: `[N, H, W, ${io.inChans}] (NHWC images of ${io.inChans} channel(s))`,
        found: `[N, H, W, ${conv.shape[1]}] (${layout.firstConv}.weight ${shapeText(conv.shape)})`,
      }),
    )
  }
  const fc = state.tensors.get(`${layout.classifier}.weight`)
  if (fc !== undefined && fc.shape.length === 2 && fc.shape[0] !== io.numClasses) {
    return Either.left(
      new ModelIoMismatch({
        model: file,
        side: "output",
        expected: `[batch, ${io.numClasses}] (one logit per class)`,
        found: `[batch, ${fc.shape[0]}] (${layout.classifier}.weight ${shapeText(fc.shape)})`,
      }),
    )
  }
  return Either.void
}

/**
 * Reads `file` and loads it strictly into the model; a model that says what it takes and gives
 * (`config`, as a ResNet does) has the file's input channels and classes checked first.
 */
export const loadCheckpoint = (
  model: StatefulModel & { readonly config?: ModelIo },
  file: string,
): Effect.Effect<void, SafetensorsError | PthError | CheckpointMismatch | ModelIoMismatch> =>
  Effect.flatMap(readStateDict(file), (state) =>
    Either.gen(function* () {
      if (model.config !== undefined) yield* checkStateDictIo(state, file, model.config)
      yield* loadStateDict(model, state, file)
    }),
  )

/**
 * timm's `adapt_input_conv(in_chans, weight)` on an OIHW float32 weight: for one channel the RGB
 * kernels are summed (or groups of 3 for space-to-depth stems); for other counts the RGB kernels are
 * repeated to `inChans` and scaled by 3 / inChans. Returns the new values and shape, or undefined
 * when timm would raise (it then drops the weight).
 */
export const adaptInputConv = (
  inChans: number,
  weight: Float32Array,
  shape: ReadonlyArray<number>,
): { readonly values: Float32Array; readonly shape: ReadonlyArray<number> } | undefined => {
  const [O, I, J, K] = shape as [number, number, number, number]
  const hw = J * K
  const RGB = 3
  if (inChans === I) return { values: weight, shape }
  if (inChans === 1) {
    if (I > RGB) {
      if (I % RGB !== 0) return undefined
      const groups = I / RGB
      const out = new Float32Array(O * groups * hw)
      for (let o = 0; o < O; o++)
        for (let g = 0; g < groups; g++)
          for (let p = 0; p < hw; p++) {
            let s = 0
            for (let c = 0; c < RGB; c++) s = Math.fround(s + weight[(o * I + g * RGB + c) * hw + p]!)
            out[(o * groups + g) * hw + p] = s
          }
      return { values: out, shape: [O, groups, J, K] }
    }
    const out = new Float32Array(O * hw)
    for (let o = 0; o < O; o++)
      for (let p = 0; p < hw; p++) {
        let s = 0
        for (let c = 0; c < I; c++) s = Math.fround(s + weight[(o * I + c) * hw + p]!)
        out[o * hw + p] = s
      }
    return { values: out, shape: [O, 1, J, K] }
  }
  if (I !== RGB) return undefined
  const scale = Math.fround(RGB / inChans)
  const out = new Float32Array(O * inChans * hw)
  for (let o = 0; o < O; o++)
    for (let c = 0; c < inChans; c++) for (let p = 0; p < hw; p++) out[(o * inChans + c) * hw + p] = weight[(o * I + (c % RGB)) * hw + p]! * scale
  return { values: out, shape: [O, inChans, J, K] }
}

export interface PretrainedReport {
  /** Tensors whose stored values were converted (adapt_input_conv). */
  readonly adapted: ReadonlyArray<string>
  /** Model tensors left at their initial values (the dropped classifier). */
  readonly kept: ReadonlyArray<string>
}

/** Loads timm pretrained weights into a model with possibly other input channels and classes. */
export const loadPretrained = (
  model: StatefulModel & { readonly config: { readonly inChans: number; readonly numClasses: number } },
  file: string,
  layout: PretrainedLayout = RESNET_D_PRETRAINED,
): Effect.Effect<PretrainedReport, SafetensorsError | PthError | CheckpointMismatch> =>
  Effect.flatMap(readStateDict(file), (state) =>
    Either.gen(function* () {
      const convName = `${layout.firstConv}.weight`
      const adapt = new Map<string, (stored: SafetensorsTensor) => SafetensorsTensor>()
      const adapted: Array<string> = []
      const conv = state.tensors.get(convName)
      if (conv !== undefined && conv.shape.length === 4 && conv.shape[1] !== model.config.inChans) {
        const result = adaptInputConv(model.config.inChans, tensorToFloat32(conv), conv.shape)
        if (result === undefined) {
          return yield* Either.left(
            new CheckpointMismatch({
              file,
              tensor: convName,
              kind: "shape",
              detail: `cannot adapt ${shapeText(conv.shape)} to ${model.config.inChans} input channels`,
            }),
          )
        }
        const bytes = new Uint8Array(result.values.buffer, result.values.byteOffset, result.values.byteLength)
        adapt.set(convName, () => ({ name: convName, dtype: "F32", shape: result.shape, bytes }))
        adapted.push(convName)
      }
      const classifierNames = [`${layout.classifier}.weight`, `${layout.classifier}.bias`]
      const fcWeight = state.tensors.get(classifierNames[0]!)
      const dropClassifier = fcWeight !== undefined && fcWeight.shape[0] !== model.config.numClasses
      const skip = new Set(dropClassifier ? classifierNames : [])
      yield* loadStateDict(model, state, file, { adapt, ignore: skip, allowMissing: skip })
      return { adapted, kept: [...skip] }
    }),
  )
