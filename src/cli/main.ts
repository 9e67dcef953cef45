import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { Args, Command, Options, ValidationError } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Console, Data, Effect, Either, Exit, Fiber, Layer, Option } from "effect"
import { planEdges, renderDag } from "../core/dag.js"
import { ConfigError, describeError, ParamError } from "../core/errors.js"
import { formatSize, parseSize, readJsonFileSync } from "../core/fs-util.js"
import { type ParamOverride, parseOverride, type Plan, planPipeline, restrictPlan } from "../core/pipeline.js"
import { formatOutcome, ReporterLive } from "../core/reporter.js"
import { reportJson, type RunReport, runPlan } from "../core/runner.js"
import { pipelineStatus } from "../core/status.js"
import { CacheStore } from "../core/store.js"
import { removeStamp, replayDirFor, writeStamp } from "./fast-path.js"
import { findRun, listHistory, renderDiff, renderRuns } from "./history.js"
import { cacheDirFor, defaultJobs, loadPipeline, projectRootOf } from "./project.js"

/** Exit codes: 0 ok, 1 a stage failed, 2 usage or configuration error. */
export const EXIT_OK = 0
export const EXIT_STAGE_FAILED = 1
export const EXIT_USAGE = 2

class UsageError extends Error {}

/** The pipeline's after-run hook failed (the run itself succeeded). */
class AfterRunFailed extends Data.TaggedError("AfterRunFailed")<{ readonly detail: string }> {
  override get message(): string {
    return `after-run hook failed: ${this.detail}`
  }
}

const pipelineArg = Args.text({ name: "pipeline" }).pipe(Args.withDescription("a pipeline file, e.g. pipelines/hms-quick.ts"))
const paramOpt = Options.text("param").pipe(
  Options.withAlias("p"),
  Options.repeated,
  Options.withDescription("k=v (every stage declaring k) or stage.k=v; repeatable"),
)
const cacheDirOpt = Options.text("cache-dir").pipe(Options.optional, Options.withDescription("cache folder (default: <project>/cache or $CAIRN_CACHE_DIR)"))
const jobsOpt = Options.integer("jobs").pipe(Options.withAlias("j"), Options.optional, Options.withDescription("stages run at once (default: cores)"))

const parseParams = (raw: ReadonlyArray<string>) =>
  Effect.forEach(raw, (r) => {
    const e = parseOverride(r)
    return Either.isLeft(e) ? Effect.fail(e.left) : Effect.succeed(e.right)
  })

interface Loaded {
  readonly plan: Plan
  readonly root: string
  readonly cacheDir: string
}

const load = (file: string, params: ReadonlyArray<string>, cacheDir: Option.Option<string>) =>
  Effect.gen(function* () {
    const pipeline = yield* loadPipeline(file)
    const overrides: ReadonlyArray<ParamOverride> = yield* parseParams(params)
    const plan = yield* planPipeline(pipeline, overrides)
    const root = projectRootOf(path.dirname(pipeline.file))
    return { plan, root, cacheDir: cacheDirFor(root, Option.getOrUndefined(cacheDir)) } satisfies Loaded
  })

const storeLayer = (l: Loaded) => CacheStore.layer(l.cacheDir, l.root)

/** Copies a folder's files (the store's are read-only hard links) into `dest`, replacing it. */
const copyOut = (from: string, dest: string) =>
  Effect.try({
    try: () => {
      fs.rmSync(dest, { recursive: true, force: true })
      fs.mkdirSync(dest, { recursive: true })
      fs.cpSync(from, dest, { recursive: true, dereference: true })
      // Copies of read-only store objects are the user's: make them writable.
      const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
          const p = path.join(d, e.name)
          if (e.isDirectory()) walk(p)
          else fs.chmodSync(p, 0o644)
        }
      }
      walk(dest)
    },
    catch: (error) => new ConfigError({ file: dest, detail: `cannot copy ${from}: ${describeError(error)}` }),
  })

