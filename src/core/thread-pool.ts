/**
 * TypeScript modules in `worker_threads` workers, and a pool of them, as Effects: how a stage puts
 * its CPU work on several cores.
 *
 * One protocol between a pool and its workers (`serveTasks` on the worker side): a task goes out
 * with an id; the worker answers with progress events for it (optional), then its value, its error
 * (tag, message and plain fields, so the caller can rebuild a typed error) or, when the caller was
 * interrupted and sent a cancel, the news that it stopped. Interrupting a task interrupts its fiber
 * in the worker (cooperatively: at its next asynchronous step); the worker itself lives on.
 *
 * Workers load TypeScript through tsx whether the parent runs under `node --import tsx`, tsx's
 * register API (the `cairn` command) or vitest: they start with `--import <tsx>` and a small
 * bootstrap that imports the entry. tsx registers its hooks in worker threads only on recent Node
 * versions (22.22.3+, 24.11.1+); where it did not (Node 20), the first import fails with
 * ERR_UNKNOWN_FILE_EXTENSION and the bootstrap registers tsx through its ESM API and imports the
 * entry again (under another URL: the failed import is cached).
 */
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { isMainThread, parentPort, Worker } from "node:worker_threads"
import { Cause, Data, Deferred, Effect, Exit, Fiber, Option, Queue, type Scope } from "effect"

/** An error's fields that survive a structured clone: strings, numbers and booleans. */
export type PlainFields = Readonly<Record<string, string | number | boolean>>

/**
 * A task a worker could not do: its error's tag and message, as the worker saw them, and the
 * error's plain fields (for rebuilding a typed error on this side).
 */
export class WorkerTaskFailed extends Data.TaggedError("WorkerTaskFailed")<{
  readonly entry: string
  readonly tag: string
  readonly detail: string
  readonly fields: PlainFields
}> {
  override get message(): string {
    return this.detail
  }
}

const require = createRequire(import.meta.url)

/** `--import <tsx>` with tsx's loader given by absolute URL (whatever the working directory is). */
export const workerExecArgv = (): ReadonlyArray<string> => ["--import", pathToFileURL(require.resolve("tsx")).href]

let tsxApiUrl: string | undefined

/** The file URL of tsx's ESM register API (`exports["./esm/api"].import` of tsx's package.json). */
const tsxEsmApiUrl = (): string => {
  if (tsxApiUrl !== undefined) return tsxApiUrl
  const pkgFile = require.resolve("tsx/package.json")
  const pkg = JSON.parse(fs.readFileSync(pkgFile, "utf8")) as {
    exports?: Record<string, { import?: { default?: string } | string } | string>
  }
  const entry = pkg.exports?.["./esm/api"]
  const target = typeof entry === "object" ? (typeof entry.import === "object" ? entry.import.default : entry.import) : undefined
  if (target === undefined) throw new Error(`${pkgFile} has no "./esm/api" import export`)
  tsxApiUrl = pathToFileURL(path.join(path.dirname(pkgFile), target)).href
  return tsxApiUrl
}

/** The worker's (eval'd) bootstrap: import the entry, registering tsx first if needed. */
const bootstrap = (entry: string): string =>
  [
    `import(${JSON.stringify(entry)}).catch((error) => {`,
    `  if (!error || error.code !== "ERR_UNKNOWN_FILE_EXTENSION") throw error`,
    `  return import(${JSON.stringify(tsxEsmApiUrl())}).then((tsx) => {`,
    `    tsx.register()`,
    `    return import(${JSON.stringify(`${entry}?tsx-registered`)})`,
    `  })`,
    `})`,
  ].join("\n")

/** Starts a worker thread running the TypeScript module `entry`. */
export const startTsWorker = (entry: URL, workerData?: unknown): Worker =>
  new Worker(bootstrap(entry.href), { eval: true, workerData, execArgv: [...workerExecArgv()] })

