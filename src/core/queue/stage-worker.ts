/**
 * The worker's side of the queue: a BullMQ worker that runs stage jobs in this checkout, on this
 * machine's local store, and answers each only once its result is on the remote cache.
 *
 * A job is checked before anything else of it is read: its signature when the worker has the
 * queue's secret (signature.ts), then its data, then its pipeline file (only one of the folders the
 * worker serves, served.ts). Then it loads that file from its own checkout with the coordinator's
 * params, takes the inputs from the remote cache (sources: hashed here), recomputes the stage's key,
 * and refuses the job (unrecoverably, naming the differing fields, never their values: the reason is
 * stored in Redis) when it is not the coordinator's: it never computes under a wrong key. What a job
 * carries is printed only through `printable` (no control characters, bounded). A result already on
 * the remote cache is not computed again (unless the job is forced). Retries, stalled jobs (a worker killed: its lock expires and another worker
 * takes the job), concurrency and priorities are BullMQ's.
 *
 * Stopping (the scope closing: SIGINT/SIGTERM) interrupts the running stages and puts their jobs
 * back to wait, so another worker takes them at once.
 */
import * as os from "node:os"
import { type IRedisClient, type Job, UnrecoverableError, WaitingError, Worker } from "bullmq"
import { Cause, Effect, Either, Exit, Fiber, Option, Runtime, type Scope } from "effect"
import { describeError, StageFailed } from "../errors.js"
import { executeStage } from "../executor/execute-stage.js"
import { instanceKey, stageExportsOf } from "../instance-key.js"
import { diffKeys, nameChange } from "../key.js"
import type { Plan } from "../pipeline/index.js"
import { FIELD_MAX, LINE_MAX, printable } from "../printable.js"
import { plainReporter, Reporter } from "../reporter.js"
import { type Resolved, resolvedFromRecord } from "../instance-output.js"
import { resolveSource } from "../source.js"
import type { LocalStore } from "../store/local/local-store.js"
import { redactUrl } from "../store/remote/from-url.js"
import type { RemoteCache } from "../store/remote/remote-cache.js"
import { RemoteStore } from "../store/remote/remote-store.js"
import type { ResultNotShared } from "../store/remote/share-result.js"
import { answeredWithin, CLOSE_MS, closeWithin, NOT_READY, type QueueTarget, redisClient } from "./redis-connection.js"
import { JobMalformed, JobNotSigned, JobRefused, type QueueUnavailable } from "./queue-errors.js"
import { decodeJobData, type StageJobData, type StageJobProgress, type StageJobResult } from "./job.js"
import { type ServedFolders, servedPipelineFile } from "./served.js"
import type { QueueSettings } from "./settings.js"
import { jobSignatureProblem, QUEUE_SECRET_ENV } from "./job-signature.js"

export interface StageWorkerOptions {
  readonly target: QueueTarget
  readonly settings: QueueSettings
  /** Jobs run at once (BullMQ concurrency). */
  readonly jobs: number
  /** This worker's name in messages and on the jobs it takes (default `host:pid`). */
  readonly name?: string
  /** The checkout and the folders whose pipeline files this worker imports (a job naming any other file is refused). */
  readonly served: ServedFolders
  /** The queue's secret: only jobs signed with it are taken. Undefined: any job is (a warning says so at start). */
  readonly secret: string | undefined
  readonly local: LocalStore
  readonly remote: RemoteCache
  /** Loads and plans a pipeline file of this checkout with `--param` overrides. */
  readonly loadPlan: (file: string, params: ReadonlyArray<string>) => Effect.Effect<Plan, unknown>
  /** Where the worker's lines go. */
  readonly write: (line: string) => void
}

/** Progress is forwarded to the coordinator at most this often per stage task. */
const PROGRESS_EVERY_MS = 500
/** Stopping waits this long for the interrupted jobs to be handed back and the worker to close, then cuts its connections. */
const STOP_MS = 5_000
/** Queue trouble is warned about at most this often. */
const WARN_EVERY_MS = 10_000
/** Blobs fetched at once by one job's lookups. */
const TRANSFERS = 4

