/**
 * A toy image classification on cairn's ML engine, nothing of HMS: generated 16x16 three-channel
 * stripe images of three orientations -> a quarter-width resnet18d trained with cross-entropy and
 * a constant lr -> its accuracy on held-out images. Sized to run in seconds on two CPU cores.
 */
import { definePipeline } from "cairn"
import { toyEval } from "./stages/toy-eval.js"

export default definePipeline({
  name: "toy",
  description: "stripe orientation, three classes",
  stages: [toyEval],
  params: {
    samples: 150,
    test_samples: 60,
    data_seed: 3,
    width: 0.25,
    epochs: 4,
    batch_size: 16,
    lr: 3e-3,
    seed: 11,
    backend: "wasm",
  },
  printMetrics: ["val_accuracy", "test_accuracy"],
})
