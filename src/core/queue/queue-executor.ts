/**
 * The coordinator's side of the queue: an `Executor` that, for each stage the run must compute,
 * puts a job on the BullMQ queue (id: the cache key, so coordinators share it), waits for a worker
 * to finish it, and pulls its result from the remote cache into the local store. The stage's inputs
 * are made available on the remote cache first (a result held only locally is shared).
 *
 * Waiting is event-driven (QueueEvents) with a poll of the job's state as a floor: a job that
 * vanished (Redis restarted without its data) is enqueued again, a job failed in an earlier run is
 * retried once, a job completed earlier whose result the remote cache lost is run again. Redis
 * that does not answer for `lostMs` fails the waiting stages (the run never hangs on it).
 *
 * Everything that comes back through the queue (worker names, log and progress lines, failure
 * reasons, results) may come from anyone who can write to Redis: it is printed only through
 * `printable` (no control characters, bounded). With the queue's secret, each job is signed
 * (signature.ts).
 *
 * With it comes the run's reporter, decorated: a stage computed by a worker is shown as
 * `ran  12.30s  train/fold-0 (worker host:pid)`, its log and progress forwarded from the worker.
 */
import * as os from "node:os"
import { type IRedisClient, type Job, type JobsOptions, Queue, QueueEvents } from "bullmq"
import { Context, Deferred, Effect, Either, Layer, type Scope } from "effect"
import { describeError, StageFailed } from "../errors.js"
import type { Plan } from "../pipeline/index.js"
import { FIELD_MAX, LINE_MAX, printable } from "../printable.js"
import { Reporter } from "../reporter.js"
import type { StageKey } from "../hashes.js"
import type { RemoteTier } from "../store/cache.js"
import { answeredWithin, closeWithin, NOT_READY, type QueueTarget, redisClient } from "./redis-connection.js"
import { QueueUnavailable } from "./queue-errors.js"
import { decodeJobProgress, decodeJobResult, JOB_FORMAT, jobIdOf, type StageJobData, type StageJobProgress, type StageJobResult } from "./job.js"
import type { QueueSettings } from "./settings.js"
import { signJob } from "./job-signature.js"
import { type ExecuteRequest, Executor } from "../executor/executor.js"

export interface QueueRunOptions {
  readonly target: QueueTarget
  readonly settings: QueueSettings
  /** The pipeline file relative to the project root, with '/' (what a worker loads from its checkout). */
  readonly pipelineFile: string
  /** The run's `--param` overrides, as given. */
  readonly params: ReadonlyArray<string>
  /** The remote cache is read-only for this run: an input held only locally cannot be shared with the workers. */
  readonly remoteReadonly?: boolean
  /** The queue's secret (CAIRN_QUEUE_SECRET): each job is signed with it. */
  readonly secret?: string | undefined
}

/** Who enqueues (`host:pid`). */
const coordinatorName = () => `${os.hostname()}:${process.pid}`

/** Completed and failed jobs are kept this long (a coordinator enqueueing the same key meanwhile shares them). */
const KEEP_FINISHED = { age: 24 * 3600, count: 10_000 }
/** BullMQ priorities: 1 is first; a stage more of the plan waits for goes earlier. */
const PRIORITY_LAST = 1_000
/** How many times a job that vanished from Redis is enqueued again. */
const MAX_REENQUEUE = 3

/** For each instance, how many instances depend on it, directly or not. */
const dependentsOf = (plan: Plan): ReadonlyMap<string, number> => {
  const below = new Map<string, Set<string>>()
  for (const inst of [...plan.instances].reverse()) {
    const mine = below.get(inst.id) ?? new Set<string>()
    below.set(inst.id, mine)
    for (const ref of Object.values(inst.inputs)) {
      for (const up of ref.kind === "one" ? [ref.id] : ref.ids) {
        const theirs = below.get(up) ?? new Set<string>()
        theirs.add(inst.id)
        for (const d of mine) theirs.add(d)
        below.set(up, theirs)
      }
    }
  }
  return new Map([...below].map(([id, s]) => [id, s.size]))
}