const summaryLines = (report: RunReport): Array<string> => {
  const count = (s: string) => report.stages.filter((x) => x.status === s).length
  const lines = [
    `${report.ok ? "ok" : "FAILED"}: ${count("ran")} ran, ${count("cached")} cached, ${count("failed")} failed, ${count("skipped")} skipped in ${report.seconds.toFixed(2)}s`,
  ]
  for (const s of report.stages.filter((x) => x.status === "failed")) lines.push(`  failed ${s.id}: ${s.error}`)
  return lines
}

const runHeader = (plan: Plan, jobs: number, cacheDir: string) =>
  `cairn run ${plan.pipeline.name}: ${plan.instances.length} stages, jobs ${jobs}, cache ${path.relative(process.cwd(), cacheDir) || "."}`

const metricLines = (metrics: RunReport["metrics"], plan: Plan): Array<string> => {
  const wanted = plan.pipeline.printMetrics
  const entries = Object.entries(metrics).filter(([k]) => !wanted || wanted.some((w) => (typeof w === "string" ? w === k : w.test(k))))
  if (entries.length === 0) return []
  return ["metrics:", ...entries.map(([k, v]) => `  ${k} = ${typeof v === "number" ? v : JSON.stringify(v)}`)]
}

const CLI_DIR = path.dirname(fileURLToPath(import.meta.url))

/** A folder as `dir/ (a.csv, b.json, +2 more)`: where a user finds what a run wrote. */
const showFolder = (dir: string): string => {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name).sort() : []
  const shown = files.slice(0, 3).join(", ") + (files.length > 3 ? `, +${files.length - 3} more` : "")
  return `${path.relative(process.cwd(), dir) || "."}/${shown ? ` (${shown})` : ""}`
}

/** Everything the fast path must see unchanged to replay this run (see fast-path.js). */
const stampFor = (l: Loaded, plan: Plan, report: RunReport, jobs: number, published: ReadonlyArray<[string, string]>, outRoot: string) =>
  Effect.gen(function* () {
    const store = yield* CacheStore
    const closure = yield* store.closures.closureOf(plan.pipeline.file)
    // cairn itself: its core, its CLI and its launcher (the pipeline's closure covers the rest).
    const framework = [path.join(CLI_DIR, "..", "core"), CLI_DIR, path.join(CLI_DIR, "..", "..", "bin")]
    const watch = [
      plan.pipeline.file,
      ...Object.keys(closure.files).map((f) => path.resolve(l.root, f)),
      ...report.watchFiles,
      ...framework,
      ...["package.json", "package-lock.json", "node_modules/.package-lock.json"].map((f) => path.join(l.root, f)),
      ...published.map(([, dest]) => dest),
    ]
    const records = report.stages.flatMap((s) => {
      const r = report.artifacts.get(s.id)?.record
      return r ? [store.recordPath(r.key)] : []
    })
    const trees = [...report.artifacts.values()].flatMap((r) => (r.output ? [store.treeDir(r.output.tree)] : []))
    const cachedStages = report.stages.map((s) => ({ ...s, status: "cached" as const, seconds: 0 }))
    const lines = [
      runHeader(plan, jobs, l.cacheDir),
      ...cachedStages.map(formatOutcome),
      ...summaryLines({ ...report, stages: cachedStages, seconds: 0 }),
      ...metricLines(report.metrics, plan),
      ...published.map(([id, dest]) => `published ${id} -> ${showFolder(dest)}`),
      ...(plan.pipeline.afterRun ? [`report -> ${showFolder(path.resolve(outRoot, plan.pipeline.afterRun.outDir))}`] : []),
    ]
    const json = reportJson({ ...report, stages: cachedStages })
    const copies: Array<readonly [string, string]> = []
    const after = plan.pipeline.afterRun
    const replayDir = replayDirFor(cliArgv)
    if (after && replayDir) {
      // What the after-run hook writes on a replay, rendered now: every stage cached.
      yield* writeAfterRun(plan, { ...report, stages: cachedStages, seconds: 0 }, replayDir)
      copies.push([replayDir, path.resolve(outRoot, after.outDir)])
    }
    return { watch, exists: [...records, ...trees], touch: records, lines, report: json, history: store.historyDir(plan.pipeline.name), copies }
  })

