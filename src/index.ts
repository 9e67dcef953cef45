/** cairn's public API: define stages and pipelines. */
export type { Json } from "./core/canonical.js"
export { ConfigError, FileError, ParamError, StageFailed, UnhashableValue } from "./core/errors.js"
export { type AfterRun, bind, definePipeline, fanOut, fromParam, fromPipelineParam, IntList, type Pipeline, range, type RunInfo } from "./core/pipeline.js"
export {
  allOf,
  type Artifact,
  defineSource,
  defineStage,
  type ProgressEvent,
  slot,
  type SourceValue,
  type Stage,
  type StageContext,
  type StageOf,
  when,
} from "./core/stage.js"
