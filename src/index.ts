/** cairn's public API: define stages and pipelines. */
export type { Json } from "./core/canonical.js"
export { ConfigError, describeError, FileError, ParamError, StageFailed, UnhashableValue } from "./core/errors.js"
export {
  type AfterRun,
  bind,
  definePipeline,
  fanOut,
  fromParam,
  fromPipelineParam,
  IntList,
  type Pipeline,
  range,
  type RunInfo,
} from "./core/pipeline/index.js"
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
  type StageResources,
  type SavedSteps,
  type StepPlan,
  type StepsContext,
  when,
} from "./core/stage.js"
export { makeWorkerPool, serveTasks, type WorkerPool, WorkerTaskFailed } from "./core/thread-pool.js"
