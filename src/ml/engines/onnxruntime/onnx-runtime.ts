/**
 * A small wrapper over ONNX Runtime (onnxruntime-node, CPU execution provider) for models with
 * one float32 image input and one float32 output, such as `resnetToOnnx`'s.
 *
 * onnxruntime-node loads its native library when imported, so it is imported on first use: this
 * module can be imported (e.g. into a stage's code closure) without loading it.
 */
import type { InferenceSession } from "onnxruntime-node"
import { describeError } from "../../../core/errors.js"
import { OnnxRuntimeError } from "../../ml-errors.js"

export type OnnxSession = InferenceSession

/** NCHW: [N, C, H, W]. */
export type OnnxImageShape = readonly [n: number, c: number, h: number, w: number]

export interface OnnxSessionOptions {
  /** ONNX Runtime's intra-op threads (the threads one operator uses). */
  readonly threads: number
}

const runtime = () => import("onnxruntime-node")

/** The onnxruntime-node package version, e.g. "1.30.0". */
export async function onnxRuntimeVersion(): Promise<string> {
  const ort = await runtime()
  // onnxruntime-node sets env.versions.node to its package version on import.
  return ort.env.versions.node ?? ort.env.versions.common
}

/** Loads a model from a file or its bytes on the CPU provider with `threads` intra-op threads. */
export async function loadOnnxSession(source: string | Uint8Array, options: OnnxSessionOptions): Promise<OnnxSession> {
  const model = typeof source === "string" ? source : "<bytes>"
  if (!(Number.isInteger(options.threads) && options.threads > 0)) {
    throw new OnnxRuntimeError({ operation: "load", model, detail: `threads must be a positive integer, got ${options.threads}` })
  }
  const ort = await runtime()
  const sessionOptions: InferenceSession.SessionOptions = {
    executionProviders: ["cpu"],
    intraOpNumThreads: options.threads,
    // Nodes run one after another (the graph is a chain), so no inter-op pool is needed.
    interOpNumThreads: 1,
    executionMode: "sequential",
  }
  try {
    // Two calls, not one: `create` is overloaded on the source type.
    return typeof source === "string" ? await ort.InferenceSession.create(source, sessionOptions) : await ort.InferenceSession.create(source, sessionOptions)
  } catch (e) {
    throw new OnnxRuntimeError({ operation: "load", model, detail: describeError(e) })
  }
}

/**
 * Runs a one-input, one-output model on a batch of NCHW float32 images and returns its float32
 * output (for a classifier: the logits, [N, classes] row-major).
 */
export async function runOnnx(session: OnnxSession, images: Float32Array, shape: OnnxImageShape): Promise<Float32Array> {
  const model = "<session>"
  const [inputName, ...moreInputs] = session.inputNames
  const [outputName, ...moreOutputs] = session.outputNames
  if (inputName === undefined || outputName === undefined || moreInputs.length > 0 || moreOutputs.length > 0) {
    throw new OnnxRuntimeError({
      operation: "run",
      model,
      detail: `expected one input and one output, the model has inputs [${session.inputNames.join(", ")}] and outputs [${session.outputNames.join(", ")}]`,
    })
  }
  const size = shape.reduce((a, b) => a * b, 1)
  if (!shape.every((d) => Number.isInteger(d) && d > 0) || size !== images.length) {
    throw new OnnxRuntimeError({ operation: "run", model, detail: `${images.length} values do not fill the shape [${shape.join(", ")}]` })
  }
  const ort = await runtime()
  let results: InferenceSession.OnnxValueMapType
  try {
    results = await session.run({ [inputName]: new ort.Tensor("float32", images, shape) })
  } catch (e) {
    throw new OnnxRuntimeError({ operation: "run", model, detail: describeError(e) })
  }
  const output = results[outputName]
  if (output === undefined || output.type !== "float32" || !(output.data instanceof Float32Array)) {
    throw new OnnxRuntimeError({ operation: "run", model, detail: `output ${outputName} is ${output === undefined ? "missing" : output.type}, not float32` })
  }
  return output.data
}
