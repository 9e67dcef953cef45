/**
 * What an ONNX classifier must look like before the predictor feeds it: one float32 input named
 * as `resnetToOnnx` names it, `[N, inChans, H, W]` with a free batch dimension (H and W fixed to
 * the image size or free), and one float32 output `[N, numClasses]`. Checked on the loaded
 * session's metadata, so a model with 5 or 7 outputs fails naming its file before any batch runs
 * (instead of a silently wrong average, or an out-of-bounds write).
 */
import { Either } from "effect"
import type { InferenceSession } from "onnxruntime-node"
import { ModelIoMismatch } from "../../ml-errors.js"
import { ONNX_BATCH_DIM, ONNX_INPUT_NAME } from "../../export/export-resnet.js"

/** What the caller feeds and reads. */
export interface OnnxClassifierIo {
  readonly inChans: number
  readonly numClasses: number
  /** Side of the square input images. */
  readonly imgSize: number
}

/** The parts of a session the check reads (ONNX Runtime's own metadata of the loaded graph). */
export type OnnxSessionIo = Pick<InferenceSession, "inputMetadata" | "outputMetadata">

type Dim = number | string

/** A dimension the model leaves to the caller: symbolic (a name) or unknown (negative). */
const isFree = (d: Dim): boolean => typeof d === "string" || d < 0

const dimsText = (dims: ReadonlyArray<Dim>): string => `[${dims.join(", ")}]`

const describeValue = (v: InferenceSession.ValueMetadata): string => (v.isTensor ? `"${v.name}" ${v.type} ${dimsText(v.shape)}` : `"${v.name}" (not a tensor)`)

const describeAll = (values: ReadonlyArray<InferenceSession.ValueMetadata>): string =>
  values.length === 1 ? describeValue(values[0]!) : `${values.length} values: ${values.length === 0 ? "none" : values.map(describeValue).join(", ")}`

/** Whether `dims` fit `want`: `"free"` wants a free dimension, a number that size or a free one. */
const fits = (dims: ReadonlyArray<Dim>, want: ReadonlyArray<number | "free">): boolean =>
  dims.length === want.length && want.every((w, i) => isFree(dims[i]!) || (w !== "free" && dims[i] === w))

/** The session's input and output against `io`: a mismatch names `model` with expected vs found. */
export const checkOnnxClassifierIo = (session: OnnxSessionIo, model: string, io: OnnxClassifierIo): Either.Either<void, ModelIoMismatch> => {
  const inputs = session.inputMetadata
  const outputs = session.outputMetadata
  const expectedInput = `one float32 tensor "${ONNX_INPUT_NAME}" [${ONNX_BATCH_DIM}, ${io.inChans}, ${io.imgSize}, ${io.imgSize}] (NCHW images, any batch size)`
  const input = inputs[0]
  const inputFits =
    inputs.length === 1 &&
    input !== undefined &&
    input.isTensor &&
    input.name === ONNX_INPUT_NAME &&
    input.type === "float32" &&
    fits(input.shape, ["free", io.inChans, io.imgSize, io.imgSize])
  if (!inputFits) return Either.left(new ModelIoMismatch({ model, side: "input", expected: expectedInput, found: describeAll(inputs) }))
  const output = outputs[0]
  const outputFits = outputs.length === 1 && output !== undefined && output.isTensor && output.type === "float32" && fits(output.shape, ["free", io.numClasses])
  if (!outputFits) {
    return Either.left(
      new ModelIoMismatch({
        model,
        side: "output",
        expected: `one float32 tensor [batch, ${io.numClasses}] (one logit per class)`,
        found: describeAll(outputs),
      }),
    )
  }
  return Either.void
}

/**
 * One batch's output against `[rows, numClasses]`: where the model declares its class dimension
 * free, only its output tells.
 */
export const checkOnnxBatchOutput = (output: Float32Array, rows: number, model: string, numClasses: number): Either.Either<void, ModelIoMismatch> =>
  output.length === rows * numClasses
    ? Either.void
    : Either.left(
        new ModelIoMismatch({
          model,
          side: "output",
          expected: `[batch, ${numClasses}] (one logit per class)`,
          found: `${output.length} values for a batch of ${rows}${output.length % rows === 0 ? ` ([${rows}, ${output.length / rows}])` : ""}`,
        }),
      )