/** Runs the pipeline's after-run hook into a fresh `outDir`. */
const writeAfterRun = (plan: Plan, report: RunReport, outDir: string) =>
  Effect.gen(function* () {
    const after = plan.pipeline.afterRun
    if (!after) return
    fs.rmSync(outDir, { recursive: true, force: true })
    fs.mkdirSync(outDir, { recursive: true })
    const artifacts = new Map([...report.artifacts].map(([id, r]) => [id, r.artifact] as const))
    yield* Effect.mapError(
      after.write({
        pipeline: plan.pipeline.name,
        startedAt: report.startedAt,
        seconds: report.seconds,
        params: plan.globals,
        stages: report.stages.map((s) => ({ id: s.id, status: s.status, seconds: s.seconds })),
        edges: planEdges(plan).map(([a, b]) => [a, b] as const),
        artifacts,
        outDir,
      }),
      (e) => new AfterRunFailed({ detail: describeError(e) }),
    )
  })

const runCommand = Command.make(
  "run",
  {
    pipeline: pipelineArg,
    params: paramOpt,
    target: Options.text("target").pipe(Options.repeated, Options.withDescription("only this stage (and what it needs); repeatable")),
    jobs: jobsOpt,
    cacheDir: cacheDirOpt,
    force: Options.text("force").pipe(Options.repeated, Options.withDescription("rerun this stage even if cached; repeatable")),
    json: Options.text("json").pipe(Options.optional, Options.withDescription("write the run report as JSON to this file")),
    out: Options.text("out").pipe(Options.optional, Options.withDescription("folder for published outputs and reports (default: the project root)")),
  },
  (o) =>
    Effect.gen(function* () {
      const l = yield* load(o.pipeline, o.params, o.cacheDir)
      const outRoot = Option.isSome(o.out) ? path.resolve(o.out.value) : l.root
      const plan = yield* Either.match(restrictPlan(l.plan, o.target), { onLeft: Effect.fail, onRight: Effect.succeed })
      const jobs = Option.getOrElse(o.jobs, defaultJobs)
      if (jobs < 1) return yield* Effect.fail(new UsageError("--jobs must be at least 1"))
      yield* Console.log(runHeader(plan, jobs, l.cacheDir))
      removeStamp(cliArgv)
      const report = yield* runPlan(plan, { jobs, force: o.force }).pipe(
        Effect.provide(Layer.merge(storeLayer(l), ReporterLive.auto(process.stdout))),
      )
      for (const line of [...summaryLines(report), ...metricLines(report.metrics, plan)]) yield* Console.log(line)
      const published: Array<[string, string]> = []
      if (report.ok && o.target.length === 0) {
        for (const [dest, stage] of Object.entries(plan.pipeline.publish ?? {})) {
          const inst = plan.instances.find((i) => i.stage === stage)
          const art = inst && report.artifacts.get(inst.id)
          if (!art) continue
          const abs = path.resolve(outRoot, dest)
          yield* copyOut(art.artifact.dir, abs)
          published.push([inst.id, abs])
          yield* Console.log(`published ${inst.id} -> ${showFolder(abs)}`)
        }
      }
      if (report.ok && o.target.length === 0 && plan.pipeline.afterRun) {
        const outDir = path.resolve(outRoot, plan.pipeline.afterRun.outDir)
        yield* writeAfterRun(plan, report, outDir)
        yield* Console.log(`report -> ${showFolder(outDir)}`)
      }
      if (Option.isSome(o.json)) {
        const file = path.resolve(o.json.value)
        fs.mkdirSync(path.dirname(file), { recursive: true })
        fs.writeFileSync(file, `${JSON.stringify(reportJson(report), null, 2)}\n`)
      }
      if (!report.ok) {
        process.exitCode = EXIT_STAGE_FAILED
        return
      }
      if (o.target.length === 0 && o.force.length === 0) {
        const stamp = yield* Effect.either(stampFor(l, plan, report, jobs, published, outRoot).pipe(Effect.provide(storeLayer(l))))
        if (Either.isRight(stamp)) writeStamp(cliArgv, stamp.right)
      }
    }),
).pipe(Command.withDescription("run a pipeline: only what changed reruns"))

