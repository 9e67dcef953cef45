/**
 * `node --import tsx bench/queue.ts`: what running stages through the queue costs. A 50-stage
 * pipeline of tiny stages (a source, a listing, 47 parts, a merge) run cold locally (1 and 2 jobs)
 * and through a BullMQ queue on a throwaway Redis with 1 and 2 workers (one job each, every one its
 * own project folder and cache, results through a throwaway nginx remote cache): the run's own time
 * (its JSON report, without process start-up) per computed stage, and the queue's overhead per
 * stage over the local run. Then remote-cache hits on a fresh machine (an empty local cache): the
 * tiny pipeline, and the HMS pipeline's data stages (`hms-quick --target split-spectrograms`:
 * synthetic data, CSV, votes, folds, spectrogram windows) computed once and then fetched.
 * Prints one JSON object (and writes it to `--json OUT`).
 *
 *   --no-hms   skip the HMS data stages    --keep   keep the temp folders
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { FAN_OUT_PIPELINE, writeFanOutProject } from "./fan-out-project.js"
import { startNginx } from "../test/servers/nginx.js"
import { startRedis } from "../test/servers/redis.js"

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const BIN = path.join(REPO, "bin", "cairn.js")
const PARTS = 47 // source + listing + 47 parts + merge = 50 stages
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt
}
const round = (x: number, digits = 1) => Number(x.toFixed(digits))

const temps: Array<string> = []
const tempDir = (what: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cairn-bench-queue-${what}-`))
  temps.push(dir)
  return dir
}

const project = () => {
  const dir = tempDir("project")
  writeFanOutProject(dir, PARTS)
  for (let f = 0; f < 20; f++) fs.writeFileSync(path.join(dir, "data", `f${f}.txt`), `file ${f}\n`.repeat(100))
  return dir
}

interface Report {
  readonly seconds: number
  readonly stages: ReadonlyArray<{ readonly id: string; readonly status: string; readonly seconds: number }>
}

/** `cairn run` in `cwd`; its JSON report. */
const run = (cwd: string, args: ReadonlyArray<string>): Report & { wallSeconds: number } => {
  const json = path.join(tempDir("report"), "r.json")
  const t0 = performance.now()
  const r = spawnSync(process.execPath, [BIN, "run", ...args, "--json", json], { cwd, encoding: "utf8", env: { ...process.env, CAIRN_NO_FAST_PATH: "1" } })
  const wallSeconds = (performance.now() - t0) / 1000
  if (r.status !== 0) throw new Error(`cairn run ${args.join(" ")} failed (${r.status}): ${r.stdout}\n${r.stderr}`)
  return { ...(JSON.parse(fs.readFileSync(json, "utf8")) as Report), wallSeconds }
}

