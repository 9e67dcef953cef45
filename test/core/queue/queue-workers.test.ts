/**
 * Stage workers on a BullMQ queue: a coordinator (`cairn run --queue`) and worker processes
 * (`cairn worker`), each its own project folder and local cache (standing in for machines), sharing
 * one Redis (its own per test) and one nginx remote cache. The fixture pipeline run through the
 * queue gives the local run's outputs and metrics with every stage run exactly once; a worker at
 * another commit refuses; a worker killed with -9 mid-stage loses its job to another worker (stalled
 * job detection); a worker stopped by SIGTERM hands its job back at once; a coordinator killed
 * mid-run is resumed from the remote cache; Redis stopped mid-run fails the coordinator clearly
 * within a bounded time.
 *
 * The tests wait on events (a line printed, a file written, a process's exit), each under an outer
 * bound only, far above what an idle machine takes: they pass on a machine busy with other work.
 * Short queue timings are set only where a test is about them (a worker's lock, a lost Redis): a
 * short lock or loss limit on a busy machine would see a slow process as a dead one.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { DEFAULT_QUEUE_SETTINGS } from "../../../src/core/queue/settings.js"
import { fixtureFiles } from "../../support/fixture-project.js"
import { cliAsync, loggedLines as logged, makeProject, removeProjects, startedProcesses, statuses, waitFor } from "../../support/helpers.js"
type Proc = ReturnType<typeof cliAsync>
import { type NginxServer, nginxMissing, startNginx } from "../../servers/nginx.js"
import { type RedisServer, redisMissing, startRedis } from "../../servers/redis.js"

const missing = redisMissing("the queue worker tests") ?? nginxMissing("the queue worker tests")

/** Quick polls and retries for every process (only the waits between events are shorter). */
const QUICK = { CAIRN_QUEUE_POLL_MS: "200", CAIRN_QUEUE_BACKOFF_MS: "200" }
/**
 * A dead worker's job is taken by another within seconds (the kill -9 test): a 5 s lock, far above
 * the event loop's pauses on a busy machine (a 1 s lock lost jobs to a live but starved worker).
 */
const SHORT_LOCK = { CAIRN_QUEUE_LOCK_MS: "5000", CAIRN_QUEUE_STALLED_MS: "1000" }
/** A lock no test outlives: a job comes to another worker only because its worker handed it back. */
const ENDLESS_LOCK = { CAIRN_QUEUE_LOCK_MS: "600000" }
/** A coordinator gives up on a lost Redis after 2 s (the Redis-stopped test), not the default 30 s. */
const LOST_MS = 2_000
/** Outer bound of a wait for an event: seconds on an idle machine, never the expected time. */
const EVENT_MS = 120_000
/** Each test: several processes started and waited on, each wait bounded by EVENT_MS. */
const TEST_MS = 600_000

const { started, stopAll } = startedProcesses()

afterEach(stopAll)
afterAll(() => removeProjects())

const metricsOf = (file: string) => (JSON.parse(fs.readFileSync(file, "utf8")) as { metrics: Record<string, unknown> }).metrics