/** Asks a worker to release what it holds and exit (the pool's shutdown). */
const CLOSE = "cairn:close"

/** Messages from a pool to a worker. */
type ToWorker<I> = { readonly type: "task"; readonly id: number; readonly input: I } | { readonly type: "cancel"; readonly id: number } | typeof CLOSE

/** Messages from a worker to its pool. */
type FromWorker =
  | { readonly type: "progress"; readonly id: number; readonly progress: unknown }
  | { readonly type: "done"; readonly id: number; readonly value: unknown }
  | { readonly type: "failed"; readonly id: number; readonly tag: string; readonly detail: string; readonly fields: PlainFields }
  | { readonly type: "stopped"; readonly id: number }

/** Properties of an Error that are not fields of the error. */
const NOT_FIELDS: ReadonlySet<string> = new Set(["_tag", "message", "stack", "name"])

const plainFields = (error: object): PlainFields => {
  const out: Record<string, string | number | boolean> = {}
  for (const [key, value] of Object.entries(error)) {
    if (NOT_FIELDS.has(key)) continue
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") out[key] = value
  }
  return out
}

/** An error as it crosses threads: tag, message and plain fields. */
const describe = (error: unknown): { tag: string; detail: string; fields: PlainFields } => {
  if (typeof error === "object" && error !== null) {
    const tag = (error as { _tag?: unknown })._tag
    const message = (error as { message?: unknown }).message
    return {
      tag: typeof tag === "string" ? tag : error instanceof Error ? error.name : "Error",
      detail: typeof message === "string" ? message : String(error),
      fields: plainFields(error),
    }
  }
  return { tag: "Error", detail: String(error), fields: {} }
}

/** The answer to a finished task. */
const replyOf = (id: number, exit: Exit.Exit<unknown, unknown>): FromWorker => {
  if (Exit.isSuccess(exit)) return { type: "done", id, value: exit.value }
  if (Cause.isInterruptedOnly(exit.cause)) return { type: "stopped", id }
  const failure = Cause.failureOption(exit.cause)
  const cause = Option.isSome(failure) ? failure.value : Option.getOrElse(Cause.dieOption(exit.cause), () => Cause.pretty(exit.cause))
  return { type: "failed", id, ...describe(cause) }
}

/**
 * Call in a worker entry module: answers the pool's tasks with `handler`, which may report
 * progress through its second argument. Does nothing when the module is imported on the main
 * thread. A cancelled task's fiber is interrupted. When the pool closes, `onClose` runs (release
 * native resources: a native library torn down by a thread's termination can abort the whole
 * process) and the worker exits.
 */
export const serveTasks = <I, O, P = never>(
  handler: (input: I, progress: (event: P) => void) => Effect.Effect<O, unknown>,
  onClose?: () => Promise<void>,
): void => {
  if (isMainThread || parentPort === null) return
  const port = parentPort
  const running = new Map<number, Fiber.RuntimeFiber<O, unknown>>()
  const post = (message: FromWorker): void => {
    try {
      port.postMessage(message)
    } catch (error) {
      // A value that cannot be cloned (a function, say): the task fails with why.
      if (message.type === "progress" || message.type === "failed") throw error
      port.postMessage({ type: "failed", id: message.id, ...describe(error) } satisfies FromWorker)
    }
  }
  port.on("message", (message: ToWorker<I>) => {
    if (message === CLOSE) {
      void (onClose ? onClose() : Promise.resolve()).finally(() => port.close())
      return
    }
    if (message.type === "cancel") {
      const fiber = running.get(message.id)
      if (fiber) Effect.runFork(Fiber.interrupt(fiber))
      return
    }
    const { id } = message
    const fiber = Effect.runFork(handler(message.input, (progress) => post({ type: "progress", id, progress })))
    running.set(id, fiber)
    fiber.addObserver((exit) => {
      running.delete(id)
      post(replyOf(id, exit))
    })
  })
}

