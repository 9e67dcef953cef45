import * as path from "node:path"
import { Cause, Deferred, Effect, Either, Exit, Option } from "effect"
import { hashJson, type Json } from "./canonical.js"
import { describeError, StageFailed } from "./errors.js"
import { type InstanceKey, instanceKey, stageExportsOf } from "./instance-key.js"
import { effectiveParams, type Instance, type Plan } from "./pipeline/index.js"
import { Reporter, type StageOutcome } from "./reporter.js"
import { currentExecutor } from "./executor/executor.js"
import { type Resolved, resolvedFromRecord } from "./instance-output.js"
import { formatBytes } from "./fs-util.js"
import { MIB, type MemoryPlan } from "./resources.js"
import { resolveSource } from "./source.js"
import type { Artifact } from "./stage.js"
import { Cache } from "./store/cache.js"
import type { RunRecord, StoreError } from "./store/records.js"
import { RunHistory } from "./store/run-history.js"

export interface RunOptions {
  readonly jobs: number
  /** Stage names or instance ids to rerun even when cached. */
  readonly force: ReadonlyArray<string>
  /**
   * The instances' declared memory needs and the budget they share (`planMemory`): an instance runs
   * only once its need fits beside those running. Absent: only `jobs` limits. Stages computed by
   * queue workers (`cairn run --queue`) are not held back by it.
   */
  readonly memory?: MemoryPlan
  /** False: the caller saves the run history (a sweep saves one run per variant, `sweep-report.ts`). Default true. */
  readonly saveHistory?: boolean
  /** Continue stages that work in steps from their saved progress (default); false: `--no-resume`. */
  readonly resume?: boolean
}

export interface RunReport {
  readonly pipeline: string
  readonly stages: ReadonlyArray<StageOutcome>
  readonly metrics: Readonly<Record<string, Json>>
  readonly params: Readonly<Record<string, unknown>>
  readonly ok: boolean
  readonly startedAt: string
  readonly seconds: number
  /** Each instance's output, for the CLI (export, publish) and reports. */
  readonly resolved: ReadonlyMap<string, Resolved>
  /** Each instance's artifact (its folder in the store or in place), for the CLI and reports. */
  readonly artifacts: ReadonlyMap<string, Artifact<unknown>>
  /**
   * Absolute paths whose change can change the result: code closures (and the resolution candidates
   * that must stay absent), declared reads, engine inputs, source data. For `watch` and the fast path.
   */
  readonly watchFiles: ReadonlyArray<string>
  /** The metric `cairn runs` shows first: the pipeline's first printed metric named as a string. */
  readonly headline: string | undefined
  /** Bookkeeping that failed without failing a stage (a memo or the history not saved), one line each. */
  readonly warnings: ReadonlyArray<string>
}

type Outcome = StageOutcome & { readonly resolved?: Resolved; readonly watch?: ReadonlyArray<string> }

const failedOutcome = (id: string, error: unknown): Outcome => ({
  id,
  status: "failed",
  key: undefined,
  seconds: 0,
  error: error instanceof StageFailed ? error.detail : describeError(error),
  cause: error instanceof StageFailed ? (error.cause ?? error) : error,
})

/**
 * Executes a plan: instances run as soon as their inputs are ready, at most `jobs` at a time. A
 * failure skips its dependents; every other instance still runs, and every failure is reported.
 * The run holds a lease on the store throughout, so `gc` and `clean` leave what it uses alone.
 */
