/**
 * `npm start`: the seed's pipeline (hms-baseline's stages, folds, preprocessing, loss, optimizer,
 * schedule, early stopping, scoring and inference) on the embedded synthetic dataset, sized to
 * finish in under 5 minutes on 2 CPU cores: 300 spectrograms, 64x64 images, 4 epochs, and
 * resnet18d (the seed's resnet34d takes twice as long per image on CPU:
 * pipelines/hms-quick-resnet34d.ts).
 */
import { bind, definePipeline } from "cairn"
import { SEED } from "../stages/hms/constants.js"
import { dataset } from "../stages/hms/dataset.js"
import { hmsReport } from "../stages/hms/run-report.js"
import { testset } from "../stages/hms/testset.js"
import { infer } from "../stages/hms/infer.js"
import { scoreOof } from "../stages/hms/score-oof.js"
import { synthData } from "../stages/hms/synth/synth-data.js"
import baseline from "./hms-baseline.js"

const { data: _kagglePath, ...seedParams } = baseline.params ?? {}

export default definePipeline({
  ...baseline,
  name: "hms-quick",
  description: "the HMS pipeline on the synthetic dataset, CPU-sized",
  bind: [bind(dataset, synthData), bind(testset, synthData)],
  params: {
    ...seedParams,
    spectrograms: 300,
    test_spectrograms: 20,
    synth_seed: SEED,
    model: "resnet18d",
    img_size: 64,
    batch_size: 16,
    epochs: 4,
    // A random init: `npm start` needs no network (the seed's ImageNet start is hms-baseline's).
    pretrained: "",
  },
  publish: { "out/hms-quick/submission": infer, "out/hms-quick/oof": scoreOof },
  afterRun: hmsReport("out/hms-quick/report"),
})