/** A `cairn worker` in a project of its own; resolves once it takes jobs. */
const startWorker = async (queue: string, remote: string): Promise<ChildProcess> => {
  const child = spawn(process.execPath, [BIN, "worker", "--queue", queue, "--remote-cache", remote, "--jobs", "1"], {
    cwd: project(),
    stdio: ["ignore", "pipe", "pipe"],
  })
  let out = ""
  child.stdout?.on("data", (d) => (out += d))
  child.stderr?.on("data", (d) => (out += d))
  const t0 = Date.now()
  while (!out.includes("cairn worker ")) {
    if (child.exitCode !== null || Date.now() - t0 > 30_000) throw new Error(`the worker did not start: ${out}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return child
}

const stopWorker = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill("SIGTERM")
  })

const computed = (r: Report) => r.stages.filter((s) => s.status === "ran" && s.id !== "data").length
const perStageMs = (r: Report) => round((r.seconds * 1000) / Math.max(1, computed(r)))
const summary = (r: Report & { wallSeconds: number }) => ({
  run_seconds: round(r.seconds, 2),
  wall_seconds: round(r.wallSeconds, 2),
  computed: computed(r),
  per_stage_ms: perStageMs(r),
})

const dirBytes = (dir: string): number =>
  fs.existsSync(dir)
    ? fs
        .readdirSync(dir, { recursive: true, encoding: "utf8" })
        .reduce((a, f) => a + (fs.statSync(path.join(dir, f)).isFile() ? fs.statSync(path.join(dir, f)).size : 0), 0)
    : 0

const nginx = await startNginx()
const redis = await startRedis()
try {
  const pipeline = FAN_OUT_PIPELINE
  const local1 = run(project(), [pipeline, "--jobs", "1"])
  const local2 = run(project(), [pipeline, "--jobs", "2"])

  const throughQueue = async (workers: number) => {
    const remote = `${nginx.url}/tiny-${workers}`
    const queue = `${redis.url}?queue=bench-${workers}`
    const procs = await Promise.all(Array.from({ length: workers }, () => startWorker(queue, remote)))
    try {
      return { remote, report: run(project(), [pipeline, "--queue", queue, "--remote-cache", remote]) }
    } finally {
      await Promise.all(procs.map(stopWorker))
    }
  }
  const queue1 = await throughQueue(1)
  const queue2 = await throughQueue(2)
  // A fresh machine pointed at the remote cache the 2-worker run filled: every stage a hit.
  const hit = run(project(), [pipeline, "--remote-cache", queue2.remote])
  const hitPerStageMs = round((hit.seconds * 1000) / Math.max(1, hit.stages.filter((s) => s.status === "cached").length))

  let hms: Record<string, unknown> | undefined
  if (!process.argv.includes("--no-hms")) {
    const remote = `${nginx.url}/hms`
    const args = ["pipelines/hms-quick.ts", "--target", "split-spectrograms", "--remote-cache", remote]
    const cold = run(REPO, [...args, "--cache-dir", tempDir("hms-a")])
    const fetched = run(REPO, [...args, "--cache-dir", tempDir("hms-b")])
    const data = (r: Report) => r.stages.filter((s) => s.id !== "pretrained-weights")
    hms = {
      stages: data(cold).map((s) => s.id),
      compute_seconds: round(cold.seconds, 2),
      remote_hit_seconds: round(fetched.seconds, 2),
      per_stage: Object.fromEntries(
        data(fetched).map((s, i) => [s.id, { computed_seconds: round(data(cold)[i]?.seconds ?? 0, 3), hit_seconds: round(s.seconds, 3), status: s.status }]),
      ),
      remote_bytes: dirBytes(path.join(nginx.root, "hms")),
    }
  }

  const overhead = (q: Report, base: Report) => round(((q.seconds - base.seconds) * 1000) / Math.max(1, computed(q)))
  const result = {
    bench: "queue",
    stages: local1.stages.length,
    local_jobs1: summary(local1),
    local_jobs2: summary(local2),
    queue_1_worker: summary(queue1.report),
    queue_2_workers: summary(queue2.report),
    queue_overhead_per_stage_ms: { one_worker_vs_jobs1: overhead(queue1.report, local1), two_workers_vs_jobs2: overhead(queue2.report, local2) },
    remote_hit_fresh_machine: {
      run_seconds: round(hit.seconds, 2),
      wall_seconds: round(hit.wallSeconds, 2),
      cached: hit.stages.filter((s) => s.status === "cached").length,
      per_hit_ms: hitPerStageMs,
    },
    ...(hms ? { hms_data_stages: hms } : {}),
    node: process.version,
    cpus: os.cpus().length,
  }
  console.log(JSON.stringify(result, null, 2))
  const out = arg("json", "")
  if (out) fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`)
} finally {
  if (!process.argv.includes("--keep")) for (const d of temps) fs.rmSync(d, { recursive: true, force: true })
  // The servers' processes are unref'd: without a handle of ours, Node would exit before they are stopped.
  const alive = setInterval(() => undefined, 1_000)
  await redis.stop()
  await nginx.stop()
  clearInterval(alive)
}
