import * as fs from "node:fs"
import * as path from "node:path"
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { LINE_MAX, printable } from "../../core/printable.js"
import { RunHistory } from "../../core/store/run-history.js"
import { UsageError } from "../cli-errors.js"
import { findRun, historyEntries, renderDiff, renderRuns } from "../history-view.js"
import { skippedHistoryFiles } from "../history-files.js"
import { comparisonCsv, compareRuns, renderComparison, selectRuns } from "../runs-compare.js"
import { writeRunsPage } from "../runs-html.js"
import { storeLayer } from "../load.js"
import { cacheDirOpt } from "../options.js"
import { cacheDirFor, loadPipeline, projectRootOf } from "../project.js"

/** The runs recorded in the store, oldest first; a history file that cannot be shown is named in a warning. */
const entriesOf = (root: string, cacheDir: Option.Option<string>, pipeline?: string) =>
  Effect.gen(function* () {
    const dir = cacheDirFor(root, Option.getOrUndefined(cacheDir))
    if (!fs.existsSync(dir)) return []
    const history = yield* RunHistory.pipe(Effect.provide(storeLayer({ cacheDir: dir, root })))
    const files = yield* history.listHistory(pipeline)
    // The reason may quote the file's content (a JSON syntax error does): printed as one safe line.
    for (const s of skippedHistoryFiles(files))
      yield* Console.error(`warning: run history file ${printable(s.file, LINE_MAX)} left out: ${printable(s.reason)}`)
    return historyEntries(files)
  })

export const runsCommand = Command.make(
  "runs",
  {
    targets: Args.text({ name: "pipeline-or-run" }).pipe(Args.repeated, Args.withDescription("a pipeline (file or name) to list, or run ids to compare")),
    cacheDir: cacheDirOpt,
    json: Options.boolean("json").pipe(Options.withDescription("print as JSON (compared: one object per run, with its params and metrics)")),
    sweep: Options.text("sweep").pipe(Options.optional, Options.withDescription("compare the variants of this sweep: last, or its id")),
    baseline: Options.text("baseline").pipe(
      Options.optional,
      Options.withDescription("the run the others are compared with (default: the first variant or run given)"),
    ),
    csv: Options.boolean("csv").pipe(Options.withDescription("print the comparison as CSV")),
    html: Options.text("html").pipe(Options.optional, Options.withDescription("write the comparison, with charts, as an HTML page to this file")),
  },
  (o) =>
    Effect.gen(function* () {
      let name: string | undefined
      let root = projectRootOf(process.cwd())
      const [first] = o.targets
      const listing = o.targets.length === 1 && Option.isNone(o.sweep) && Option.isNone(o.baseline) && Option.isNone(o.html) && !o.csv
      if (listing && first !== undefined && fs.existsSync(first)) {
        const p = yield* loadPipeline(first)
        name = p.name
        root = projectRootOf(path.dirname(p.file))
      }
      const entries = yield* entriesOf(root, o.cacheDir, name)
      // One name that is no run id: a pipeline's runs, as before.
      if (name !== undefined || (listing && first !== undefined && typeof findRun(entries, first) === "string" && entries.some((e) => e.pipeline === first))) {
        const shown = entries.filter((e) => e.pipeline === (name ?? first))
        return yield* Console.log(o.json ? JSON.stringify(shown, null, 2) : renderRuns(shown))
      }
      const comparing = o.targets.length > 0 || Option.isSome(o.sweep) || Option.isSome(o.baseline) || Option.isSome(o.html) || o.csv
      if (!comparing) return yield* Console.log(o.json ? JSON.stringify(entries, null, 2) : renderRuns(entries))
      const selected = selectRuns(entries, o.targets.length > 0 ? Option.getOrUndefined(o.sweep) : Option.getOrElse(o.sweep, () => "last"), o.targets)
      if (typeof selected === "string") return yield* new UsageError({ detail: selected })
      const baseline = Option.isSome(o.baseline) ? findRun(entries, o.baseline.value) : undefined
      if (typeof baseline === "string") return yield* new UsageError({ detail: `--baseline: ${baseline}` })
      const runs = compareRuns(selected, baseline)
      if (Option.isSome(o.html)) yield* Console.error(`wrote ${yield* writeRunsPage(runs, o.html.value)}`)
      yield* Console.log(o.json ? JSON.stringify(runs, null, 2) : o.csv ? comparisonCsv(runs) : renderComparison(runs))
    }),
).pipe(Command.withDescription("list past runs, or compare runs (a sweep's variants, or run ids) in one table"))

export const diffCommand = Command.make("diff", { a: Args.text({ name: "run-a" }), b: Args.text({ name: "run-b" }), cacheDir: cacheDirOpt }, (o) =>
  Effect.gen(function* () {
    const entries = yield* entriesOf(projectRootOf(process.cwd()), o.cacheDir)
    const a = findRun(entries, o.a)
    const b = findRun(entries, o.b)
    if (typeof a === "string") return yield* new UsageError({ detail: a })
    if (typeof b === "string") return yield* new UsageError({ detail: b })
    yield* Console.log(renderDiff(a, b))
  }),
).pipe(Command.withDescription("params and metrics of two runs side by side"))