export const runPlan = (plan: Plan, options: RunOptions): Effect.Effect<RunReport, StoreError, Cache | RunHistory | Reporter> =>
  Effect.scoped(
    Effect.gen(function* () {
      const store = yield* Cache
      const history = yield* RunHistory
      yield* store.lease()
      const startedAt = new Date()
      const done = new Map<string, Deferred.Deferred<Outcome>>()
      for (const inst of plan.instances) done.set(inst.id, yield* Deferred.make<Outcome>())
      const resolved = new Map<string, Resolved>()
      const settle = yield* instanceRunner(plan, options, done, resolved)
      yield* Effect.forEach(
        plan.instances,
        (inst) => Effect.onExit(settle(inst), (exit) => Deferred.done(done.get(inst.id)!, Exit.succeed(exitOutcome(inst, exit)))),
        {
          concurrency: "unbounded",
          discard: true,
        },
      )
      const warnings: Array<string> = []
      const warn = (what: string) => (e: StoreError) => Effect.sync(() => void warnings.push(`${what}: ${e.message}`))
      yield* Effect.catchAll(store.saveMemos(), warn("memos not saved"))
      const { outcomes, watchFiles } = yield* collectOutcomes(plan, done)
      const artifacts = yield* materializeArtifacts(resolved, warnings)
      const report: RunReport = {
        pipeline: plan.pipeline.name,
        stages: outcomes,
        metrics: mergeMetrics(plan, resolved),
        params: effectiveParams(plan),
        ok: outcomes.every((o) => o.status === "ran" || o.status === "cached"),
        startedAt: startedAt.toISOString(),
        seconds: (Date.now() - startedAt.getTime()) / 1000,
        resolved,
        artifacts,
        watchFiles,
        headline: plan.pipeline.printMetrics?.find((m): m is string => typeof m === "string"),
        warnings,
      }
      const runId = `${report.startedAt.replace(/[:.]/g, "-")}-${process.pid}`
      if (options.saveHistory !== false) yield* Effect.catchAll(history.writeHistory(report.pipeline, runId, reportJson(report)), warn("history not saved"))
      return report
    }),
  )

/** Each instance's outcome once it settles, by instance id: its consumers wait on it. */
type Settled = ReadonlyMap<string, Deferred.Deferred<Outcome>>

/**
 * The function that runs one instance to its outcome (never failing: a failure is the outcome
 * `failed`) and tells the reporter. Memory first, then a job slot: a slot is never held by a stage
 * that waits for memory.
 */
const instanceRunner = (plan: Plan, options: RunOptions, done: Settled, resolved: Map<string, Resolved>) =>
  Effect.gen(function* () {
    const store = yield* Cache
    const reporter = yield* Reporter
    const semaphore = yield* Effect.makeSemaphore(Math.max(1, options.jobs))
    const exports = yield* Effect.either(stageExportsOf(plan))
    const forced = (inst: Instance) => options.force.some((f) => f === inst.id || f === inst.stage.name)
    const executor = yield* currentExecutor
    const admit = yield* memoryAdmission(options.memory)
    const slot = <A, E, R>(inst: Instance, effect: Effect.Effect<A, E, R>) =>
      executor.usesJobSlots ? admit(inst.id, semaphore.withPermits(1)(effect)) : effect

    const runOne = (inst: Instance): Effect.Effect<Outcome, StageFailed | StoreError, Cache | RunHistory | Reporter> =>
      Effect.gen(function* () {
        const skipped = yield* awaitInputs(inst, done)
        if (skipped) return skipped
        const clock = stopwatch()
        if (inst.stage.source) return yield* resolveSourceInstance(plan, inst, resolved, clock.seconds)
        if (Either.isLeft(exports)) return yield* new StageFailed({ id: inst.id, detail: exports.left.message, cause: exports.left })
        const k = yield* instanceKey(store, inst, resolved, exports.right)
        const finish = (record: RunRecord, status: "ran" | "cached", ranBy?: string, resumedFrom?: number) =>
          recordResult(plan, inst, k, resolved, clock.seconds, record, status, ranBy, resumedFrom)
        const skipCache = forced(inst) || !inst.stage.cache
        if (!skipCache) {
          const hit = yield* store.lookup(k.key)
          if (hit) {
            yield* store.touch(k.key)
            return yield* finish(hit, "cached")
          }
        }
        // Under the key's lock, look again (another process may have computed it meanwhile), else execute.
        const lockedCompute = Effect.scoped(
          Effect.gen(function* () {
            yield* store.lock(k.key, () => reporter.waiting(inst.id, "another process is computing the same key"))
            if (!skipCache) {
              const hit = yield* store.lookup(k.key)
              if (hit) return yield* finish(hit, "cached")
            }
            yield* reporter.started(inst.id)
            clock.restart()
            const { record, ranBy, resumedFrom } = yield* executor.execute({
              store,
              plan,
              inst,
              key: k,
              resolved,
              force: skipCache,
              resume: options.resume ?? true,
            })
            return yield* finish(record, "ran", ranBy, resumedFrom)
          }),
        )
        return yield* slot(inst, lockedCompute)
      })

    return (inst: Instance): Effect.Effect<Outcome, never, Cache | RunHistory | Reporter> =>
      runOne(inst).pipe(
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.interrupt
            : Effect.succeed(
                failedOutcome(
                  inst.id,
                  Option.getOrElse(
                    Cause.failureOption(cause),
                    () => new StageFailed({ id: inst.id, detail: Cause.pretty(cause).split("\n")[0] ?? "defect", cause }),
                  ),
                ),
              ),
        ),
        Effect.tap((o) => reporter.finished(o)),
      )
  })