export interface RunOptions<P> {
  /** Called with each progress event of the task, on this thread, until it ends or is interrupted. */
  readonly onProgress?: (event: P) => void
}

export interface WorkerPool<I, O, P = never> {
  /**
   * Runs one task on the first free lane (workers start on first use). Interrupting it cancels the
   * task in its worker; its lane is reused once the worker has stopped it.
   */
  readonly run: (input: I, options?: RunOptions<P>) => Effect.Effect<O, WorkerTaskFailed>
  /** How many tasks the pool takes at once: run this many concurrently to keep every lane busy. */
  readonly capacity: number
}

export interface WorkerPoolOptions<I, O, P = never> {
  /**
   * Tasks queued per worker (default 2): a worker that has its next task waiting never idles
   * while this thread is busy (with its inline lane, say) and cannot hand it one. Long tasks that
   * should not share a worker's thread: 1.
   */
  readonly depth?: number
  /**
   * The same task run on this thread. Given, it is one of the pool's `size` lanes: work starts at
   * once, while the workers are still loading (a worker takes a second or two to start).
   */
  readonly inline?: (input: I, progress: (event: P) => void) => Effect.Effect<O, unknown>
}

type Lane = Worker | "inline"

/** A task sent to a worker and not answered yet. */
interface Pending<O, P> {
  readonly worker: Worker
  readonly result: Deferred.Deferred<O, WorkerTaskFailed>
  readonly onProgress: ((event: P) => void) | undefined
  /** Set once the caller is interrupted: done when the worker has stopped the task (or died). */
  stopped: Deferred.Deferred<void> | undefined
}

/** Tasks queued per worker by default. */
const DEFAULT_WORKER_DEPTH = 2

/** How long a closing worker may take before it is terminated. */
const WORKER_CLOSE_TIMEOUT_MS = 5000

/** How long a cancelled task may take to stop before its lane is handed out again anyway. */
const WORKER_CANCEL_TIMEOUT_MS = 5000

const noProgress = (): void => undefined

/**
 * A pool of `size` lanes running `entry` (a module calling `serveTasks`): worker threads started on
 * first use and terminated when the scope closes, plus this thread when `options.inline` is given.
 * Tasks queue until a lane is free. A worker that crashes fails its tasks; a new one replaces it.
 */
