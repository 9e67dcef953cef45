/**
 * The seed's inference notebook: the fold models its training notebook saved
 * (`best_model_fold{k}.pth`, or cairn's `best_model_fold{k}.safetensors`) averaged over the
 * competition's test spectrograms into submission.csv, with the seed's model settings (resnet34d at
 * 512x512). No training and no download: it needs only the test files and the models, and runs
 * offline.
 *
 *   npx cairn run pipelines/hms-infer.ts --param data=/path/to/hms-harmful-brain-activity-classification --param checkpoints=/path/to/models
 */
import { bind, definePipeline, fanOut, fromPipelineParam, IntList, range } from "cairn"
import { N_FOLDS } from "../stages/hms/constants.js"
import { givenModel, inferGiven } from "../stages/hms/given-models.js"
import { kaggleTestData } from "../stages/hms/kaggle-data.js"
import { DEFAULT_NATIVE_THREADS, SEED_CONFIG } from "../stages/hms/model-params.js"
import { testset } from "../stages/hms/testset.js"

export default definePipeline({
  name: "hms-infer",
  description: "HMS-HBAC inference from given fold models (the seed's .pth files) on the Kaggle test data",
  stages: [inferGiven],
  bind: [bind(testset, kaggleTestData)],
  // The seed's FOLDS = [0, 1, 2, 3, 4]: one given model per fold (`--param folds=0,1,2` for fewer).
  fanOut: [fanOut(givenModel, "fold", fromPipelineParam("folds", IntList))],
  params: {
    data: "../hms-harmful-brain-activity-classification",
    // The folder of best_model_fold{k}.pth: required.
    checkpoints: "",
    folds: range(N_FOLDS).join(","),
    model: SEED_CONFIG.model,
    img_size: SEED_CONFIG.img_size,
    batch_size: SEED_CONFIG.batch_size,
    backend: "auto",
    threads: DEFAULT_NATIVE_THREADS,
    // ONNX Runtime on the models' model.onnx where installed, else TF.js on their checkpoints.
    infer_engine: "auto",
  },
  publish: { "out/hms-infer/submission": inferGiven },
  printMetrics: [],
})
