/**
 * hms-quick's fold models scored on a real test folder (default: the competition's public test
 * sample, copied in test/fixtures/hms-real; `--param test_data=DIR` for another). Training is shared
 * with hms-quick, so after `npm start` only the inference runs.
 */
import { bind, definePipeline } from "cairn"
import { testset } from "../stages/hms/testset.js"
import { infer } from "../stages/hms/infer.js"
import { testData } from "../stages/hms/test-data.js"
import quick from "./hms-quick.js"

export default definePipeline({
  ...quick,
  name: "hms-quick-real-test",
  stages: [infer],
  bind: [...(quick.bind ?? []), bind(testset, testData)],
  params: { ...quick.params, test_data: "test/fixtures/hms-real" },
  publish: { "out/hms-quick-real-test/submission": infer },
  afterRun: undefined,
  printMetrics: [],
})