export const makeWorkerPool = <I, O, P = never>(
  entry: URL,
  size: number,
  options: WorkerPoolOptions<I, O, P> = {},
): Effect.Effect<WorkerPool<I, O, P>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const name = path.basename(entry.pathname)
    const idle = yield* Queue.unbounded<Lane>()
    const inline = options.inline
    if (inline) yield* Queue.offer(idle, "inline")
    const maxWorkers = inline ? size - 1 : size
    const depth = Math.max(1, options.depth ?? DEFAULT_WORKER_DEPTH)
    /** The live workers. */
    const workers: Array<Worker> = []
    const dead = new WeakSet<Worker>()
    const pending = new Map<number, Pending<O, P>>()
    let nextId = 0
    const failed = (tag: string, detail: string) => new WorkerTaskFailed({ entry: name, tag, detail, fields: {} })
    // Shutdown: ask each worker to close and wait for it to exit; terminate it if it does not.
    yield* Effect.addFinalizer(() =>
      Effect.promise(() =>
        Promise.all(
          workers.map(
            (w) =>
              new Promise<void>((resolve) => {
                const timer = setTimeout(() => void w.terminate().then(() => resolve()), WORKER_CLOSE_TIMEOUT_MS)
                w.once("exit", () => {
                  clearTimeout(timer)
                  resolve()
                })
                w.postMessage(CLOSE satisfies ToWorker<I>)
              }),
          ),
        ),
      ),
    )
    /** A worker died: its tasks fail, and it leaves the pool (its lanes are dropped when taken). */
    const bury = (w: Worker, detail: string) => {
      if (dead.has(w)) return
      dead.add(w)
      workers.splice(workers.indexOf(w), 1)
      for (const [id, p] of pending) {
        if (p.worker !== w) continue
        pending.delete(id)
        if (p.stopped) Deferred.unsafeDone(p.stopped, Exit.void)
        else Deferred.unsafeDone(p.result, Exit.fail(failed("WorkerCrashed", detail)))
      }
    }
    const answer = (message: FromWorker) => {
      const p = pending.get(message.id)
      if (!p) return
      if (message.type === "progress") {
        if (!p.stopped) p.onProgress?.(message.progress as P)
        return
      }
      pending.delete(message.id)
      if (p.stopped) {
        Deferred.unsafeDone(p.stopped, Exit.void)
        return
      }
      switch (message.type) {
        case "done":
          Deferred.unsafeDone(p.result, Exit.succeed(message.value as O))
          return
        case "failed":
          Deferred.unsafeDone(p.result, Exit.fail(new WorkerTaskFailed({ entry: name, tag: message.tag, detail: message.detail, fields: message.fields })))
          return
        case "stopped":
          Deferred.unsafeDone(p.result, Exit.fail(failed("Interrupted", `worker ${name} stopped the task unasked`)))
      }
    }
    const spawn = () => {
      const w = startTsWorker(entry)
      w.on("message", answer)
      w.on("error", (error) => bury(w, `worker ${name} crashed: ${error.message}`))
      w.on("exit", (code) => bury(w, `worker ${name} exited with code ${code}`))
      workers.push(w)
      // The worker's other slots are free at once; the caller takes the first.
      for (let i = 1; i < depth; i++) Effect.runSync(Queue.offer(idle, w))
      return w
    }
    const usable = (lane: Lane): Effect.Effect<Lane> => (lane !== "inline" && dead.has(lane) ? acquire : Effect.succeed(lane))
    const acquire: Effect.Effect<Lane> = Effect.suspend(() =>
      Effect.flatMap(Queue.poll(idle), (free) =>
        Option.isSome(free) ? usable(free.value) : workers.length < maxWorkers ? Effect.sync(spawn) : Effect.flatMap(Queue.take(idle), usable),
      ),
    )
    const inWorker = (w: Worker, input: I, onProgress: ((event: P) => void) | undefined) =>
      Effect.gen(function* () {
        const result = yield* Deferred.make<O, WorkerTaskFailed>()
        const id = nextId++
        const entry: Pending<O, P> = { worker: w, result, onProgress, stopped: undefined }
        pending.set(id, entry)
        w.postMessage({ type: "task", id, input } satisfies ToWorker<I>)
        // Interrupted: cancel the task, and wait (bounded) until the worker has stopped it.
        return yield* Deferred.await(result).pipe(
          Effect.onInterrupt(() =>
            Effect.gen(function* () {
              if (!pending.has(id)) return
              const stopped = yield* Deferred.make<void>()
              entry.stopped = stopped
              w.postMessage({ type: "cancel", id } satisfies ToWorker<I>)
              const timer = setTimeout(() => Deferred.unsafeDone(stopped, Exit.void), WORKER_CANCEL_TIMEOUT_MS)
              yield* Deferred.await(stopped)
              clearTimeout(timer)
            }),
          ),
        )
      })
    const run = (input: I, runOptions: RunOptions<P> = {}) =>
      Effect.acquireUseRelease(
        acquire,
        (lane) =>
          lane === "inline"
            ? Effect.mapError(inline!(input, runOptions.onProgress ?? noProgress), (error) => new WorkerTaskFailed({ entry: name, ...describe(error) }))
            : inWorker(lane, input, runOptions.onProgress),
        (lane) => Queue.offer(idle, lane),
      )
    return { run, capacity: (inline ? 1 : 0) + maxWorkers * depth }
  })