/** `p`, or a rejection once `ms` passed (a command to a Redis that is gone would wait for its return forever). */
const withinMs = <A>(p: Promise<A>, ms: number): Promise<A> => {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
  })
  return Promise.race([p, late]).finally(() => clearTimeout(timer))
}

/** The tag of an error (`ConfigError`), to name its kind without its text. */
const errorTag = (e: unknown): string =>
  typeof e === "object" && e !== null && "_tag" in e && typeof e._tag === "string" ? printable(e._tag, FIELD_MAX) : e instanceof Error ? e.name : "error"

/** A job's failures: a refusal (never retried) or a failure worth another try. */
type JobError = JobRefused | JobMalformed | StageFailed | ResultNotShared

/** The stage's reporter on the worker: its lines printed here and forwarded to the coordinator. */
const jobReporter = (print: Reporter, forward: (p: StageJobProgress) => void): Reporter => {
  const last = new Map<string, number>()
  return {
    ...print,
    log: (id, message) =>
      Effect.zipRight(
        print.log(id, message),
        Effect.sync(() => forward({ kind: "log", message })),
      ),
    progress: (id, event) =>
      Effect.zipRight(
        print.progress(id, event),
        Effect.sync(() => {
          const tag = event.task ?? ""
          const now = Date.now()
          if (now - (last.get(tag) ?? 0) < PROGRESS_EVERY_MS && event.fraction !== 1) return
          last.set(tag, now)
          forward({
            kind: "progress",
            text: event.text,
            ...(event.fraction === undefined ? {} : { fraction: event.fraction }),
            ...(event.task === undefined ? {} : { task: event.task }),
          })
        }),
      ),
    waiting: (id, detail) =>
      Effect.zipRight(
        print.waiting(id, detail),
        Effect.sync(() => forward({ kind: "log", message: `waiting: ${detail}` })),
      ),
  }
}

