/**
 * `npm start`: the seed's stages end to end on the embedded synthetic dataset, sized to finish in
 * under 5 minutes on 2 CPU cores: 300 spectrograms, 64x64 images, 4 epochs, and resnet18d (the
 * seed's resnet34d takes twice as long per image on CPU: `pipelines/hms-quick-resnet34d.ts`).
 * Everything else (folds, preprocessing, loss, optimizer, schedule, early stopping, scoring,
 * inference) is the seed's.
 */
import { bind, definePipeline, fanOut } from "../src/index.js"
import { N_FOLDS, SEED } from "../stages/hms/constants.js"
import { dataset } from "../stages/hms/dataset.js"
import { testset } from "../stages/hms/testset.js"
import { SEED_CONFIG } from "../stages/hms/model-params.js"
import { HMS_HEADLINE_METRICS, hmsReport } from "../stages/hms/run-report.js"
import { infer } from "../stages/infer.js"
import { scoreOof } from "../stages/score-oof.js"
import { synthData } from "../stages/synth-data.js"
import { train } from "../stages/train.js"

export default definePipeline({
  name: "hms-quick",
  description: "the HMS pipeline on the synthetic dataset, CPU-sized",
  stages: [scoreOof, infer],
  bind: [bind(dataset, synthData), bind(testset, synthData)],
  fanOut: [fanOut(train, "fold", (g) => Array.from({ length: Number(g.n_folds) }, (_, k) => k))],
  params: {
    spectrograms: 300,
    test_spectrograms: 20,
    synth_seed: SEED,
    max_rows: 0,
    n_folds: N_FOLDS,
    seed: SEED,
    fold_method: "sgkf-legacy",
    model: "resnet18d",
    img_size: 64,
    batch_size: 16,
    epochs: 4,
    lr: SEED_CONFIG.lr,
    weight_decay: SEED_CONFIG.weight_decay,
    patience: SEED_CONFIG.es_patience,
    backend: "auto",
    checkpoints: "",
    pretrained: "",
  },
  publish: { "out/hms-quick/submission": infer, "out/hms-quick/oof": scoreOof },
  afterRun: hmsReport("out/hms-quick/report"),
  printMetrics: HMS_HEADLINE_METRICS,
})