const statusCommand = Command.make(
  "status",
  { pipeline: pipelineArg, params: paramOpt, cacheDir: cacheDirOpt, json: Options.boolean("json").pipe(Options.withDescription("print JSON")) },
  (o) =>
    Effect.gen(function* () {
      const l = yield* load(o.pipeline, o.params, o.cacheDir)
      const status = yield* pipelineStatus(l.plan).pipe(Effect.provide(storeLayer(l)))
      if (o.json) {
        yield* Console.log(JSON.stringify(status.map(({ changes: _c, ...s }) => s), null, 2))
        return
      }
      const width = Math.max(...status.map((s) => s.id.length))
      for (const s of status) {
        yield* Console.log(`${s.state === "fresh" ? "fresh" : "STALE"}  ${s.id.padEnd(width)}${s.reasons.length ? `  ${s.reasons[0]}` : ""}`)
        for (const r of s.reasons.slice(1)) yield* Console.log(`       ${" ".repeat(width)}  ${r}`)
      }
      const stale = status.filter((s) => s.state === "stale").length
      yield* Console.log(stale === 0 ? "everything is fresh" : `${stale} of ${status.length} stages would run`)
    }),
).pipe(Command.withDescription("say which stages are stale and which field of their key changed"))

const dagCommand = Command.make(
  "dag",
  {
    pipeline: pipelineArg,
    params: paramOpt,
    format: Options.choice("format", ["text", "mermaid", "dot"]).pipe(Options.withDefault("text" as const)),
  },
  (o) =>
    Effect.gen(function* () {
      const pipeline = yield* loadPipeline(o.pipeline)
      const plan = yield* planPipeline(pipeline, yield* parseParams(o.params))
      yield* Console.log(renderDag(plan, o.format))
    }),
).pipe(Command.withDescription("print the pipeline's graph"))

const exportCommand = Command.make(
  "export",
  {
    pipeline: pipelineArg,
    stage: Args.text({ name: "stage-id" }),
    dest: Args.text({ name: "dest" }),
    params: paramOpt,
    jobs: jobsOpt,
    cacheDir: cacheDirOpt,
  },
  (o) =>
    Effect.gen(function* () {
      const l = yield* load(o.pipeline, o.params, o.cacheDir)
      const plan = yield* Either.match(restrictPlan(l.plan, [o.stage]), { onLeft: Effect.fail, onRight: Effect.succeed })
      const targets = plan.instances.filter((i) => i.id === o.stage || i.stage.name === o.stage)
      const report = yield* runPlan(plan, { jobs: Option.getOrElse(o.jobs, defaultJobs), force: [] }).pipe(
        Effect.provide(Layer.merge(storeLayer(l), ReporterLive.auto(process.stderr))),
      )
      if (!report.ok) {
        for (const line of summaryLines(report)) yield* Console.error(line)
        process.exitCode = EXIT_STAGE_FAILED
        return
      }
      for (const t of targets) {
        const art = report.artifacts.get(t.id)!
        const dest = targets.length === 1 ? path.resolve(o.dest) : path.resolve(o.dest, t.id)
        yield* copyOut(art.artifact.dir, dest)
        yield* Console.log(`exported ${t.id} -> ${dest}`)
      }
    }),
).pipe(Command.withDescription("copy a stage's artifact out of the store (running what is missing first)"))

const gcCommand = Command.make(
  "gc",
  {
    cacheDir: cacheDirOpt,
    maxSize: Options.text("max-size").pipe(Options.optional, Options.withDescription("evict least recently used results until the store is this small (e.g. 5G)")),
    keepLast: Options.integer("keep-last").pipe(Options.optional, Options.withDescription("keep only results used by the last N runs of each pipeline and the current state")),
  },
  (o) =>
    Effect.gen(function* () {
      const dir = cacheDirFor(projectRootOf(process.cwd()), Option.getOrUndefined(o.cacheDir))
      const maxBytes = Option.isSome(o.maxSize) ? parseSize(o.maxSize.value) : undefined
      if (Option.isSome(o.maxSize) && maxBytes === undefined) return yield* Effect.fail(new UsageError(`--max-size: cannot read "${o.maxSize.value}"`))
      if (!fs.existsSync(dir)) return yield* Console.log(`no cache at ${dir}`)
      const store = yield* CacheStore.pipe(Effect.provide(CacheStore.layer(dir, projectRootOf(process.cwd()))))
      const r = yield* store.gc({ keepLast: Option.getOrUndefined(o.keepLast), maxBytes })
      yield* Console.log(
        `gc: removed ${r.removedRuns} results, ${r.removedItems} items, ${r.removedTrees} trees, ${r.removedObjects} objects; ${formatSize(r.bytesBefore)} -> ${formatSize(r.bytesAfter)}`,
      )
    }),
).pipe(Command.withDescription("remove cached results no longer needed"))

