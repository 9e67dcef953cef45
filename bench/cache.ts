/**
 * `npm run bench:cache`: the no-op rerun time of a 50-stage pipeline over 2 GB of input files,
 * against a bare `node -e 0` start on the same machine in the same run. Prints one JSON object
 * (and writes it to `--json OUT`).
 *
 *   --gb N       input size (default 2)    --files N   number of input files (default 20)
 *   --repeat N   timed reruns (default 7)  --keep      keep the temp project
 */
import { spawnSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { FAN_OUT_PIPELINE, writeFanOutProject } from "./fan-out-project.js"

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const BIN = path.join(REPO, "bin", "cairn.js")
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt
}
const GB = Number(arg("gb", "2"))
const FILES = Number(arg("files", "20"))
const REPEAT = Number(arg("repeat", "7"))
const PARTS = 47 // source + index + 47 parts + merge = 50 stages

const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const time = (cmd: string, args: Array<string>, cwd: string, env: Record<string, string> = {}) => {
  const t0 = performance.now()
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, ...env } })
  const ms = performance.now() - t0
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`)
  return { ms, stdout: r.stdout }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-bench-cache-"))
writeFanOutProject(dir, PARTS)

// Input data: FILES files of GB/FILES each, random-looking (a random block per file, repeated).
const perFile = Math.floor((GB * 1024 ** 3) / FILES)
const block = 1 << 20
const t0 = performance.now()
for (let f = 0; f < FILES; f++) {
  const fd = fs.openSync(path.join(dir, "data", `part-${String(f).padStart(3, "0")}.bin`), "w")
  const buf = crypto.randomBytes(block)
  for (let off = 0; off < perFile; off += block) fs.writeSync(fd, buf, 0, Math.min(block, perFile - off))
  fs.closeSync(fd)
}
const old = new Date(Date.now() - 60_000)
for (const f of fs.readdirSync(path.join(dir, "data"))) fs.utimesSync(path.join(dir, "data", f), old, old)
const writeSeconds = (performance.now() - t0) / 1000

const run = ["run", FAN_OUT_PIPELINE]
const cold = time(process.execPath, [BIN, ...run], dir)
const stages = (cold.stdout.match(/^(ran|cached)\s/gm) ?? []).length
const nodeBare: Array<number> = []
const noop: Array<number> = []
const noopFull: Array<number> = []
for (let i = 0; i < REPEAT; i++) {
  nodeBare.push(time(process.execPath, ["-e", "0"], dir).ms)
  noop.push(time(process.execPath, [BIN, ...run], dir).ms)
  noopFull.push(time(process.execPath, [BIN, ...run], dir, { CAIRN_NO_FAST_PATH: "1" }).ms)
}
const result = {
  bench: "cache-noop",
  stages,
  input_files: FILES,
  input_bytes: perFile * FILES,
  write_inputs_seconds: Number(writeSeconds.toFixed(2)),
  cold_run_seconds: Number((cold.ms / 1000).toFixed(2)),
  node_e0_ms_median: Number(median(nodeBare).toFixed(1)),
  noop_rerun_ms_median: Number(median(noop).toFixed(1)),
  noop_rerun_without_fast_path_ms_median: Number(median(noopFull).toFixed(1)),
  ratio_to_node_e0: Number((median(noop) / median(nodeBare)).toFixed(2)),
  goal_ratio: 2,
  repeat: REPEAT,
  node: process.version,
  cpus: os.cpus().length,
}
console.log(JSON.stringify(result, null, 2))
const out = arg("json", "")
if (out) fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`)
if (!process.argv.includes("--keep")) fs.rmSync(dir, { recursive: true, force: true })
