/**
 * `hms-quick` (tiny params) through the queue: a coordinator and two `cairn worker` processes, each
 * with its own local cache (standing in for machines), sharing a throwaway Redis and nginx remote
 * cache. One worker is killed with -9 in the middle of a training fold: its job goes to the other
 * worker (BullMQ's stalled-job detection), and the run ends with the local run's cv_score, to the
 * last digit. A fresh machine (empty local cache) pointed at the remote cache then runs nothing.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { cliAsync, waitFor } from "../../support/helpers.js"
import { type NginxServer, nginxMissing, startNginx } from "../../servers/nginx.js"
import { type RedisServer, redisMissing, startRedis } from "../../servers/redis.js"

const REPO = path.resolve(__dirname, "../../..")
const missing = redisMissing("the distributed HMS test") ?? nginxMissing("the distributed HMS test")
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-distributed-"))

/** Tiny but complete: five folds of a 32 px resnet18d, one epoch each (as in e2e.test.ts). */
const SMALL = ["spectrograms=40", "test_spectrograms=3", "max_rows=25", "img_size=32", "epochs=1", "batch_size=4"].flatMap((p) => ["--param", p])
/**
 * A dead worker's job is taken by another within seconds (short lock and stalled check): 5 s, far
 * above the pauses of a live worker's event loop on a busy machine (a 1 s lock can lose a job to them).
 */
const FAST = { CAIRN_QUEUE_LOCK_MS: "5000", CAIRN_QUEUE_STALLED_MS: "1000", CAIRN_QUEUE_POLL_MS: "200", CAIRN_QUEUE_BACKOFF_MS: "200" }
/** Outer bounds (not expected times): a worker's start line; the queued run reaching a fold's first step; the whole test (three runs of five folds). */
const START_MS = 120_000
const FOLD_MS = 600_000
const TEST_MS = 1_200_000

type Proc = ReturnType<typeof cliAsync>
const procs: Array<Proc> = []
const start = (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const p = cliAsync(REPO, args, env)
  procs.push(p)
  return p
}

let nginx: NginxServer | undefined
let redis: RedisServer | undefined
afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL")
  await Promise.all(procs.map((p) => p.done))
  await redis?.stop()
  await nginx?.stop()
  fs.rmSync(tmp, { recursive: true, force: true })
})

type RunReport = { stages: Array<{ id: string; status: string; ranBy?: string }>; metrics: Record<string, number> }
const report = (file: string): RunReport => JSON.parse(fs.readFileSync(file, "utf8"))
const cacheOf = (who: string) => ["--cache-dir", path.join(tmp, who, "cache")]

describe.skipIf(missing !== undefined)("hms-quick on two workers", () => {
  it(
    "gives the local run's cv_score with a worker killed -9 mid-fold; a fresh machine then takes everything from the remote cache",
    async () => {
      nginx = await startNginx()
      redis = await startRedis()
      const remote = ["--remote-cache", `${nginx.url}/hms`]
      const queue = ["--queue", redis.url]

      const local = start([
        "run",
        "pipelines/hms-quick.ts",
        ...SMALL,
        ...cacheOf("local"),
        "--out",
        path.join(tmp, "local"),
        "--json",
        path.join(tmp, "local.json"),
      ])
      const localDone = await local.done
      expect(localDone.code, localDone.stdout + localDone.stderr).toBe(0)

      // One fold at a time per worker: a fold's job is in flight on A when A dies.
      const worker = (who: string) => {
        const p = start(["worker", ...queue, ...remote, ...cacheOf(who), "--jobs", "1"], FAST)
        return { ...p, ready: () => waitFor(() => p.output().includes("cairn worker "), START_MS, `worker ${who} to start: ${p.output()}`) }
      }
      const a = worker("a")
      const b = worker("b")
      await Promise.all([a.ready(), b.ready()])
      const json = path.join(tmp, "queued.json")
      const run = start(
        ["run", "pipelines/hms-quick.ts", ...SMALL, ...queue, ...remote, ...cacheOf("coordinator"), "--out", path.join(tmp, "queued"), "--json", json],
        FAST,
      )

      // A is one training step into a fold: killed there.
      const midFold = /^\[(train\/fold-\d)\] epoch 1\/1 step 1\//m
      await waitFor(() => midFold.test(a.output()), FOLD_MS, `a fold to start training on A: ${a.output()}`)
      const fold = midFold.exec(a.output())![1]!
      a.child.kill("SIGKILL")
      await a.done
      expect(a.output()).not.toMatch(new RegExp(`^ran .*  ${fold.replace("/", "\\/")}$`, "m"))

      const done = await run.done
      expect(done.code, done.stdout + done.stderr + b.output()).toBe(0)
      // The fold A died in was run again, whole, on B; the coordinator ran nothing itself.
      expect(b.output()).toMatch(new RegExp(`^took ${fold.replace("/", "\\/")} .*try 2`, "m"))
      expect(done.stdout).toMatch(new RegExp(`^ran +[0-9.]+s  ${fold.replace("/", "\\/")} \\(worker [^ ]+:${b.child.pid}\\)$`, "m"))
      const queued = report(json)
      expect(queued.stages.filter((s) => s.status === "ran").map((s) => s.id)).toContain(fold)
      expect(queued.stages.find((s) => s.id === fold)?.ranBy).toMatch(new RegExp(`:${b.child.pid}$`))
      // Bit for bit: the same engine on every "machine" gives the same models and scores.
      const expected = report(path.join(tmp, "local.json")).metrics
      expect(queued.metrics.cv_score).toBe(expected.cv_score)
      expect(queued.metrics).toEqual(expected)
      expect(fs.readFileSync(path.join(tmp, "queued/out/hms-quick/submission/submission.csv"), "utf8")).toBe(
        fs.readFileSync(path.join(tmp, "local/out/hms-quick/submission/submission.csv"), "utf8"),
      )

      // A fresh machine with an empty local cache, no queue: all hits from the remote cache.
      const freshJson = path.join(tmp, "fresh.json")
      const fresh = await start([
        "run",
        "pipelines/hms-quick.ts",
        ...SMALL,
        ...remote,
        ...cacheOf("fresh"),
        "--out",
        path.join(tmp, "fresh"),
        "--json",
        freshJson,
      ]).done
      expect(fresh.code, fresh.stdout + fresh.stderr).toBe(0)
      const stages = report(path.join(tmp, "local.json")).stages.length
      expect(fresh.stdout).toMatch(new RegExp(`^ok: 0 ran, ${stages} cached`, "m"))
      expect(report(freshJson).metrics.cv_score).toBe(expected.cv_score)
    },
    TEST_MS,
  )
})
