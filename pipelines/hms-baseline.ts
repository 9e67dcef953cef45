/**
 * The seed, as published: resnet34d at 512x512, batch 32, 9 epochs, lr 1e-3, weight decay 1e-2,
 * patience 5, seed 1086, all rows, 5 folds of StratifiedGroupKFold (scikit-learn < 1.8), on the
 * real Kaggle data. A GPU job:
 *
 *   npx cairn run pipelines/hms-baseline.ts --param data=/path/to/hms-harmful-brain-activity-classification
 */
import { bind, definePipeline, fanOut, fromParam, fromPipelineParam, IntList, range } from "cairn"
import { N_FOLDS, SEED } from "../stages/hms/constants.js"
import { dataset } from "../stages/hms/dataset.js"
import { testset } from "../stages/hms/testset.js"
import { DEFAULT_NATIVE_THREADS, SEED_CONFIG } from "../stages/hms/model-params.js"
import { HMS_HEADLINE_METRICS, hmsReport } from "../stages/hms/run-report.js"
import { assignFolds } from "../stages/hms/assign-folds.js"
import { infer } from "../stages/hms/infer.js"
import { kaggleData } from "../stages/hms/kaggle-data.js"
import { scoreOof } from "../stages/hms/score-oof.js"
import { train } from "../stages/hms/train.js"

export default definePipeline({
  name: "hms-baseline",
  description: "HMS-HBAC ResNet34d baseline (the seed's configuration) on the Kaggle data",
  stages: [scoreOof, infer],
  bind: [bind(dataset, kaggleData), bind(testset, kaggleData)],
  // One model per fold; with `--param seeds=1086,1,2`, one per fold and seed (train/fold-k/seed-s).
  fanOut: [fanOut(train, "fold", fromParam(assignFolds, "n_folds", range)), fanOut(train, "seed", fromPipelineParam("seeds", IntList))],
  params: {
    data: "../hms-harmful-brain-activity-classification",
    max_rows: 0,
    n_folds: N_FOLDS,
    seed: SEED,
    fold_method: "sgkf-legacy",
    model: SEED_CONFIG.model,
    img_size: SEED_CONFIG.img_size,
    batch_size: SEED_CONFIG.batch_size,
    epochs: SEED_CONFIG.max_epoch,
    lr: SEED_CONFIG.lr,
    weight_decay: SEED_CONFIG.weight_decay,
    patience: SEED_CONFIG.es_patience,
    backend: "auto",
    // oneDNN threads per fold worker (folds train in parallel, --jobs at a time).
    threads: DEFAULT_NATIVE_THREADS,
    // infer on ONNX Runtime (the fold models' model.onnx) where installed, else on TF.js.
    infer_engine: "auto",
    checkpoints: "",
    // The seed trains from timm's ImageNet weights (timm.create_model(..., pretrained=True)).
    pretrained: "timm/resnet34d.ra2_in1k",
  },
  publish: { "out/hms-baseline/submission": infer, "out/hms-baseline/oof": scoreOof },
  afterRun: hmsReport("out/hms-baseline/report"),
  printMetrics: HMS_HEADLINE_METRICS,
})
