/**
 * `npm run bench:split`: cairn's spectrogram split against the seed notebook's own loop, on the same
 * synthetic files. Prints one JSON object (and writes it to `--json OUT`).
 *
 *   --files N     synthetic train spectrograms (default 1000)
 *   --dir D       dataset directory: generated there when it has no train.csv (default: a temp dir)
 *   --seed S      synthetic dataset seed (default 1086)
 *   --concurrency C   worker threads splitting files at once, as the stage does (default 2, one per core)
 *   --json OUT    also write the JSON object to OUT
 *   --keep        keep the temp directories
 *
 * Both sides do the seed's work: for the first label row of each spectrogram (the seed's
 * `groupby("spectrogram_id").head(1)`), read the spectrogram parquet, fillna(0), transpose to
 * (400, T), and save the (400, 300) window at `int(offset) // 2` as `<label_id>.npy`. The seed side
 * is a python3 script doing exactly the notebook's loop (`pd.read_parquet`,
 * `fillna(0).values[:, 1:].T.astype("float32")`, `np.save`); it is skipped, and the JSON says so,
 * when python3 with pandas and pyarrow is not importable. Only the loops are timed (not the
 * train.csv handling, not interpreter start-up). The outputs of both sides are compared byte for byte.
 */
import { Effect, Either } from "effect"
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { DuckDb, DuckDbLive } from "../src/data/duckdb/index.js"
import { TRAIN_CSV, TRAIN_SPECTROGRAMS_DIR } from "../stages/hms/constants.js"
import { makeWorkerPool } from "../src/core/thread-pool.js"
import { type SplitRequest, splitRequests, splitSpectrogram, splitSpectrograms } from "../stages/hms/spectrogram.js"
import { writeSynthDataset } from "../stages/hms/synth/index.js"
import { buildFoldTable, loadTrainTable } from "../stages/hms/train-table.js"

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt
}
const FILES = Number(arg("files", "1000"))
const SEED = Number(arg("seed", "1086"))
const CONCURRENCY = Number(arg("concurrency", "2"))
const JSON_OUT = arg("json", "")
const KEEP = process.argv.includes("--keep")

const SEED_LOOP = `
import json, os, sys, time
import numpy as np
import pandas as pd
data, out_dir, jobs_file = sys.argv[1], sys.argv[2], sys.argv[3]
with open(jobs_file) as f:
    jobs = json.load(f)  # [[spectrogram_id, [[offset_seconds, label_id], ...]], ...]
TRAIN_SPEC = os.path.join(data, "train_spectrograms")
t0 = time.perf_counter()
for spec_id, rows in jobs:
    spec = pd.read_parquet(os.path.join(TRAIN_SPEC, f"{spec_id}.parquet"))
    spec_arr = spec.fillna(0).values[:, 1:].T.astype("float32")
    for spec_offset, label_id in np.array(rows, dtype=float).astype(int):
        spec_offset = spec_offset // 2
        split_spec_arr = spec_arr[:, spec_offset: spec_offset + 300]
        np.save(os.path.join(out_dir, f"{label_id}.npy"), split_spec_arr)
print(json.dumps({"seconds": time.perf_counter() - t0, "pandas": pd.__version__, "numpy": np.__version__}))
`

const sha = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex")