describe.skipIf(missing !== undefined)("stage workers on a queue", () => {
  let nginx: NginxServer
  let redis: RedisServer
  let prefix = 0
  const remote = () => `${nginx.url}/queue-${++prefix}`
  beforeAll(async () => {
    nginx = await startNginx()
  })
  afterAll(() => nginx?.stop())
  afterEach(() => redis?.stop())

  /**
   * A worker in its own project folder; its stage runs logged to `<dir>/runs.log`. Two jobs at once
   * whatever the machine's cores: a worker whose slow stage never ends still runs the other stages.
   */
  const worker = (dir: string, url: string, env: Record<string, string> = {}) => {
    const p = started(
      cliAsync(dir, ["worker", "--queue", redis.url, "--remote-cache", url, "--jobs", "2"], { CAIRN_TEST_LOG: path.join(dir, "runs.log"), ...QUICK, ...env }),
    )
    return { ...p, pid: p.child.pid!, ready: () => waitFor(() => p.output().includes("cairn worker "), EVENT_MS, `worker in ${dir} to start: ${p.output()}`) }
  }
  const coordinator = (dir: string, pipeline: string, url: string, extra: Array<string> = [], env: Record<string, string> = {}) =>
    started(
      cliAsync(dir, ["run", pipeline, "--queue", redis.url, "--remote-cache", url, "--json", "r.json", ...extra], {
        CAIRN_TEST_LOG: path.join(dir, "runs.log"),
        ...QUICK,
        ...env,
      }),
    )
  /** `p`'s exit, or a failure naming `what` after EVENT_MS (a process that never ends fails the test, not the file). */
  const exitOf = (p: Proc, what: string) => {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not exit within ${EVENT_MS / 1000} s: ${p.output()}`)), EVENT_MS)
    })
    return Promise.race([p.done, late]).finally(() => clearTimeout(timer))
  }

  it(
    "two workers run the pipeline for two coordinators at once: the local run's outputs and metrics, every stage exactly once",
    async () => {
      redis = await startRedis()
      const url = remote()
      const local = makeProject(fixtureFiles())
      const ref = cliAsync(local, ["run", "pipelines/chain.ts", "--json", "r.json"])
      const [a, b, c, d] = [makeProject(fixtureFiles()), makeProject(fixtureFiles()), makeProject(fixtureFiles()), makeProject(fixtureFiles())]
      const wa = worker(a, url)
      const wb = worker(b, url)
      expect((await ref.done).code).toBe(0)
      await Promise.all([wa.ready(), wb.ready()])

      // Two coordinators (two machines) with the same keys share the jobs: the job id is the key.
      const [run, other] = await Promise.all([coordinator(c, "pipelines/chain.ts", url).done, coordinator(d, "pipelines/chain.ts", url).done])
      expect(run.code, run.stdout + run.stderr).toBe(0)
      expect(other.code, other.stdout + other.stderr).toBe(0)
      if (process.env.CAIRN_TEST_SHOW) console.log(run.stdout, run.stderr, other.stdout, wa.output(), wb.output())
      expect(run.stdout).toContain(`queue ${redis.url} (cairn-stages)`)
      // The per-stage lines of a local run, each with the worker that ran it (or a hit on what the other coordinator's jobs made).
      for (const id of ["clean", "count", "split/part-0", "split/part-1", "split/part-2", "merge", "other"]) {
        const pattern = `^(ran +[0-9.]+s  ${id.replace("/", "\\/")} \\(worker [^ ]+:(${wa.pid}|${wb.pid})\\)|cached +[0-9.]+s  ${id.replace("/", "\\/")})$`
        for (const out of [run.stdout, other.stdout]) expect(out).toMatch(new RegExp(pattern, "m"))
      }
      // The JSON report names the worker of each stage computed through the queue.
      for (const dir of [c, d]) {
        const stages = (JSON.parse(fs.readFileSync(path.join(dir, "r.json"), "utf8")) as { stages: Array<{ id: string; status: string; ranBy?: string }> })
          .stages
        for (const s of stages.filter((s) => s.status === "ran" && s.id !== "data")) expect(s.ranBy, s.id).toMatch(new RegExp(`:(${wa.pid}|${wb.pid})$`))
        expect(stages.filter((s) => s.status === "cached").every((s) => s.ranBy === undefined)).toBe(true)
      }
      for (const dir of [c, d]) {
        expect(metricsOf(path.join(dir, "r.json"))).toEqual(metricsOf(path.join(local, "r.json")))
        expect(fs.readFileSync(path.join(dir, "out/other/tagged.txt"), "utf8")).toBe(fs.readFileSync(path.join(local, "out/other/tagged.txt"), "utf8"))
        // Nothing ran on a coordinator.
        expect(logged(path.join(dir, "runs.log"))).toEqual([])
      }
      // Across the workers, each stage ran once.
      const ran = [...logged(path.join(a, "runs.log")), ...logged(path.join(b, "runs.log"))].sort()
      expect(ran).toEqual(["clean", "count", "merge", "other", "split/part-0", "split/part-1", "split/part-2"])
    },
    TEST_MS,
  )

  it(
    "a worker at another commit refuses the job, naming the stage and the changed file",
    async () => {
      redis = await startRedis()
      const url = remote()
      const files = fixtureFiles()
      const old = makeProject({ ...files, "stages/clean.ts": `${files["stages/clean.ts"]}\n// another commit\n` })
      const c = makeProject(files)
      const w = worker(old, url)
      await w.ready()
      const run = await coordinator(c, "pipelines/chain.ts", url).done
      expect(run.code).toBe(1)
      const line = run.stdout.split("\n").find((l) => l.startsWith("FAILED") && l.includes(" clean ")) ?? ""
      expect(line, run.stdout).toContain(`refused stage clean of pipelines/chain.ts`)
      expect(line).toContain("code: stages/clean.ts (modified)")
      expect(run.stdout).toMatch(/^skipped .* merge/m)
      expect(logged(path.join(old, "runs.log"))).toEqual([])
      // Refused once, not retried.
      expect(w.output().match(/FAILED clean/g)).toHaveLength(1)
    },
    TEST_MS,
  )

  it(
    "a worker killed with -9 mid-stage: another worker takes its job, the run completes",
    async () => {
      redis = await startRedis()
      const url = remote()
      const [a, b, c] = [makeProject(fixtureFiles()), makeProject(fixtureFiles()), makeProject(fixtureFiles())]
      const startedFile = path.join(a, "slow.started")
      // A's slow stage never ends (its release file never comes); B's is released at once.
      const wa = worker(a, url, { CAIRN_TEST_STARTED: startedFile, CAIRN_TEST_RELEASE: path.join(a, "never"), ...SHORT_LOCK })
      await wa.ready()
      const run = coordinator(c, "pipelines/slow.ts", url)
      // count runs beside slow on A: killed mid-count, A would lose count to B too, and it would run twice.
      await waitFor(() => fs.existsSync(startedFile) && /ran .* count/.test(wa.output()), EVENT_MS, `slow to start and count to finish on A: ${wa.output()}`)
      const release = path.join(b, "release")
      fs.writeFileSync(release, "")
      const wb = worker(b, url, { CAIRN_TEST_RELEASE: release, ...SHORT_LOCK })
      await wb.ready()
      wa.child.kill("SIGKILL")
      // Taken by B once A's 5 s lock expires (the default lock would hold it for a minute, then 30 s more).
      const done = await exitOf(run, "the coordinator, after A was killed,")
      expect(done.code, done.stdout + done.stderr).toBe(0)
      expect(done.stdout).toMatch(new RegExp(`^ran +[0-9.]+s  slow \\(worker [^ ]+:${wb.pid}\\)$`, "m"))
      // slow started on A and ended on B only; clean and count ran once, on A.
      const onA = logged(path.join(a, "runs.log"))
      const onB = logged(path.join(b, "runs.log"))
      expect(onA.filter((l) => l.startsWith("slow"))).toEqual(["slow:start"])
      expect(onB.filter((l) => l.startsWith("slow"))).toEqual(["slow:start", "slow:end"])
      expect([...onA, ...onB].filter((l) => !l.startsWith("slow")).sort()).toEqual(["clean", "count"])
      expect(statuses(path.join(c, "r.json"))).toMatchObject({ count: "ran", slow: "ran" })
    },
    TEST_MS,
  )

  it(
    "a coordinator killed mid-run, its worker stopped by SIGTERM mid-stage: the job goes to another worker at once, a rerun takes everything from the remote cache",
    async () => {
      redis = await startRedis()
      const url = remote()
      const [a, b, c] = [makeProject(fixtureFiles()), makeProject(fixtureFiles()), makeProject(fixtureFiles())]
      const startedFile = path.join(a, "slow.started")
      // A lock longer than any wait below: B can get A's job only because A hands it back, not by stalled-job detection.
      const wa = worker(a, url, { CAIRN_TEST_STARTED: startedFile, CAIRN_TEST_RELEASE: path.join(a, "never"), ...ENDLESS_LOCK })
      await wa.ready()
      const first = coordinator(c, "pipelines/slow.ts", url)
      // count runs beside slow on A: stopped mid-count, A would hand count back too, and B run it again.
      await waitFor(() => fs.existsSync(startedFile) && /ran .* count/.test(wa.output()), EVENT_MS, `slow to start and count to finish on A: ${wa.output()}`)
      first.child.kill("SIGKILL")
      await first.done
      // Its stage never ends (no release): A exits only because SIGTERM interrupts it.
      wa.child.kill("SIGTERM")
      const stopped = await exitOf(wa, "worker A, stopped by SIGTERM,")
      expect(stopped.code, stopped.stdout + stopped.stderr).toBe(130)
      expect(stopped.stdout).toContain("stopped slow: back on the queue")
      // The jobs outlive their coordinator: B runs what is left, and its results land on the remote cache.
      const release = path.join(b, "release")
      fs.writeFileSync(release, "")
      const wb = worker(b, url, { CAIRN_TEST_RELEASE: release })
      // Started first (a loaded machine takes seconds to start a process): the wait below is for the jobs.
      await wb.ready()
      await waitFor(() => /ran .* slow/.test(wb.output()), EVENT_MS, `slow to finish on B: ${wb.output()}`)
      const rerun = await coordinator(c, "pipelines/slow.ts", url).done
      expect(rerun.code, rerun.stdout + rerun.stderr).toBe(0)
      expect(statuses(path.join(c, "r.json"))).toMatchObject({ clean: "cached", count: "cached", slow: "cached" })
      // Every stage ran once (slow: started on A, run again whole on B), nothing on the coordinator.
      const onA = logged(path.join(a, "runs.log"))
      const onB = logged(path.join(b, "runs.log"))
      expect(onA.filter((l) => l.startsWith("slow"))).toEqual(["slow:start"])
      expect(onB.filter((l) => l.startsWith("slow"))).toEqual(["slow:start", "slow:end"])
      expect([...onA, ...onB].filter((l) => !l.startsWith("slow")).sort()).toEqual(["clean", "count"])
      expect(logged(path.join(c, "runs.log"))).toEqual([])
    },
    TEST_MS,
  )

  it(
    "Redis stopped mid-run: the coordinator fails within a bounded time, naming the queue; a worker stops on SIGTERM",
    async () => {
      redis = await startRedis()
      const url = remote()
      const [a, c] = [makeProject(fixtureFiles()), makeProject(fixtureFiles())]
      const startedFile = path.join(a, "slow.started")
      const w = worker(a, url, { CAIRN_TEST_STARTED: startedFile, CAIRN_TEST_RELEASE: path.join(a, "never") })
      await w.ready()
      const run = coordinator(c, "pipelines/slow.ts", url, [], { CAIRN_QUEUE_LOST_MS: String(LOST_MS) })
      await waitFor(() => fs.existsSync(startedFile), EVENT_MS, `slow to start: ${w.output()}`)
      await redis.stop()
      const done = await exitOf(run, "the coordinator, with Redis stopped,")
      expect(done.code, done.stdout + done.stderr).toBe(1)
      const failed = new RegExp(`^FAILED .* slow \\(worker [^)]+\\)  — queue ${redis.url.replaceAll(".", "\\.")}: .*no answer for ([0-9.]+) s`, "m").exec(
        done.stdout,
      )
      expect(failed, done.stdout).not.toBeNull()
      // It gave up on the silence it was told to (CAIRN_QUEUE_LOST_MS), not the default's 30 s.
      expect(Number(failed![1]) * 1000).toBeGreaterThanOrEqual(LOST_MS)
      expect(Number(failed![1]) * 1000).toBeLessThan(DEFAULT_QUEUE_SETTINGS.lostMs)

      // Its stage never ends and Redis is gone: the worker exits only because stopping is bounded.
      w.child.kill("SIGTERM")
      const stopped = await exitOf(w, "the worker, stopped by SIGTERM without Redis,")
      if (process.env.CAIRN_TEST_SHOW) console.log(done.stdout, done.stderr, stopped.stdout, stopped.stderr)
      expect(stopped.code, stopped.stdout + stopped.stderr).toBe(130)
      expect(stopped.stdout).toContain("stopped slow: not handed back")
    },
    TEST_MS,
  )
})
