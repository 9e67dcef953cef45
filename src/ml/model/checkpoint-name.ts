/** A fold's checkpoint file name (`best_model_fold{k}`, as safetensors). No TF.js here. */
export const checkpointFileName = (fold: number): string => `best_model_fold${fold}.safetensors`

/** A trained model as ONNX (`resnetToOnnx`), beside its checkpoint in a training stage's output. */
export const ONNX_MODEL_FILE = "model.onnx"