const cleanCommand = Command.make("clean", { cacheDir: cacheDirOpt }, (o) =>
  Effect.gen(function* () {
    const dir = cacheDirFor(projectRootOf(process.cwd()), Option.getOrUndefined(o.cacheDir))
    fs.rmSync(dir, { recursive: true, force: true })
    yield* Console.log(`removed ${dir}`)
  }),
).pipe(Command.withDescription("remove the whole cache"))

const runsCommand = Command.make(
  "runs",
  { pipeline: pipelineArg.pipe(Args.optional), cacheDir: cacheDirOpt, json: Options.boolean("json") },
  (o) =>
    Effect.gen(function* () {
      let name: string | undefined
      let root = projectRootOf(process.cwd())
      if (Option.isSome(o.pipeline)) {
        if (fs.existsSync(o.pipeline.value)) {
          const p = yield* loadPipeline(o.pipeline.value)
          name = p.name
          root = projectRootOf(path.dirname(p.file))
        } else name = o.pipeline.value
      }
      const entries = listHistory(cacheDirFor(root, Option.getOrUndefined(o.cacheDir)), name)
      yield* Console.log(o.json ? JSON.stringify(entries, null, 2) : renderRuns(entries))
    }),
).pipe(Command.withDescription("list past runs with their headline metric and changed params"))

const diffCommand = Command.make(
  "diff",
  { a: Args.text({ name: "run-a" }), b: Args.text({ name: "run-b" }), cacheDir: cacheDirOpt },
  (o) =>
    Effect.gen(function* () {
      const entries = listHistory(cacheDirFor(projectRootOf(process.cwd()), Option.getOrUndefined(o.cacheDir)))
      const a = findRun(entries, o.a)
      const b = findRun(entries, o.b)
      if (typeof a === "string") return yield* Effect.fail(new UsageError(a))
      if (typeof b === "string") return yield* Effect.fail(new UsageError(b))
      yield* Console.log(renderDiff(a, b))
    }),
).pipe(Command.withDescription("params and metrics of two runs side by side"))

const BIN = fileURLToPath(new URL("../../bin/cairn.js", import.meta.url))

const watchCommand = Command.make(
  "watch",
  {
    pipeline: pipelineArg,
    params: paramOpt,
    jobs: jobsOpt,
    cacheDir: cacheDirOpt,
    debounce: Options.integer("debounce").pipe(Options.withDefault(300), Options.withDescription("ms to wait for edits to settle")),
  },
  (o) =>
    Effect.async<void>(() => {
      const args = ["run", o.pipeline, ...o.params.flatMap((p) => ["--param", p])]
      if (Option.isSome(o.jobs)) args.push("--jobs", String(o.jobs.value))
      if (Option.isSome(o.cacheDir)) args.push("--cache-dir", o.cacheDir.value)
      let watcher: { close: () => Promise<void>; add: (p: Array<string>) => void; on: (e: string, f: (p: string) => void) => void } | undefined
      let timer: NodeJS.Timeout | undefined
      let running = false
      let again = false
      const reportFile = path.join(fs.mkdtempSync(path.join(process.env.TMPDIR ?? "/tmp", "cairn-watch-")), "report.json")
      const cycle = () => {
        if (running) {
          again = true
          return
        }
        running = true
        // Each run is a fresh process, so edited modules are loaded anew.
        const child = spawn(process.execPath, [BIN, ...args, "--json", reportFile], { stdio: "inherit" })
        child.on("exit", (code) => {
          const report = readJsonFileSync<{ watch?: { files?: Array<string> } }>(reportFile)
          const files = [path.resolve(o.pipeline), ...(report?.watch?.files ?? [])]
          void ensureWatcher(files).then(() => {
            running = false
            console.log(code === 0 ? "watch: run ok; waiting for changes" : `watch: run failed (exit ${code}); waiting for changes`)
            if (again) {
              again = false
              cycle()
            }
          })
        })
      }
      const ensureWatcher = async (files: Array<string>) => {
        if (watcher) {
          watcher.add(files)
          return
        }
        const chokidar = await import("chokidar")
        const w = chokidar.watch(files, { ignoreInitial: true })
        watcher = w as unknown as typeof watcher
        w.on("all", (_event: string, file?: string) => {
          if (timer) clearTimeout(timer)
          timer = setTimeout(() => {
            console.log(`watch: ${file ? path.relative(process.cwd(), file) : "a file"} changed`)
            cycle()
          }, o.debounce)
        })
        await new Promise<void>((resolve) => w.once("ready", () => resolve()))
      }
      cycle()
      return Effect.promise(async () => {
        if (timer) clearTimeout(timer)
        await watcher?.close()
        fs.rmSync(path.dirname(reportFile), { recursive: true, force: true })
      })
    }),
).pipe(Command.withDescription("rerun the pipeline whenever its code or input data changes"))