/** The outcome an instance's consumers see: its own, or `failed` when it was interrupted. */
const exitOutcome = (inst: Instance, exit: Exit.Exit<Outcome>): Outcome =>
  Exit.isSuccess(exit) ? exit.value : { id: inst.id, status: "failed", key: undefined, seconds: 0, error: "interrupted" }

/** Waits for an instance's inputs: the outcome `skipped` when one of them failed or was skipped, else undefined. */
const awaitInputs = (inst: Instance, done: Settled): Effect.Effect<Outcome | undefined> =>
  Effect.gen(function* () {
    const upIds = Object.values(inst.inputs).flatMap((r) => (r.kind === "one" ? [r.id] : r.ids))
    for (const up of upIds) {
      const o = yield* Deferred.await(done.get(up)!)
      if (o.status === "failed" || o.status === "skipped") {
        return { id: inst.id, status: "skipped" as const, key: undefined, seconds: 0, error: `upstream ${up} ${o.status}` }
      }
    }
    return undefined
  })

/**
 * A stage's time is its own work: from when its inputs are ready (hashing, key, lookup) and, when it
 * runs, from when it gets a job slot and its lock (`restart`).
 */
const stopwatch = () => {
  let t0 = Date.now()
  return {
    restart: () => void (t0 = Date.now()),
    seconds: () => (Date.now() - t0) / 1000,
  }
}

/** A source stage: its data hashed where it lies; `cached` when its key is the one recorded last time. */
const resolveSourceInstance = (plan: Plan, inst: Instance, resolved: Map<string, Resolved>, seconds: () => number) =>
  Effect.gen(function* () {
    const store = yield* Cache
    const history = yield* RunHistory
    const src = yield* resolveSource(store, inst)
    const before = yield* history.readState(plan.pipeline.name, inst.id)
    yield* history.writeState(plan.pipeline.name, inst.id, {
      key: src.resolved.key,
      fields: undefined,
      codeFiles: {},
      manifest: src.manifest,
      at: new Date().toISOString(),
    })
    resolved.set(inst.id, src.resolved)
    const status = before?.key === src.resolved.key ? ("cached" as const) : ("ran" as const)
    const watch = (inst.stage.source?.include ?? [""]).map((rel) => path.join(src.resolved.source!.dir, rel))
    return { id: inst.id, status, key: src.resolved.key, seconds: seconds(), resolved: src.resolved, watch }
  })

/** Records a computed or cached result: the instance's state (for `cairn status`) and its resolved output. */
const recordResult = (
  plan: Plan,
  inst: Instance,
  k: InstanceKey,
  resolved: Map<string, Resolved>,
  seconds: () => number,
  record: RunRecord,
  status: "ran" | "cached",
  ranBy?: string,
  resumedFrom?: number,
) =>
  Effect.gen(function* () {
    const history = yield* RunHistory
    yield* history.writeState(plan.pipeline.name, inst.id, { key: k.key, fields: k.record, codeFiles: k.codeFiles, at: new Date().toISOString() })
    const r = resolvedFromRecord(inst.id, record)
    resolved.set(inst.id, r)
    return {
      id: inst.id,
      status,
      key: k.key,
      seconds: seconds(),
      resolved: r,
      watch: k.watch,
      computed: { at: record.startedAt, seconds: record.seconds },
      ...(ranBy ? { ranBy } : {}),
      ...(resumedFrom !== undefined ? { resumedFromEpoch: resumedFrom } : {}),
    }
  })

/** Every instance's outcome in plan order, and the files whose change can change the run (sorted). */
const collectOutcomes = (plan: Plan, done: Settled) =>
  Effect.gen(function* () {
    const outcomes: Array<StageOutcome> = []
    const watch = new Set<string>()
    for (const inst of plan.instances) {
      const { resolved: _r, watch: w, ...outcome } = yield* Deferred.await(done.get(inst.id)!)
      for (const f of w ?? []) watch.add(f)
      outcomes.push(outcome)
    }
    return { outcomes, watchFiles: [...watch].sort() }
  })

