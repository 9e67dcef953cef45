/**
 * The README's example of a new pipeline: hms-quick with the seed's model, resnet34d. Every data
 * stage (synth-data ... split-spectrograms) has the same key as in hms-quick, so after `npm start`
 * they are cache hits and only training, scoring and inference run.
 */
import { definePipeline } from "cairn"
import { hmsReport } from "../stages/hms/run-report.js"
import quick from "./hms-quick.js"

export default definePipeline({
  ...quick,
  name: "hms-quick-resnet34d",
  params: { ...quick.params, model: "resnet34d" },
  publish: {},
  afterRun: hmsReport("out/hms-quick-resnet34d/report"),
})