const cli = Command.make("cairn").pipe(
  Command.withSubcommands([runCommand, statusCommand, dagCommand, watchCommand, exportCommand, gcCommand, cleanCommand, runsCommand, diffCommand]),
)

const VERSION = "0.1.0"

const KNOWN = new Set(["run", "status", "dag", "watch", "export", "gc", "clean", "runs", "diff"])

/**
 * Project commands: `"cairn": { "commands": { "synth": "stages/hms/synth-command.ts" } }` in the
 * project's package.json adds `cairn synth ...`, implemented by that module's default export
 * `(argv) => Promise<number>`. The framework stays generic; projects bring their own tools.
 */
const projectCommand = async (argv: ReadonlyArray<string>): Promise<number | undefined> => {
  const name = argv[0]
  if (!name || name.startsWith("-") || KNOWN.has(name)) return undefined
  const root = projectRootOf(process.cwd())
  const pkg = readJsonFileSync<{ cairn?: { commands?: Record<string, string> } }>(path.join(root, "package.json"))
  const file = pkg?.cairn?.commands?.[name]
  if (!file) return undefined
  const mod = (await import(pathToFileURL(path.resolve(root, file)).href)) as { default?: (argv: ReadonlyArray<string>) => Promise<number> }
  if (typeof mod.default !== "function") {
    console.error(`cairn: ${file} must export a default function (argv) => Promise<number>`)
    return EXIT_USAGE
  }
  return mod.default(argv.slice(1))
}

/** Runs the CLI on `argv` (without node and script) and resolves to the exit code. */
let cliArgv: ReadonlyArray<string> = []

export const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  cliArgv = argv
  const custom = await projectCommand(argv)
  if (custom !== undefined) return custom
  const app = Command.run(cli, { name: "cairn", version: VERSION })
  const fiber = Effect.runFork(
    app(["node", "cairn", ...argv]).pipe(
      Effect.provide(NodeContext.layer),
      Effect.map(() => (typeof process.exitCode === "number" ? process.exitCode : EXIT_OK)),
      Effect.catchAll((error) =>
        Effect.sync(() => {
          if (ValidationError.isValidationError(error)) return EXIT_USAGE
          console.error(`cairn: ${describeError(error)}`)
          return error instanceof ConfigError || error instanceof ParamError || error instanceof UsageError ? EXIT_USAGE : EXIT_STAGE_FAILED
        }),
      ),
    ),
  )
  // Ctrl-C / SIGTERM interrupt the run: finalizers release locks and remove staging.
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`cairn: ${signal}, stopping`)
    Effect.runFork(Fiber.interrupt(fiber))
  }
  process.once("SIGINT", onSignal)
  process.once("SIGTERM", onSignal)
  const exit = await Effect.runPromise(Fiber.await(fiber))
  process.off("SIGINT", onSignal)
  process.off("SIGTERM", onSignal)
  return Exit.isSuccess(exit) ? exit.value : EXIT_INTERRUPTED
}

/** Exit status of a run stopped by a signal (128 + SIGINT's number, as shells report it). */
export const EXIT_INTERRUPTED = 130