/** Who ran each stage, and a reporter that shows it: live lines and the finished line carry `(worker w)`. */
const workerReporter = (inner: Reporter) => {
  const ranBy = new Map<string, string>()
  const shown = (id: string) => {
    const w = ranBy.get(id)
    return w ? `${id} (worker ${w})` : id
  }
  const reporter: Reporter = {
    // A queued stage gets its live line once a worker takes it (see `taken`).
    started: () => Effect.void,
    finished: (o) => inner.finished(ranBy.has(o.id) ? { ...o, id: shown(o.id) } : o),
    log: (id, message) => inner.log(id, message),
    progress: (id, event) => inner.progress(shown(id), event),
    // No live line keyed by the bare id: it would outlive the stage's renamed finished line.
    waiting: (id, detail) => inner.log(id, `waiting: ${detail}`),
    line: (text) => inner.line(text),
  }
  const taken = (id: string, worker: string) =>
    Effect.suspend(() => {
      if (ranBy.get(id) === worker) return Effect.void
      ranBy.set(id, worker)
      return inner.started(shown(id))
    })
  return { reporter, taken }
}

/** What a waiting stage hears from the queue's events about its job. */
interface Watch {
  wake: () => void
  readonly progress: (p: StageJobProgress) => void
}

const makeExecutor = (
  options: QueueRunOptions,
  queue: Queue,
  watches: Map<string, Set<Watch>>,
  taken: (id: string, worker: string) => Effect.Effect<void>,
): Executor => {
  const { target, settings } = options
  const coordinator = coordinatorName()
  const dependents = new WeakMap<Plan, ReadonlyMap<string, number>>()
  let lastAnswer = Date.now()

  /** One Redis call: retried until Redis has not answered for `lostMs`, then QueueUnavailable. */
  const call = <A>(what: string, f: () => Promise<A>): Effect.Effect<A, QueueUnavailable> =>
    Effect.gen(function* () {
      const since = Date.now()
      for (;;) {
        const got = yield* Effect.either(
          Effect.tryPromise({ try: f, catch: (e) => e }).pipe(
            Effect.timeoutFail({ duration: settings.connectMs, onTimeout: () => new Error(`no answer within ${settings.connectMs} ms`) }),
          ),
        )
        if (Either.isRight(got)) {
          lastAnswer = Date.now()
          return got.right
        }
        const silent = Date.now() - Math.max(lastAnswer, since)
        if (silent >= settings.lostMs) {
          return yield* new QueueUnavailable({
            url: target.url,
            detail: `${what}: no answer for ${(silent / 1000).toFixed(1)} s (${describeError(got.left)}); is Redis running?`,
            cause: got.left,
          })
        }
        yield* Effect.sleep(Math.min(settings.pollMs, settings.lostMs))
      }
    })

  const jobOptions = (r: ExecuteRequest, jobId: string): JobsOptions => {
    let deps = dependents.get(r.plan)
    if (!deps) dependents.set(r.plan, (deps = dependentsOf(r.plan)))
    return {
      jobId,
      attempts: settings.attempts,
      backoff: { type: "exponential", delay: settings.backoffMs },
      priority: Math.max(1, PRIORITY_LAST - (deps.get(r.inst.id) ?? 0)),
      removeOnComplete: KEEP_FINISHED,
      removeOnFail: KEEP_FINISHED,
    }
  }

  /** Waits for a wake-up from the job's events, or the poll interval. */
  const nextEvent = (watch: Watch) =>
    Effect.gen(function* () {
      const woken = yield* Deferred.make<void>()
      watch.wake = () => Deferred.unsafeDone(woken, Effect.void)
      yield* Effect.timeout(Deferred.await(woken), settings.pollMs).pipe(Effect.ignore)
      watch.wake = () => undefined
    })

  const watching = (jobId: string, watch: Watch): Effect.Effect<void, never, Scope.Scope> =>
    Effect.acquireRelease(
      Effect.sync(() => {
        const set = watches.get(jobId) ?? new Set()
        set.add(watch)
        watches.set(jobId, set)
      }),
      () =>
        Effect.sync(() => {
          const set = watches.get(jobId)
          set?.delete(watch)
          if (set?.size === 0) watches.delete(jobId)
        }),
    )

  const failed = (r: ExecuteRequest, detail: string, cause?: unknown) => new StageFailed({ id: r.inst.id, detail, cause })

  /** The job's result once a worker completed it; the job is (re)enqueued as needed. */
  const runJob = (r: ExecuteRequest, remote: RemoteTier, data: StageJobData) =>
    Effect.scoped(
      Effect.gen(function* () {
        const reporter = yield* Reporter
        const jobId = jobIdOf(r.key.key, r.force)
        const opts = jobOptions(r, jobId)
        const watch: Watch = {
          wake: () => undefined,
          progress: (p) => {
            const say =
              p.kind === "taken"
                ? taken(r.inst.id, printable(p.worker, FIELD_MAX))
                : p.kind === "log"
                  ? reporter.log(r.inst.id, printable(p.message, LINE_MAX))
                  : reporter.progress(r.inst.id, {
                      text: printable(p.text, LINE_MAX),
                      ...(p.fraction === undefined || !Number.isFinite(p.fraction) ? {} : { fraction: Math.min(1, Math.max(0, p.fraction)) }),
                      ...(p.task === undefined ? {} : { task: printable(p.task, FIELD_MAX) }),
                    })
            Effect.runFork(say)
          },
        }
        yield* watching(jobId, watch)
        const enqueue = call(`enqueue ${r.inst.id}`, () => queue.add(r.inst.id, data, opts))
        // A job under this id from an earlier run: failed there (tried again), or completed with a
        // result the remote cache no longer holds (run again).
        const before = yield* call(`state of ${r.inst.id}`, () => queue.getJobState(jobId))
        if (before === "failed") {
          // With this run's data: its inputs' keys are the ones this run made available.
          const job = yield* call(`job of ${r.inst.id}`, () => queue.getJob(jobId))
          if (job) yield* call(`retry ${r.inst.id}`, () => job.updateData(data).then(() => job.retry("failed")))
        } else if (before === "completed" && !(yield* remote.holds(r.key.key))) {
          yield* call(`remove ${r.inst.id}`, () => queue.remove(jobId))
          yield* enqueue
        } else if (before === "unknown") {
          yield* enqueue
        }
        let reenqueued = 0
        for (;;) {
          const state = yield* call(`state of ${r.inst.id}`, () => queue.getJobState(jobId))
          if (state === "completed" || state === "failed") {
            const job: Job | undefined = yield* call(`job of ${r.inst.id}`, () => queue.getJob(jobId))
            if (job && state === "completed") {
              const result = decodeJobResult(job.returnvalue)
              if (!result)
                return yield* failed(
                  r,
                  `job ${jobId.slice(0, 12)} completed with a result cairn cannot read: ${printable(String(JSON.stringify(job.returnvalue)), FIELD_MAX)}`,
                )
              return { ...result, worker: printable(result.worker, FIELD_MAX) }
            }
            if (job) return yield* failed(r, job.failedReason ? printable(job.failedReason, LINE_MAX) : `job ${jobId.slice(0, 12)} failed without a reason`)
          } else if (state === "unknown") {
            // Gone from Redis (restarted without its data, or removed): enqueued again.
            if (++reenqueued > MAX_REENQUEUE) return yield* failed(r, `job ${jobId.slice(0, 12)} keeps vanishing from ${target.url}`)
            yield* enqueue
            continue
          }
          yield* nextEvent(watch)
        }
      }),
    )

  return {
    usesJobSlots: false,
    execute: (r) =>
      Effect.gen(function* () {
        const { store } = r
        const remote = store.remote
        if (!remote) return yield* failed(r, "a queued stage needs a remote cache (--remote-cache URL): results travel through it")
        // Its inputs must be where the worker looks: a result held only here is shared first.
        const upstream: Record<string, StageKey> = {}
        for (const ref of Object.values(r.inst.inputs)) {
          for (const id of ref.kind === "one" ? [ref.id] : ref.ids) {
            const up = r.resolved.get(id)
            if (!up) return yield* failed(r, `input ${id} is not resolved`)
            // In a sweep's plan the worker plans the variant alone: its inputs under the ids there.
            upstream[r.plan.byId.get(id)?.origin?.id ?? id] = up.key
            if (!up.record) continue
            if (yield* remote.holds(up.key)) continue
            if (options.remoteReadonly)
              return yield* failed(r, `its input ${id} is only in the local cache, and the remote cache ${remote.url} is read-only here: no worker can get it`)
            yield* Effect.mapError(remote.share(up.record), (e) => failed(r, `its input ${id}: ${e.message}`, e))
          }
        }
        const unsigned: StageJobData = {
          format: JOB_FORMAT,
          pipeline: options.pipelineFile,
          params: r.inst.origin?.params ?? options.params,
          instance: r.inst.origin?.id ?? r.inst.id,
          key: r.key.key,
          record: r.key.record,
          codeFiles: r.key.codeFiles,
          upstream,
          force: r.force,
          coordinator,
        }
        const signed = options.secret === undefined ? undefined : signJob(unsigned, options.secret)
        if (signed && Either.isLeft(signed)) return yield* failed(r, signed.left)
        const data: StageJobData = signed ? signed.right : unsigned
        const result: StageJobResult = yield* Effect.catchTag(runJob(r, remote, data), "QueueUnavailable", (e) => Effect.fail(failed(r, e.message, e)))
        yield* taken(r.inst.id, result.worker)
        const record = yield* Effect.mapError(store.lookup(r.key.key), (e) => failed(r, e.message, e))
        if (!record)
          return yield* failed(r, `worker ${result.worker} finished it, but its result ${r.key.key.slice(0, 12)} is not on the remote cache ${remote.url}`)
        return { record, ranBy: result.worker, ...(result.resumedFrom === undefined ? {} : { resumedFrom: result.resumedFrom }) }
      }),
  }
}

