/** `cairn worker`: runs stage jobs from a queue in this checkout until SIGINT/SIGTERM. */
import { Command, Options } from "@effect/cli"
import { Effect, Either, Option } from "effect"
import { ConfigError } from "../../core/errors.js"
import { queueConfigFrom } from "../../core/queue/run-setting.js"
import { servedFoldersFrom } from "../../core/queue/served.js"
import { runStageWorker } from "../../core/queue/stage-worker.js"
import { LocalStore } from "../../core/store/local/local-store.js"
import { remoteCacheFromUrl } from "../../core/store/remote/from-url.js"
import { EXIT_INTERRUPTED, UsageError } from "../cli-errors.js"
import { load } from "../load.js"
import { cacheDirOpt, jobsOpt, pipelinesDirOpt, remoteCacheOpt } from "../options.js"
import { cacheDirFor, defaultJobs, projectRootOf } from "../project.js"

/** How long a stopped worker's process may linger before it exits anyway. */
const EXIT_AFTER_STOP_MS = 1_000

export const workerCommand = Command.make(
  "worker",
  {
    queue: Options.text("queue").pipe(Options.withDescription("the queue to take stage jobs from: redis://host:port[/db][?queue=NAME]")),
    jobs: jobsOpt,
    cacheDir: cacheDirOpt,
    remoteCache: remoteCacheOpt,
    pipelines: pipelinesDirOpt,
  },
  (o) =>
    Effect.scoped(
      Effect.gen(function* () {
        const { target, settings, secret } = yield* queueConfigFrom(o.queue, process.env)
        const remoteUrl = Option.getOrElse(o.remoteCache, () => process.env.CAIRN_REMOTE_CACHE ?? "")
        if (!remoteUrl) return yield* new UsageError({ detail: "a worker needs --remote-cache URL (or $CAIRN_REMOTE_CACHE): its results travel through it" })
        const jobs = Option.getOrElse(o.jobs, defaultJobs)
        if (jobs < 1) return yield* new UsageError({ detail: "--jobs must be at least 1" })
        const root = projectRootOf(process.cwd())
        const cacheDir = cacheDirFor(root, Option.getOrUndefined(o.cacheDir))
        const remote = yield* Effect.mapError(remoteCacheFromUrl(remoteUrl), (e) => new ConfigError({ file: "--remote-cache", detail: e.message }))
        const local = yield* LocalStore.make(cacheDir, root)
        const served = servedFoldersFrom(root, process.cwd(), o.pipelines, cacheDir)
        if (Either.isLeft(served)) return yield* new UsageError({ detail: served.left })
        yield* runStageWorker({
          target,
          settings,
          jobs,
          served: served.right,
          secret,
          local,
          remote,
          loadPlan: (file, params) => Effect.map(load(file, params, Option.some(cacheDir)), (l) => l.plan),
          write: (line) => process.stdout.write(`${line}\n`),
        })
      }),
    ).pipe(
      // Once stopped, BullMQ's own retry timers (Redis gone) must not keep the process: it ends soon after.
      Effect.ensuring(Effect.sync(() => setTimeout(() => process.exit(process.exitCode ?? EXIT_INTERRUPTED), EXIT_AFTER_STOP_MS).unref())),
    ),
).pipe(Command.withDescription("run stage jobs from a queue (cairn run --queue) until stopped; results go to the remote cache"))