const processJob = (
  o: StageWorkerOptions,
  worker: string,
  data: StageJobData,
  loadedCode: Map<string, string>,
): Effect.Effect<StageJobResult, JobError, Reporter> =>
  Effect.scoped(
    Effect.gen(function* () {
      const { remote, local } = o
      const stage = printable(data.instance, FIELD_MAX)
      const pipeline = printable(data.pipeline, FIELD_MAX)
      const refuse = (detail: string) => new JobRefused({ worker, stage, pipeline, differences: [], detail })
      const failed = (detail: string, cause?: unknown) => new StageFailed({ id: stage, detail, cause })
      // Before anything is pulled or imported: only a pipeline file of a served folder is loaded.
      const file = servedPipelineFile(o.served, data.pipeline)
      if (Either.isLeft(file)) return yield* refuse(file.left)
      // A cache of its own per job: a remote that fails is not used for the rest of this job only.
      const store = yield* RemoteStore.make(local, remote, {
        readonly: true,
        pushProgress: true,
        transfers: TRANSFERS,
        warn: (m) => Effect.sync(() => o.write(`warning: ${m}`)),
      })
      yield* Effect.mapError(store.lease(), (e) => failed(e.message, e))
      const plan = yield* Effect.mapError(
        Effect.tapError(o.loadPlan(file.right, data.params), (e) =>
          Effect.sync(() => o.write(`${stage}: its pipeline ${pipeline} does not load here: ${describeError(e)}`)),
        ),
        // The reason stays in this worker's log: it may name this machine's paths and values.
        (e) => refuse(`its pipeline ${pipeline} does not load here (${errorTag(e)}): see the worker's log`),
      )
      const inst = plan.byId.get(data.instance)
      if (!inst) return yield* refuse(`no stage instance ${stage} in ${pipeline} here`)
      const resolved = new Map<string, Resolved>()
      for (const ref of Object.values(inst.inputs)) {
        for (const id of ref.kind === "one" ? [ref.id] : ref.ids) {
          const up = plan.byId.get(id)
          const key = data.upstream[id]
          if (!up || key === undefined) return yield* refuse(`input ${id} is not the coordinator's`)
          if (up.stage.source) {
            resolved.set(id, (yield* resolveSource(store, up)).resolved)
            continue
          }
          const record = yield* Effect.mapError(store.lookup(key), (e) => failed(e.message, e))
          if (!record) return yield* failed(`its input ${id} (${key.slice(0, 12)}) is neither in ${local.location} nor on the remote cache ${remote.url}`)
          resolved.set(id, resolvedFromRecord(id, record))
        }
      }
      const exports = yield* Effect.mapError(stageExportsOf(plan), (e) => refuse(`its code here: ${printable(e.message, LINE_MAX)}`))
      const k = yield* instanceKey(store, inst, resolved, exports)
      if (k.key !== data.key) {
        // Names only: the values (env, params, versions) are this machine's, and the reason is stored in Redis.
        const differences = diffKeys({ record: data.record, codeFiles: data.codeFiles }, { record: k.record, codeFiles: k.codeFiles }).map((c) =>
          printable(nameChange(c), LINE_MAX),
        )
        return yield* new JobRefused({ worker, stage, pipeline, differences })
      }
      // The stage's module was imported by an earlier job: if its code changed on disk since, what
      // would run is not what the key says.
      const loaded = `${inst.stage.name}\0${inst.stage.definedIn.join("\0")}`
      const first = loadedCode.get(loaded)
      if (first === undefined) loadedCode.set(loaded, k.record.code)
      else if (first !== k.record.code) return yield* refuse(`its code changed on disk since this worker loaded it: restart the worker`)
      yield* Effect.mapError(store.lock(k.key), (e) => failed(e.message, e))
      // Stored here or on the remote cache (checked, and installed here): not computed again.
      const hit = data.force ? undefined : yield* Effect.mapError(store.lookup(k.key), (e) => failed(e.message, e))
      const t0 = Date.now()
      const computed = hit ? undefined : yield* executeStage(store, plan, inst, k, resolved)
      const record = hit ?? computed!.record
      if (!hit || !(yield* store.remote.holds(k.key))) yield* store.remote.share(record)
      yield* Effect.catchAll(local.saveMemos(), (e) => Effect.sync(() => o.write(`warning: memos not saved: ${e.message}`)))
      const resumed = computed?.resumedFrom === undefined ? {} : { resumedFrom: computed.resumedFrom }
      return { worker, cached: hit !== undefined, seconds: hit ? 0 : (Date.now() - t0) / 1000, ...resumed }
    }),
  )

/**
 * Runs the worker for the scope: takes jobs until the scope closes. Fails with QueueUnavailable
 * when Redis does not answer at start (later losses are retried by BullMQ, and logged).
 */
