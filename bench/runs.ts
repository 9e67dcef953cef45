/**
 * `npm run bench:runs`: listing and comparing many stored runs. Writes N synthetic run records
 * (HMS-shaped: a CV, five fold scores, three seeds' CVs, 35 stages; grouped in sweeps of 4) into a
 * throwaway store through the RunHistory service, then times what `cairn runs` does in process:
 * reading every record and rendering the list, and selecting the last sweep and rendering its
 * comparison table; then the whole `cairn runs` command as a process (node start and module loading
 * included), and the same over a folder with no store (its start alone). Prints
 * one JSON object. Not a test gate: the target (listing 1,000 runs under 0.5 s) is read off it.
 *
 *   --runs N     records (default 1000)   --repeat N   timed repetitions, median kept (default 5)
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { historyEntries, renderRuns } from "../src/cli/history-view.js"
import { compareRuns, renderComparison, selectRuns } from "../src/cli/runs-compare.js"
import { RunHistory } from "../src/core/store/run-history.js"
import { storeLayer } from "../src/core/store/store-layer.js"

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const BIN = path.join(REPO, "bin", "cairn.js")
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt
}
const RUNS = Number(arg("runs", "1000"))
const REPEAT = Number(arg("repeat", "5"))
const VARIANTS = 4
const FOLDS = 5
const STAGES = 35

const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** A deterministic run record like one variant of an hms-quick sweep. */
const record = (i: number) => {
  const sweep = `2026-12-01T00-00-00-${String(Math.floor(i / VARIANTS)).padStart(4, "0")}Z-1`
  const variant = `v${(i % VARIANTS) + 1}`
  const cv = 0.45 + ((i * 7919) % 1000) / 10_000
  return {
    runId: `${sweep}-${variant}`,
    body: {
      pipeline: "hms-quick",
      stages: Array.from({ length: STAGES }, (_, s) => ({
        id: `stage-${s}`,
        status: "ran",
        key: "k".repeat(64),
        seconds: 1.5,
        code: "c".repeat(64),
        engine: "e".repeat(64),
      })),
      metrics: {
        cv_score: cv,
        ...Object.fromEntries(Array.from({ length: FOLDS }, (_, f) => [`fold${f}_score`, cv + (f - 2) / 100])),
        ...Object.fromEntries([1, 2, 3].map((s) => [`cv_score[seed-${s}]`, cv + (s - 2) / 200])),
        prior_baseline: 1.1,
      },
      params: { lr: [1e-3, 3e-4][i % 2], epochs: [2, 3][Math.floor(i / 2) % 2], img_size: 64, model: "resnet18d" },
      ok: true,
      startedAt: new Date(Date.UTC(2026, 11, 1) + Math.floor(i / VARIANTS) * 60_000).toISOString(),
      seconds: 120,
      watch: { files: [] },
      headline: "cv_score",
      sweep: { id: sweep, variant, values: { lr: String([1e-3, 3e-4][i % 2]), epochs: String([2, 3][Math.floor(i / 2) % 2]) }, sweepSeconds: 400 },
    },
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-bench-runs-"))
const cacheDir = path.join(dir, "cache")
fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "bench-runs", private: true, type: "module" }))

const program = Effect.gen(function* () {
  const history = yield* RunHistory
  for (let i = 0; i < RUNS; i++) {
    const r = record(i)
    yield* history.writeHistory("hms-quick", r.runId, r.body)
  }
  const list: Array<number> = []
  const compare: Array<number> = []
  let shown = 0
  let rows = 0
  for (let k = 0; k < REPEAT; k++) {
    let t0 = performance.now()
    const entries = historyEntries(yield* history.listHistory())
    shown = renderRuns(entries).split("\n").length - 1
    list.push(performance.now() - t0)
    t0 = performance.now()
    const again = historyEntries(yield* history.listHistory())
    const selected = selectRuns(again, "last", [])
    if (typeof selected === "string") throw new Error(selected)
    rows = renderComparison(compareRuns(selected, undefined)).split("\n").length - 2
    compare.push(performance.now() - t0)
  }
  return { list, compare, shown, rows }
}).pipe(Effect.provide(storeLayer(cacheDir, dir)))

const inProcess = await Effect.runPromise(program)
/** `cairn runs` as a process, over this store and over an empty folder (the CLI's start, without any listing). */
const cliTimes = (cache: string) => {
  const ms: Array<number> = []
  for (let k = 0; k < Math.min(REPEAT, 3); k++) {
    const t0 = performance.now()
    const r = spawnSync(process.execPath, [BIN, "runs", "--cache-dir", cache], { cwd: dir, encoding: "utf8" })
    ms.push(performance.now() - t0)
    if (r.status !== 0) throw new Error(`cairn runs failed: ${r.stderr}`)
  }
  return median(ms)
}
const cliMs = cliTimes(cacheDir)
const cliEmptyMs = cliTimes(path.join(dir, "no-cache-here"))
const nodeStart = spawnSync(process.execPath, ["-e", "0"])
const t0 = performance.now()
spawnSync(process.execPath, ["-e", "0"])
const nodeMs = performance.now() - t0
fs.rmSync(dir, { recursive: true, force: true })
console.log(
  JSON.stringify({
    bench: "runs",
    runs: RUNS,
    listed: inProcess.shown,
    listMs: Number(median(inProcess.list).toFixed(1)),
    compareSweepRows: inProcess.rows,
    compareMs: Number(median(inProcess.compare).toFixed(1)),
    cliRunsMs: Number(cliMs.toFixed(1)),
    cliNoRunsMs: Number(cliEmptyMs.toFixed(1)),
    nodeStartMs: Number(nodeMs.toFixed(1)),
    targetMs: 500,
    withinTarget: median(inProcess.list) < 500,
    loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
    ok: nodeStart.status === 0,
  }),
)