/** Forwards the queue's events to the stages waiting on them. */
const listen = (events: QueueEvents, watches: Map<string, Set<Watch>>) => {
  const wake = ({ jobId }: { jobId: string }) => {
    for (const w of watches.get(jobId) ?? []) w.wake()
  }
  for (const name of ["active", "completed", "failed", "removed", "waiting", "stalled"] as const) events.on(name, wake)
  events.on("progress", ({ jobId, data }) => {
    const p = decodeJobProgress(data)
    if (p) for (const w of watches.get(jobId) ?? []) w.progress(p)
  })
  // Lost connections are the polls' business (they fail the run after `lostMs`).
  events.on("error", () => undefined)
}

/**
 * The queue's Executor and the run's reporter decorated with who ran what, for a run whose
 * reporter is in the context. Fails with QueueUnavailable when Redis does not answer at start.
 */
export const queueRunLayer = (options: QueueRunOptions): Layer.Layer<Executor | Reporter, QueueUnavailable, Reporter> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const inner = yield* Reporter
      const client: IRedisClient = yield* redisClient(options.target, options.settings.connectMs)
      const queue = yield* Effect.acquireRelease(
        Effect.sync(() => new Queue(options.target.name, { connection: client })),
        (q) => closeWithin(q),
      )
      queue.on("error", () => undefined)
      const events = yield* Effect.acquireRelease(
        Effect.sync(() => new QueueEvents(options.target.name, { connection: client })),
        (e) => closeWithin(e),
      )
      const watches = new Map<string, Set<Watch>>()
      listen(events, watches)
      yield* answeredWithin(options.target, options.settings.connectMs, NOT_READY, () => Promise.all([queue.waitUntilReady(), events.waitUntilReady()]))
      const shown = workerReporter(inner)
      const executor = makeExecutor(options, queue, watches, shown.taken)
      return Context.make(Executor, executor).pipe(Context.add(Reporter, shown.reporter))
    }),
  )