const main = Effect.gen(function* () {
  const temp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-bench-split-"))
  const dir = arg("dir", path.join(temp, "data"))
  let generateSeconds: number | null = null
  if (!fs.existsSync(path.join(dir, TRAIN_CSV))) {
    const t0 = performance.now()
    yield* writeSynthDataset(dir, { trainSpectrograms: FILES, testSpectrograms: 0, seed: SEED })
    generateSeconds = (performance.now() - t0) / 1000
  }
  const table = yield* loadTrainTable(path.join(dir, TRAIN_CSV))
  const folds = yield* Either.match(buildFoldTable(table), { onLeft: Effect.fail, onRight: Effect.succeed })
  const ours = path.join(temp, "ours")
  const seed = path.join(temp, "seed")
  fs.mkdirSync(ours)
  fs.mkdirSync(seed)
  const requests = splitRequests(folds, path.join(dir, TRAIN_SPECTROGRAMS_DIR), ours)
  const bytesIn = requests.reduce((a, r) => a + fs.statSync(r.file).size, 0)
  // Read every input once first, so that neither side is timed on a cold page cache.
  for (const r of requests) fs.readFileSync(r.file)

  // The stage's way: two lanes, this thread and a worker thread, decoding and writing files.
  const db = yield* DuckDb
  const t0 = performance.now()
  const counts = yield* Effect.scoped(
    Effect.gen(function* () {
      const pool = yield* makeWorkerPool<SplitRequest, number>(new URL("../stages/hms/split-worker.ts", import.meta.url), CONCURRENCY, {
        inline: (request) => Effect.map(Effect.provideService(splitSpectrogram(request), DuckDb, db), (written) => written.length),
      })
      return yield* Effect.forEach(requests, (r) => pool.run(r), { concurrency: pool.capacity })
    }),
  )
  const oursSeconds = (performance.now() - t0) / 1000
  const windows = counts.reduce((a, n) => a + n, 0)
  // The same on this thread alone (no workers), for comparison.
  const inline = path.join(temp, "inline")
  fs.mkdirSync(inline)
  const t1 = performance.now()
  yield* splitSpectrograms(splitRequests(folds, path.join(dir, TRAIN_SPECTROGRAMS_DIR), inline), 1)
  const inlineSeconds = (performance.now() - t1) / 1000

  const result: Record<string, unknown> = {
    files: requests.length,
    windows,
    input_mb: Math.round(bytesIn / 1e5) / 10,
    concurrency: CONCURRENCY,
    ours_seconds: Number(oursSeconds.toFixed(3)),
    ours_files_per_s: Number((requests.length / oursSeconds).toFixed(1)),
    ours_one_thread_files_per_s: Number((requests.length / inlineSeconds).toFixed(1)),
    seed_seconds: null as number | null,
    seed_files_per_s: null as number | null,
    speedup: null as number | null,
    identical: null as boolean | null,
    generate_seconds: generateSeconds === null ? null : Number(generateSeconds.toFixed(2)),
    node: process.version,
    cpus: os.cpus().length,
  }

  const probe = spawnSync("python3", ["-c", "import pandas, numpy, pyarrow"], { encoding: "utf8" })
  if (probe.status !== 0) {
    result.seed = `skipped: python3 with pandas, numpy and pyarrow is not importable (${(probe.error?.message ?? probe.stderr).trim().split("\n").pop()})`
  } else {
    const jobs = Array.from({ length: folds.rows }, (_, i) => [folds.spectrogramId[i], [[folds.spectrogramLabelOffsetSeconds[i], folds.labelId[i]]]])
    // The seed iterates train.groupby("spectrogram_id"): spectrograms in sorted order.
    jobs.sort((a, b) => (a[0] as number) - (b[0] as number))
    const jobsFile = path.join(temp, "jobs.json")
    const script = path.join(temp, "seed_loop.py")
    fs.writeFileSync(jobsFile, JSON.stringify(jobs))
    fs.writeFileSync(script, SEED_LOOP)
    const run = spawnSync("python3", [script, dir, seed, jobsFile], { encoding: "utf8", maxBuffer: 1 << 24 })
    if (run.status !== 0) {
      result.seed = `failed: ${run.stderr.trim().split("\n").slice(-3).join(" | ")}`
    } else {
      const info = JSON.parse(run.stdout.trim().split("\n").pop()!) as { seconds: number; pandas: string; numpy: string }
      result.seed_seconds = Number(info.seconds.toFixed(3))
      result.seed_files_per_s = Number((requests.length / info.seconds).toFixed(1))
      result.speedup = Number((info.seconds / oursSeconds).toFixed(2))
      result.seed = `python3 pandas ${info.pandas} numpy ${info.numpy}`
      const a = fs.readdirSync(ours).sort()
      const b = fs.readdirSync(seed).sort()
      result.identical = a.length === b.length && a.every((f, i) => f === b[i] && sha(path.join(ours, f)) === sha(path.join(seed, f)))
    }
  }
  if (!KEEP) fs.rmSync(temp, { recursive: true, force: true })
  else result.kept = temp
  return result
})

const result = await Effect.runPromise(main.pipe(Effect.provide(DuckDbLive)))
const text = JSON.stringify(result)
console.log(text)
if (JSON_OUT) fs.writeFileSync(JSON_OUT, `${text}\n`)
