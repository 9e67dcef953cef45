import { describe, expect, it } from "vitest"
import { FileReadFailed, NpyInvalid } from "../../src/data/data-errors.js"
import {
  BackendUnavailable,
  CheckpointMismatch,
  DatasetError,
  LossNotFinite,
  MetricInputError,
  ModelIoMismatch,
  marshalMlError,
  reviveMlError,
  SafetensorsError,
  TrainConfigError,
  TrainError,
  WorkerFailed,
} from "../../src/ml/ml-errors.js"

describe("engine errors", () => {
  const errors = [
    new TrainConfigError({ field: "lr", value: "-1", detail: "must be > 0" }),
    new SafetensorsError({ file: "a.safetensors", tensor: "fc.weight", detail: "bad offsets" }),
    new SafetensorsError({ file: "a.safetensors", tensor: "", detail: "bad header" }),
    new CheckpointMismatch({ file: "b.safetensors", tensor: "bn1.weight", kind: "shape", detail: "[3] vs [4]" }),
    new DatasetError({ file: "w.npy", row: 4, column: "lpd_vote", detail: "NaN" }),
    new MetricInputError({ source: "submission", row: 2, column: "gpd_vote", detail: "negative" }),
    new TrainError({ fold: 1, epoch: 2, step: 3, detail: "loss is NaN" }),
    new WorkerFailed({ task: "train fold 0", detail: "exited" }),
    new FileReadFailed({ file: "x.npy", reason: "ENOENT" }),
    new NpyInvalid({ file: "y.npy", reason: "bad magic" }),
    new BackendUnavailable({ requested: "auto", backend: "tensorflow", reason: "package not installed" }),
    new ModelIoMismatch({ model: "m.onnx", side: "output", expected: "[batch, 6]", found: "[N, 5]" }),
    new LossNotFinite({ fold: 0, checkpoint: "", phase: "training", value: Number.NaN, epoch: 1, step: 3, lr: 0.001 }),
    new LossNotFinite({ fold: 2, checkpoint: "", phase: "validation", value: Number.POSITIVE_INFINITY, epoch: 4, step: 0, lr: 0.0001 }),
    new LossNotFinite({ fold: -1, checkpoint: "w/best_model_fold0.safetensors", phase: "validation", value: Number.NaN, epoch: 0, step: 0, lr: 0 }),
    new CheckpointMismatch({ file: "c.safetensors", tensor: "fc.bias", kind: "values", detail: "6 of 6 values are NaN or infinite" }),
  ]

  it("name the file, tensor, row or column in their messages", () => {
    expect(errors.map((e) => e.message)).toEqual([
      "training config lr=-1: must be > 0",
      "safetensors a.safetensors, tensor fc.weight: bad offsets",
      "safetensors a.safetensors: bad header",
      "checkpoint b.safetensors, tensor bn1.weight (shape): [3] vs [4]",
      "dataset row 4 (w.npy), lpd_vote: NaN",
      "submission row 2, column gpd_vote: negative",
      "fold 1, epoch 2, step 3: loss is NaN",
      "worker train fold 0: exited",
      "x.npy: cannot read file: ENOENT",
      "y.npy: not a readable .npy float32 array: bad magic",
      'TF.js backend tensorflow (@tensorflow/tfjs-node) is unavailable (while resolving "auto"): package not installed',
      "model m.onnx: its output is [N, 5], expected [batch, 6]: it was made for another task or configuration; use a model trained with this one",
      "fold 0: the training loss became NaN at epoch 1 step 3 (lr 0.001): training diverged; lower lr, or check the inputs and labels for extreme values",
      "fold 2: the validation loss became Infinity at epoch 4 (lr 0.0001 at its last step): training diverged; lower lr, or check the inputs and labels for extreme values",
      "checkpoint w/best_model_fold0.safetensors: its validation loss is NaN: the model's outputs are not finite on these windows; check the weights (from a diverged training?)",
      "checkpoint c.safetensors, tensor fc.bias (values): 6 of 6 values are NaN or infinite",
    ])
  })

  it("survive a structured clone (worker -> parent) with their tag, fields and message", () => {
    for (const e of errors) {
      const revived = reviveMlError(structuredClone(marshalMlError(e)), "task")
      expect(revived._tag).toBe(e._tag)
      expect(revived.message).toBe(e.message)
      expect(revived).toEqual(e)
    }
  })

  it("turn foreign tags into WorkerFailed carrying the original message", () => {
    const foreign = { _tag: "OpShapeError", message: "conv2d: expected rank 4, got shape [3]" }
    const revived = reviveMlError(foreign, "train fold 3")
    expect(revived._tag).toBe("WorkerFailed")
    expect(revived.message).toBe("worker train fold 3: conv2d: expected rank 4, got shape [3]")
    // a known tag with fields that do not fit is foreign too
    const garbled = reviveMlError({ _tag: "BackendUnavailable", backend: "tpu", message: "nope" }, "predict")
    expect(garbled.message).toBe("worker predict: nope")
  })
})