/** Each result's artifact: a source's folder in place, a stored result's tree materialized (one that cannot be is a warning). */
const materializeArtifacts = (resolved: ReadonlyMap<string, Resolved>, warnings: Array<string>) =>
  Effect.gen(function* () {
    const store = yield* Cache
    const artifacts = new Map<string, Artifact<unknown>>()
    for (const [id, r] of resolved) {
      if (r.source) artifacts.set(id, { id, dir: r.source.dir, value: r.value, hash: r.hash, key: r.key })
      else {
        const m = yield* Effect.either(store.materialize(r.record!.output.tree))
        if (Either.isRight(m)) artifacts.set(id, { id, dir: m.right.dir, value: r.value, hash: r.hash, key: r.key })
        else warnings.push(`result of ${id}: ${m.left.message}`)
      }
    }
    return artifacts
  })

/**
 * Runs an instance's effect once its declared memory fits the budget beside the instances running
 * (a weighted semaphore in MiB); one that must wait says so on the reporter first.
 */
const memoryAdmission = (memory: MemoryPlan | undefined) =>
  Effect.gen(function* () {
    const reporter = yield* Reporter
    const budgetMiB = memory ? Math.max(1, Math.floor(memory.budget.bytes / MIB)) : 1
    const permits = yield* Effect.makeSemaphore(budgetMiB)
    let heldBytes = 0
    return <A, E, R>(id: string, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
      const bytes = memory?.needs.get(id)
      if (memory === undefined || bytes === undefined || bytes === 0) return effect
      // planMemory refused any need above the budget; the clamp only guards against waiting forever.
      const n = Math.min(budgetMiB, Math.max(1, Math.ceil(bytes / MIB)))
      const held = Effect.acquireUseRelease(
        Effect.sync(() => void (heldBytes += bytes)),
        () => effect,
        () => Effect.sync(() => void (heldBytes -= bytes)),
      )
      return Effect.flatMap(
        permits.withPermitsIfAvailable(n)(held),
        Option.match({
          onSome: Effect.succeed,
          onNone: () =>
            Effect.zipRight(
              reporter.waiting(
                id,
                `memory: needs ~${formatBytes(bytes)}, ${formatBytes(heldBytes)} of the ${formatBytes(memory.budget.bytes)} budget held by stages running`,
              ),
              permits.withPermits(n)(held),
            ),
        }),
      )
    }
  })

/** A metric name is used as is when only one stage reports it, else prefixed with the stage id. */
export const mergeMetrics = (plan: Plan, resolved: ReadonlyMap<string, Resolved>): Record<string, Json> => {
  const counts = new Map<string, number>()
  const metricsOf = (id: string) => resolved.get(id)?.record?.output.metrics ?? {}
  for (const inst of plan.instances) for (const k of Object.keys(metricsOf(inst.id))) counts.set(k, (counts.get(k) ?? 0) + 1)
  const out: Record<string, Json> = {}
  for (const inst of plan.instances) {
    for (const [k, v] of Object.entries(metricsOf(inst.id))) out[counts.get(k)! > 1 ? `${inst.id}.${k}` : k] = v
  }
  return out
}

/** The serialisable part of a run report (what `--json` writes and `cairn runs` reads). */
export const reportJson = (report: RunReport) => ({
  pipeline: report.pipeline,
  stages: report.stages.map((s) => {
    // What besides params makes its key: for `cairn diff` to say when runs differ in more than params.
    const fields = report.resolved.get(s.id)?.record?.fields
    return {
      id: s.id,
      status: s.status,
      key: s.key ?? null,
      seconds: Number(s.seconds.toFixed(3)),
      ...(fields ? { code: fields.code, engine: Either.getOrElse(hashJson(fields.engine), () => "unhashable") } : {}),
      ...(s.computed ? { computedAt: s.computed.at, computedSeconds: Number(s.computed.seconds.toFixed(3)) } : {}),
      ...(s.ranBy ? { ranBy: s.ranBy } : {}),
      ...(s.resumedFromEpoch !== undefined ? { resumedFromEpoch: s.resumedFromEpoch } : {}),
      ...(s.error ? { error: s.error } : {}),
    }
  }),
  metrics: report.metrics,
  params: report.params,
  ok: report.ok,
  startedAt: report.startedAt,
  seconds: Number(report.seconds.toFixed(3)),
  watch: { files: report.watchFiles },
  ...(report.headline ? { headline: report.headline } : {}),
})
