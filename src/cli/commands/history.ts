import * as fs from "node:fs"
import * as path from "node:path"
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { LINE_MAX, printable } from "../../core/printable.js"
import { RunHistory } from "../../core/store/run-history.js"
import { UsageError } from "../errors.js"
import { findRun, historyEntries, renderDiff, renderRuns } from "../history-view.js"
import { skippedHistoryFiles } from "../history-files.js"
import { storeLayer } from "../load.js"
import { cacheDirOpt, pipelineArg } from "../options.js"
import { cacheDirFor, loadPipeline, projectRootOf } from "../project.js"

/** The runs recorded in the store, oldest first; a history file that cannot be shown is named in a warning. */
const entriesOf = (root: string, cacheDir: Option.Option<string>, pipeline?: string) =>
  Effect.gen(function* () {
    const dir = cacheDirFor(root, Option.getOrUndefined(cacheDir))
    if (!fs.existsSync(dir)) return []
    const history = yield* RunHistory.pipe(Effect.provide(storeLayer({ cacheDir: dir, root })))
    const files = yield* history.listHistory(pipeline)
    // The reason may quote the file's content (a JSON syntax error does): printed as one safe line.
    for (const s of skippedHistoryFiles(files)) yield* Console.error(`warning: run history file ${printable(s.file, LINE_MAX)} left out: ${printable(s.reason)}`)
    return historyEntries(files)
  })

export const runsCommand = Command.make(
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
      const entries = yield* entriesOf(root, o.cacheDir, name)
      yield* Console.log(o.json ? JSON.stringify(entries, null, 2) : renderRuns(entries))
    }),
).pipe(Command.withDescription("list past runs with their headline metric and changed params"))

export const diffCommand = Command.make(
  "diff",
  { a: Args.text({ name: "run-a" }), b: Args.text({ name: "run-b" }), cacheDir: cacheDirOpt },
  (o) =>
    Effect.gen(function* () {
      const entries = yield* entriesOf(projectRootOf(process.cwd()), o.cacheDir)
      const a = findRun(entries, o.a)
      const b = findRun(entries, o.b)
      if (typeof a === "string") return yield* new UsageError({ detail: a })
      if (typeof b === "string") return yield* new UsageError({ detail: b })
      yield* Console.log(renderDiff(a, b))
    }),
).pipe(Command.withDescription("params and metrics of two runs side by side"))
