/**
 * Pipelines: the DSL a pipeline file writes (dsl.ts), `--param` parsing and param decoding
 * (params.ts), fan-out expansion (fan-values.ts), the planner (plan.ts) and its output
 * (plan-types.ts), and the questions asked of a plan (queries.ts).
 */
export {
  type AfterRun,
  type Binding,
  bind,
  definePipeline,
  type FanFromParam,
  type FanFromPipelineParam,
  type FanOut,
  type FanValue,
  type FanValues,
  fanOut,
  fromParam,
  fromPipelineParam,
  IntList,
  type ParamsOf,
  type Pipeline,
  type PipelineDefinition,
  type RunInfo,
  range,
} from "./dsl.js"
export { type ParamOverride, paramNames, parseOverride } from "./params.js"
export { planPipeline } from "./plan.js"
export type { FanPoint, InputRef, Instance, InstanceOrigin, Plan } from "./plan-types.js"
export {
  type PlannedVariant,
  paramSets,
  parseSweepAxis,
  planSweep,
  type SweepAxis,
  type SweepPlan,
  type SweepVariant,
  sweepVariants,
  variantLabel,
} from "./sweep.js"
export { downstreamOf, effectiveParams, restrictPlan, unknownStages } from "./queries.js"