export const runStageWorker = (o: StageWorkerOptions): Effect.Effect<void, QueueUnavailable, Scope.Scope> =>
  Effect.gen(function* () {
    const name = o.name ?? `${os.hostname()}:${process.pid}`
    const runtime = yield* Effect.runtime<never>()
    const print = plainReporter(o.write)
    const client: IRedisClient = yield* redisClient(o.target, o.settings.connectMs)
    let stopping = false
    /** The code hash of each stage module when this process first ran it (see processJob). */
    const loadedCode = new Map<string, string>()

    const processor = async (job: Job, token?: string, signal?: AbortSignal): Promise<StageJobResult> => {
      const jobName = printable(String(job.id), FIELD_MAX)
      const refused = (error: JobNotSigned | JobMalformed) => {
        o.write(`REFUSED ${error.message}`)
        return new UnrecoverableError(error.message)
      }
      // The signature first: nothing else of a job is read unless it comes from a holder of the secret.
      const problem = o.secret === undefined ? undefined : jobSignatureProblem(job.data, o.secret)
      if (problem) throw refused(new JobNotSigned({ worker: name, job: jobName, problem, secretEnv: QUEUE_SECRET_ENV }))
      const decoded = decodeJobData(job.data)
      if (Either.isLeft(decoded)) throw refused(new JobMalformed({ worker: name, job: jobName, detail: decoded.left }))
      const data = decoded.right
      const stage = printable(data.instance, FIELD_MAX)
      const forward = (p: StageJobProgress) =>
        void job.updateProgress(p).catch((e: unknown) => o.write(`warning: progress of ${stage} not sent: ${describeError(e)}`))
      forward({ kind: "taken", worker: name })
      o.write(
        `took ${stage} (${data.key.slice(0, 12)}${job.attemptsStarted > 1 ? `, try ${job.attemptsStarted}` : ""}) from ${printable(data.coordinator, FIELD_MAX)}`,
      )
      const effect = Effect.provideService(processJob(o, name, data, loadedCode), Reporter, jobReporter(print, forward))
      const fiber = Runtime.runFork(runtime)(effect)
      const cancel = () => Runtime.runFork(runtime)(Fiber.interrupt(fiber))
      signal?.addEventListener("abort", cancel, { once: true })
      const exit = await Runtime.runPromise(runtime)(Fiber.await(fiber))
      signal?.removeEventListener("abort", cancel)
      if (Exit.isSuccess(exit)) {
        const r = exit.value
        o.write(`${r.cached ? "cached" : "ran   "} ${`${r.seconds.toFixed(2)}s`.padStart(8)}  ${stage}`)
        return r
      }
      if (Cause.isInterruptedOnly(exit.cause)) {
        // Stopped: the job goes back to wait for another worker (no try is spent).
        const back = token
          ? await withinMs(job.moveToWait(token), Math.min(o.settings.connectMs, CLOSE_MS)).then(
              () => "back on the queue",
              (e: unknown) => `not handed back (${describeError(e)}): another worker takes it once its lock expires`,
            )
          : "not handed back: another worker takes it once its lock expires"
        o.write(`stopped ${stage}: ${back}`)
        throw new WaitingError()
      }
      const failure = Cause.failureOption(exit.cause)
      const message = printable(
        Option.match(failure, { onNone: () => `${stage}: ${Cause.pretty(exit.cause).split("\n")[0] ?? "defect"}`, onSome: (e) => e.message }),
        LINE_MAX,
      )
      o.write(`FAILED ${stage}: ${message}`)
      if (Option.isSome(failure) && (failure.value instanceof JobRefused || failure.value instanceof JobMalformed)) throw new UnrecoverableError(message)
      throw new Error(message)
    }

    const worker = yield* Effect.acquireRelease(
      Effect.sync(
        () =>
          new Worker(o.target.name, processor, {
            connection: client,
            concurrency: o.jobs,
            name,
            lockDuration: o.settings.lockMs,
            stalledInterval: o.settings.stalledMs,
            maxStalledCount: o.settings.maxStalled,
            autorun: false,
          }),
      ),
      (w) =>
        Effect.gen(function* () {
          stopping = true
          w.cancelAllJobs("the worker is stopping")
          // Still closing after STOP_MS (a job's completion retried while Redis is gone): its connections are cut.
          yield* closeWithin(w, STOP_MS)
        }),
    )
    let warnedAt = 0
    worker.on("error", (error) => {
      // BullMQ retries lost connections itself: one warning per burst of trouble.
      if (stopping || Date.now() - warnedAt < WARN_EVERY_MS) return
      warnedAt = Date.now()
      o.write(`warning: queue ${o.target.url}: ${printable(describeError(error), LINE_MAX)} (retrying)`)
    })
    worker.run().catch((error: unknown) => o.write(`warning: queue ${o.target.url}: the worker loop stopped: ${printable(describeError(error), LINE_MAX)}`))
    yield* answeredWithin(o.target, o.settings.connectMs, NOT_READY, () => worker.waitUntilReady())
    if (o.secret === undefined) {
      o.write(
        `warning: ${QUEUE_SECRET_ENV} is not set: whoever can write to the queue ${o.target.url} can run code on this worker as its user (BullMQ trusts Redis); set the same ${QUEUE_SECRET_ENV} on the coordinators and workers to take only signed jobs`,
      )
    }
    o.write(
      `cairn worker ${name}: queue ${o.target.url} (${o.target.name}), jobs ${o.jobs}, pipelines ${o.served.shown.join(", ")}, cache ${o.local.location}, remote cache ${redactUrl(o.remote.url)}${o.secret === undefined ? "" : ", signed jobs only"}`,
    )
    yield* Effect.never
  })
