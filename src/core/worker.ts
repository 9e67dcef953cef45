/**
 * TypeScript modules in `worker_threads` workers, and a pool of them, as Effects: how a stage puts
 * its CPU work on several cores.
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
import { Cause, Data, Deferred, Effect, Exit, Option, Queue, type Scope } from "effect"

/** A task a worker could not do: its error's tag and message, as the worker saw them. */
export class WorkerTaskFailed extends Data.TaggedError("WorkerTaskFailed")<{
  readonly entry: string
  readonly tag: string
  readonly detail: string
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

type Reply = { readonly id: number; readonly ok: true; readonly value: unknown } | { readonly id: number; readonly ok: false; readonly tag: string; readonly detail: string }

const describe = (error: unknown): { tag: string; detail: string } => {
  if (typeof error === "object" && error !== null) {
    const tag = (error as { _tag?: unknown })._tag
    const message = (error as { message?: unknown }).message
    return { tag: typeof tag === "string" ? tag : error instanceof Error ? error.name : "Error", detail: typeof message === "string" ? message : String(error) }
  }
  return { tag: "Error", detail: String(error) }
}

/** Asks a worker to release what it holds and exit (the pool's shutdown). */
const CLOSE = "cairn:close"

/**
 * Call in a worker entry module: answers the pool's tasks with `handler`, one at a time. Does
 * nothing when the module is imported on the main thread. When the pool closes, `onClose` runs
 * (release native resources: a native library torn down by a thread's termination can abort the
 * whole process) and the worker exits.
 */
export const serveTasks = <I, O>(handler: (input: I) => Effect.Effect<O, unknown>, onClose?: () => Promise<void>): void => {
  if (isMainThread || parentPort === null) return
  const port = parentPort
  port.on("message", (message: { readonly id: number; readonly input: I } | typeof CLOSE) => {
    if (message === CLOSE) {
      void (onClose ? onClose() : Promise.resolve()).finally(() => port.close())
      return
    }
    void Effect.runPromiseExit(handler(message.input)).then((exit) => {
      if (Exit.isSuccess(exit)) {
        port.postMessage({ id: message.id, ok: true, value: exit.value } satisfies Reply)
        return
      }
      const failure = Cause.failureOption(exit.cause)
      const cause = Option.isSome(failure) ? failure.value : Option.getOrElse(Cause.dieOption(exit.cause), () => Cause.pretty(exit.cause))
      port.postMessage({ id: message.id, ok: false, ...describe(cause) } satisfies Reply)
    })
  })
}

export interface WorkerPool<I, O> {
  /** Runs one task on the first free lane (workers start on first use). */
  readonly run: (input: I) => Effect.Effect<O, WorkerTaskFailed>
  /** How many tasks the pool takes at once: run this many concurrently to keep every lane busy. */
  readonly capacity: number
}

export interface WorkerPoolOptions<I, O> {
  /**
   * Tasks queued per worker (default 2): a worker that has its next task waiting never idles
   * while this thread is busy (with its inline lane, say) and cannot hand it one.
   */
  readonly depth?: number
  /**
   * The same task run on this thread. Given, it is one of the pool's `size` lanes: work starts at
   * once, while the workers are still loading (a worker takes a second or two to start).
   */
  readonly inline?: (input: I) => Effect.Effect<O, unknown>
}

type Lane = Worker | "inline"

/** Tasks queued per worker by default. */
const DEFAULT_WORKER_DEPTH = 2

/** How long a closing worker may take before it is terminated. */
const WORKER_CLOSE_TIMEOUT_MS = 5000

/**
 * A pool of `size` lanes running `entry` (a module calling `serveTasks`): worker threads started on
 * first use and terminated when the scope closes, plus this thread when `options.inline` is given.
 * Tasks queue until a lane is free.
 */
export const makeWorkerPool = <I, O>(entry: URL, size: number, options: WorkerPoolOptions<I, O> = {}): Effect.Effect<WorkerPool<I, O>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const name = path.basename(entry.pathname)
    const idle = yield* Queue.unbounded<Lane>()
    const inline = options.inline
    if (inline) yield* Queue.offer(idle, "inline")
    const maxWorkers = inline ? size - 1 : size
    const depth = Math.max(1, options.depth ?? DEFAULT_WORKER_DEPTH)
    const workers: Array<Worker> = []
    const pending = new Map<number, Deferred.Deferred<O, WorkerTaskFailed>>()
    let nextId = 0
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
                w.postMessage(CLOSE)
              }),
          ),
        ),
      ),
    )
    const failAll = (detail: string) => {
      for (const [id, d] of pending) {
        Effect.runSync(Deferred.fail(d, new WorkerTaskFailed({ entry: name, tag: "WorkerCrashed", detail })))
        pending.delete(id)
      }
    }
    const spawn = () => {
      const w = startTsWorker(entry)
      w.on("message", (reply: Reply) => {
        const d = pending.get(reply.id)
        if (!d) return
        pending.delete(reply.id)
        Effect.runSync(
          reply.ok ? Deferred.succeed(d, reply.value as O) : Deferred.fail(d, new WorkerTaskFailed({ entry: name, tag: reply.tag, detail: reply.detail })),
        )
      })
      w.on("error", (error) => failAll(`worker ${name} crashed: ${error.message}`))
      w.on("exit", (code) => {
        if (pending.size > 0) failAll(`worker ${name} exited with code ${code}`)
      })
      workers.push(w)
      // The worker's other slots are free at once; the caller takes the first.
      for (let i = 1; i < depth; i++) Effect.runSync(Queue.offer(idle, w))
      return w
    }
    const acquire: Effect.Effect<Lane> = Effect.flatMap(Queue.poll(idle), (free) =>
      Option.isSome(free) ? Effect.succeed(free.value) : workers.length < maxWorkers ? Effect.sync(spawn) : Queue.take(idle),
    )
    const run = (input: I) =>
      Effect.acquireUseRelease(
        acquire,
        (lane) =>
          lane === "inline"
            ? Effect.mapError(inline!(input), (error) => new WorkerTaskFailed({ entry: name, ...describe(error) }))
            : Effect.gen(function* () {
                const d = yield* Deferred.make<O, WorkerTaskFailed>()
                const id = nextId++
                pending.set(id, d)
                lane.postMessage({ id, input })
                return yield* Deferred.await(d)
              }),
        (lane) => Queue.offer(idle, lane),
      )
    return { run, capacity: (inline ? 1 : 0) + maxWorkers * depth }
  })
