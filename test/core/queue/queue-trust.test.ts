/**
 * What someone who can write to the queue's Redis (and not to the checkouts) can make cairn do, from
 * the repros of issue 24: forged jobs pushed straight into Redis with BullMQ's Queue API, a rogue
 * worker answering through BullMQ's Worker API. A worker imports only pipeline files of the folders
 * it serves (never bench/, its cache or node_modules); with CAIRN_QUEUE_SECRET it takes only jobs
 * signed with it; a refusal stored in Redis names what differs, never a value; what comes back
 * through the queue reaches the coordinator's terminal without control characters, bounded; forged
 * fields are refusals naming the field; a wrong password or an untrusted certificate is named.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { type ConnectionOptions, type Job, Queue, QueueEvents, UnrecoverableError, Worker } from "bullmq"
import { Effect, Either, Exit } from "effect"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { diffKeys, type KeyRecord, nameChange } from "../../../src/core/key.js"
import { FIELD_MAX, printable } from "../../../src/core/printable.js"
import { queueTargetFrom, redisClient } from "../../../src/core/queue/redis-connection.js"
import { QueueUrlError } from "../../../src/core/queue/queue-errors.js"
import { decodeJobData, JOB_FORMAT, type StageJobData } from "../../../src/core/queue/job.js"
import { servedFoldersFrom, servedPipelineFile } from "../../../src/core/queue/served.js"
import { jobSignatureProblem, QUEUE_SECRET_ENV, signJob } from "../../../src/core/queue/job-signature.js"
import { fixtureFiles } from "../../support/fixture-project.js"
import { cliAsync, makeProject, plainKeyRecord, removeProjects, waitFor } from "../../support/helpers.js"
import { type NginxServer, nginxMissing, startNginx } from "../../servers/nginx.js"
import { opensslBinary, type RedisServer, redisMissing, startRedis } from "../../servers/redis.js"

const QUEUE = "cairn-stages"
/**
 * Quick polls and retries; the lock and the lost-Redis limit keep their defaults: no test here is
 * about a dead worker, and a 1 s lock or a 2 s limit takes a starved process on a busy machine for a
 * dead one.
 */
const FAST = { CAIRN_QUEUE_POLL_MS: "200", CAIRN_QUEUE_BACKOFF_MS: "200" }
/** Outer bound of a wait for an event (a worker's start line, a job's end): seconds when idle. */
const EVENT_MS = 120_000
const ESC_OR_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/

/** A module that, once imported, appends its name to `<project>/imported.log`: the proof that a job ran code. */
const marking = (name: string, rest = "") => `
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), ${JSON.stringify("../".repeat(name.split("/").length - 1))})
fs.appendFileSync(path.join(root, "imported.log"), ${JSON.stringify(`${name}\n`)})
${rest}`

/** The fixture project, a benchmark and a served pipeline that mark their import, and a stage declaring HF_ENDPOINT. */
const trustProject = () => {
  const dir = makeProject({
    ...fixtureFiles(),
    "bench/split.ts": marking("bench/split.ts"),
    "pipelines/marked.ts": marking(
      "pipelines/marked.ts",
      `import { definePipeline } from "@cairn"
import { count } from "../stages/count.js"
export default definePipeline({ name: "marked", stages: [count], params: { data: "data", lower: false, min: 1 } })`,
    ),
    "pipelines/node_modules/evil.ts": marking("pipelines/node_modules/evil.ts"),
    "stages/envy.ts": `
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
export const envy = defineStage({ name: "envy", params: Schema.Struct({}), env: ["HF_ENDPOINT"], run: () => Effect.succeed(1) })
`,
    "pipelines/envy.ts": `
import { definePipeline } from "@cairn"
import { envy } from "../stages/envy.js"
export default definePipeline({ name: "envy", stages: [envy], params: {} })
`,
  })
  fs.symlinkSync("../bench/split.ts", path.join(dir, "pipelines/link.ts"))
  return dir
}
/** Files as a forged remote-cache entry pulled them into the worker's cache (written once its store exists). */
const plantInCache = (dir: string) => {
  fs.mkdirSync(path.join(dir, "cache/trees/abc"), { recursive: true })
  for (const name of ["evil.ts", "evil.mjs"]) fs.writeFileSync(path.join(dir, "cache/trees/abc", name), marking(`cache/trees/abc/${name}`))
}
const imported = (dir: string) => {
  const file = path.join(dir, "imported.log")
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean) : []
}

/** A job's data as a coordinator would make it, with `over` on top. */
const jobData = (over: Partial<Record<keyof StageJobData, unknown>> = {}): Record<string, unknown> => ({
  format: JOB_FORMAT,
  pipeline: "pipelines/chain.ts",
  params: [],
  instance: "clean",
  key: "a".repeat(64),
  record: plainKeyRecord("clean"),
  codeFiles: {},
  upstream: {},
  force: false,
  coordinator: "attacker:1",
  ...over,
})

describe("what the queue prints and accepts, checked without Redis", () => {
  it("printable strips escape sequences and control characters and bounds the length", () => {
    expect(printable("\x1b[2J\x1b[Hworker\x1b]0;pwned\x07 one\nok: 13 ran\r\x9b31m\x85x")).toBe("worker one ok: 13 ran x")
    expect(printable("a\x1bPdata\x1b\\b\x07\x00\x7f\u202ec")).toBe("abc")
    const huge = printable("A".repeat(50_000_000))
    expect(huge.length).toBeLessThan(FIELD_MAX + 60)
    expect(huge).toBe(`${"A".repeat(FIELD_MAX)}… (50000000 characters in all)`)
  })

  it("a job signed with the secret passes; unsigned, mis-signed or changed after signing it does not", () => {
    const signed = Either.getOrThrow(signJob(jobData(), "right secret"))
    expect(JSON.stringify(signed)).not.toContain("right secret")
    expect(jobSignatureProblem(signed, "right secret")).toBeUndefined()
    expect(jobSignatureProblem(jobData(), "right secret")).toBe("unsigned")
    expect(jobSignatureProblem(signed, "another secret")).toBe("mis-signed")
    expect(jobSignatureProblem({ ...signed, pipeline: "bench/split.ts" }, "right secret")).toBe("mis-signed")
    expect(jobSignatureProblem({ ...signed, signature: "zz" }, "right secret")).toBe("mis-signed")
    expect(jobSignatureProblem("not an object", "right secret")).toBe("unsigned")
  })

  it("a key difference is described by names, never values", () => {
    const a: KeyRecord = {
      ...plainKeyRecord("envy"),
      env: { HF_ENDPOINT: "https://alice:coord-pw@hub.example.org" },
      params: { lr: 0.1 },
      engine: { node: "20", packages: { effect: "3.1.0" } },
    }
    const b: KeyRecord = {
      ...plainKeyRecord("envy"),
      env: { HF_ENDPOINT: "https://alice:worker-pw@hub.example.org" },
      params: { lr: 0.2 },
      engine: { node: "22", packages: { effect: "3.2.0" } },
    }
    const lines = diffKeys({ record: a, codeFiles: {} }, { record: b, codeFiles: {} }).map(nameChange)
    expect(lines.sort()).toEqual(["engine node differs", "engine package effect differs", "env HF_ENDPOINT differs", "param lr differs"])
  })

  it("forged fields are named: an upstream key that is no hash, a key record without its fields", () => {
    const bad = (over: Partial<Record<keyof StageJobData, unknown>>) =>
      Either.match(decodeJobData(jobData(over)), { onLeft: (l) => l, onRight: () => "accepted" })
    expect(bad({ upstream: { clean: "../../etc/passwd" } })).toContain("upstream.clean: not a cache key")
    expect(bad({ record: { format: 2, stage: "clean", code: "c" } })).toContain("record.version: is missing")
    expect(bad({ record: { ...plainKeyRecord("clean"), inputs: null } })).toContain("record.inputs")
    // A huge forged field is not echoed whole.
    expect(bad({ record: { ...plainKeyRecord("clean"), stage: 7 }, instance: 5, coordinator: "x".repeat(1_000_000) }).length).toBeLessThan(1_000)
  })

  it("a queue URL is printed without its password, even one holding '@' (needs redactUrl with a URL parser, remote-cache helper)", () => {
    const t = queueTargetFrom("redis://user:p@ss@host:6379/zz")
    const message = t instanceof QueueUrlError ? t.message : "accepted"
    expect(message).toContain("the path must be a database number")
    expect(message).not.toContain("p@ss")
    expect(message).not.toContain("ss@")
    const ok = queueTargetFrom("redis://user:p@ss@host:6379")
    expect(ok instanceof QueueUrlError ? ok.message : ok.url).toBe("redis://host:6379")
  })

  it("served pipeline files: only .ts/.js/.mts files resolved inside a served folder, never the cache or node_modules", () => {
    const dir = trustProject()
    plantInCache(dir)
    fs.mkdirSync(path.join(dir, "more"))
    fs.writeFileSync(path.join(dir, "more/p.ts"), "")
    const served = Either.getOrThrow(servedFoldersFrom(dir, dir, [], path.join(dir, "cache")))
    const check = (rel: string) => Either.match(servedPipelineFile(served, rel), { onLeft: (l) => l, onRight: (f) => path.relative(dir, f) })
    expect(check("pipelines/chain.ts")).toBe("pipelines/chain.ts")
    for (const rel of [
      "bench/split.ts",
      "pipelines/link.ts",
      "cache/trees/abc/evil.ts",
      "cache/trees/abc/evil.mjs",
      "pipelines/node_modules/evil.ts",
      "../x/pipelines/a.ts",
      "/etc/passwd.ts",
      "more/p.ts",
      "pipelines/none.ts",
    ]) {
      expect(check(rel), rel).toContain(`its pipeline file ${rel} `)
      expect(check(rel), rel).toContain("this worker serves pipelines/")
    }
    // Serving the whole checkout still leaves out its cache and node_modules.
    const all = Either.getOrThrow(servedFoldersFrom(dir, dir, ["."], path.join(dir, "cache")))
    expect(Either.getOrElse(Either.flip(servedPipelineFile(all, "cache/trees/abc/evil.ts")), () => "")).toContain("lies in this worker's cache")
    expect(Either.getOrElse(Either.flip(servedPipelineFile(all, "pipelines/node_modules/evil.ts")), () => "")).toContain("lies in a node_modules folder")
    expect(Either.isRight(servedPipelineFile(all, "more/p.ts"))).toBe(true)
    expect(Either.isLeft(servedFoldersFrom(dir, dir, ["cache/trees"], path.join(dir, "cache")))).toBe(true)
    expect(Either.isLeft(servedFoldersFrom(dir, dir, ["no-such"], path.join(dir, "cache")))).toBe(true)
  })
})

const missing = redisMissing("the queue trust tests") ?? nginxMissing("the queue trust tests")

type Proc = ReturnType<typeof cliAsync>
const running: Array<Proc> = []
afterEach(async () => {
  for (const p of running.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL")
    await p.done
  }
})
afterAll(() => removeProjects())

// Each test starts Redis and a CLI process or two and waits on them (each wait bounded by EVENT_MS).
describe.skipIf(missing !== undefined)("forged jobs and a rogue worker on a real Redis", { timeout: 600_000 }, () => {
  let nginx: NginxServer
  let redis: RedisServer
  let prefix = 0
  const remote = () => `${nginx.url}/trust-${++prefix}`
  const opened: Array<{ close: () => Promise<void> }> = []
  beforeAll(async () => {
    nginx = await startNginx()
  })
  afterAll(() => nginx?.stop())
  afterEach(async () => {
    for (const o of opened.splice(0).reverse()) await o.close()
    await redis?.stop()
  })

  const connection = (): ConnectionOptions => ({ host: "127.0.0.1", port: redis.port })
  /** BullMQ's Queue API, as an attacker with write access to Redis uses it. */
  const attacker = async () => {
    const queue = new Queue(QUEUE, { connection: connection() })
    const events = new QueueEvents(QUEUE, { connection: connection() })
    opened.push(queue, events)
    await events.waitUntilReady()
    let n = 0
    /** Pushes a forged job; its failure reason once a worker refused it. */
    const push = async (data: unknown): Promise<string> => {
      const job = await queue.add("forged", data, { jobId: `forged-${++n}`, attempts: 1 })
      return job.waitUntilFinished(events, EVENT_MS).then(
        () => "completed",
        (e: unknown) => (e instanceof Error ? e.message : String(e)),
      )
    }
    return { queue, push }
  }
  const worker = (dir: string, args: ReadonlyArray<string> = [], env: Record<string, string> = {}) => {
    const p = cliAsync(dir, ["worker", "--queue", redis.url, "--remote-cache", remote(), ...args], { ...FAST, ...env })
    running.push(p)
    return { ...p, ready: () => waitFor(() => p.output().includes("cairn worker "), EVENT_MS, `worker in ${dir} to start: ${p.output()}`) }
  }

  it("a worker imports only pipeline files of the folders it serves: bench/, its cache, node_modules and links out are refused before any import", async () => {
    redis = await startRedis()
    const dir = trustProject()
    const w = worker(dir)
    await w.ready()
    plantInCache(dir)
    // Without the secret it says, once, that the queue's writers can run code on it.
    expect(w.output().match(/CAIRN_QUEUE_SECRET is not set: whoever can write to the queue .* can run code on this worker/g)).toHaveLength(1)
    const { push } = await attacker()
    for (const pipeline of ["bench/split.ts", "pipelines/link.ts", "cache/trees/abc/evil.mjs", "cache/trees/abc/evil.ts", "pipelines/node_modules/evil.ts"]) {
      const reason = await push(jobData({ pipeline }))
      expect(reason, pipeline).toContain(`refused stage clean of ${pipeline}: its pipeline file ${pipeline} `)
      expect(reason).toContain("this worker serves pipelines/")
    }
    expect(imported(dir)).toEqual([])
    // The proof the test can see an import: a served pipeline file is imported (the job is then refused: no such stage).
    expect(await push(jobData({ pipeline: "pipelines/marked.ts", instance: "nope" }))).toContain("no stage instance nope in pipelines/marked.ts here")
    expect(imported(dir)).toEqual(["pipelines/marked.ts"])
  })

  it("a worker serving its whole checkout (--pipelines .) still never imports from its cache", async () => {
    redis = await startRedis()
    const dir = trustProject()
    const w = worker(dir, ["--pipelines", "."])
    await w.ready()
    plantInCache(dir)
    const { push } = await attacker()
    expect(await push(jobData({ pipeline: "cache/trees/abc/evil.ts" }))).toContain("lies in this worker's cache")
    // What that folder serves is imported (bench/split.ts is no pipeline: refused once imported).
    expect(await push(jobData({ pipeline: "bench/split.ts", instance: "nope" }))).toContain(
      "its pipeline bench/split.ts does not load here (ConfigError): see the worker's log",
    )
    expect(imported(dir)).toEqual(["bench/split.ts"])
  })

  it("with CAIRN_QUEUE_SECRET a worker refuses unsigned and mis-signed jobs before reading them, and runs a signing coordinator's", async () => {
    redis = await startRedis()
    const secret = "s3cret-for-the-queue-test"
    const url = remote()
    const [dir, c] = [trustProject(), trustProject()]
    const p = cliAsync(dir, ["worker", "--queue", redis.url, "--remote-cache", url], { ...FAST, [QUEUE_SECRET_ENV]: secret })
    running.push(p)
    await waitFor(() => p.output().includes("cairn worker "), EVENT_MS, `worker to start: ${p.output()}`)
    expect(p.output()).not.toContain("is not set")
    const { queue, push } = await attacker()
    const unsigned = await push(jobData({ pipeline: "pipelines/marked.ts", instance: "nope" }))
    expect(unsigned).toContain("refused job forged-1: it is not signed, and this worker takes only jobs signed with CAIRN_QUEUE_SECRET")
    const misSigned = await push(Either.getOrThrow(signJob(jobData({ pipeline: "pipelines/marked.ts", instance: "nope" }), "a guess")))
    expect(misSigned).toContain("refused job forged-2: its signature is not valid under this worker's CAIRN_QUEUE_SECRET")
    // Refused before the data was read: nothing imported, not even a served pipeline file.
    expect(imported(dir)).toEqual([])

    // A coordinator without the secret: refused; with it: its run goes through.
    const refused = await cliAsync(c, ["run", "pipelines/chain.ts", "--queue", redis.url, "--remote-cache", url], FAST).done
    expect(refused.code).toBe(1)
    expect(refused.stdout).toMatch(/^FAILED .*clean.*it is not signed/m)
    const run = await cliAsync(c, ["run", "pipelines/chain.ts", "--queue", redis.url, "--remote-cache", url, "--json", "r.json"], {
      ...FAST,
      [QUEUE_SECRET_ENV]: secret,
    }).done
    expect(run.code, `${run.stdout}${run.stderr}\nworker:\n${p.output()}`).toBe(0)
    expect(run.stdout).toContain("jobs signed")
    expect(run.stdout).toMatch(/^ran +[0-9.]+s {2}merge \(worker /m)
    // The secret is never printed nor stored in a job.
    const jobs = await queue.getJobs(["completed", "failed"])
    expect(jobs.length).toBeGreaterThan(2)
    for (const text of [p.output(), run.stdout + run.stderr, refused.stdout + refused.stderr, JSON.stringify(jobs.map((j) => j.data))])
      expect(text).not.toContain(secret)
  })

  it("a refusal stored in Redis names the env variable that differs, never its values", async () => {
    redis = await startRedis()
    const url = remote()
    const [dir, c] = [trustProject(), trustProject()]
    const w = worker(dir, [], { HF_ENDPOINT: "https://alice:worker-pw@hub.example.org" })
    await w.ready()
    const run = await cliAsync(c, ["run", "pipelines/envy.ts", "--queue", redis.url, "--remote-cache", url], {
      ...FAST,
      HF_ENDPOINT: "https://alice:coord-pw@hub.example.org",
    }).done
    expect(run.code).toBe(1)
    expect(run.stdout).toMatch(/^FAILED .*envy.*env HF_ENDPOINT differs/m)
    const { queue } = await attacker()
    const reasons = (await queue.getJobs(["failed"])).map((j) => j.failedReason)
    expect(reasons).toHaveLength(1)
    expect(reasons[0]).toContain("env HF_ENDPOINT differs")
    for (const text of [...reasons, run.stdout, run.stderr]) {
      for (const value of ["worker-pw", "coord-pw", "hub.example.org", "alice"]) expect(text).not.toContain(value)
    }
  })

  it("forged upstream keys and key records are refusals naming the field; a huge job field is not echoed whole", async () => {
    redis = await startRedis()
    const dir = trustProject()
    const w = worker(dir)
    await w.ready()
    const { queue, push } = await attacker()
    const notHash = await push(jobData({ instance: "count", upstream: { clean: "not-a-hash" } }))
    expect(notHash).toContain("is not a stage job it can read: upstream.clean: not a cache key")
    const noInputs = await push(jobData({ record: { ...plainKeyRecord("clean"), inputs: undefined } }))
    expect(noInputs).toContain("record.inputs: is missing")
    const forgedRecord = await push(jobData({ key: "b".repeat(64), record: { ...plainKeyRecord("clean"), env: 3 } }))
    expect(forgedRecord).toContain("record.env")
    for (const reason of [notHash, noInputs, forgedRecord]) expect(reason).not.toMatch(/not a cache entry name|Cannot convert/)

    const before = w.output().length
    const huge = await push(jobData({ instance: "A".repeat(2_000_000) }))
    expect(huge).toContain("no stage instance AAAA")
    expect(huge.length).toBeLessThan(2_000)
    await waitFor(() => w.output().includes("FAILED AAAA"), EVENT_MS, "the worker's refusal line")
    expect(w.output().length - before).toBeLessThan(5_000)
    const stored = (await queue.getJobs(["failed"])).map((j: Job) => j.failedReason.length)
    expect(Math.max(...stored)).toBeLessThan(2_000)
  })

  it("what a rogue worker sends reaches the coordinator's terminal without control characters", async () => {
    redis = await startRedis()
    const url = remote()
    const c = trustProject()
    const rogue = new Worker(
      QUEUE,
      async (job: Job) => {
        await job.updateProgress({ kind: "taken", worker: "\x1b[2J\x1b[Hrogue\x1b]0;pwned\x07" })
        await job.updateProgress({ kind: "log", message: "\x1b[2J\nok: 13 ran\x1b[1A" })
        await job.updateProgress({ kind: "progress", text: "\x1b]0;title\x07half", fraction: 0.5, task: "\x1b[31mred" })
        throw new UnrecoverableError("\x1b[2J\x1b]0;owned\x07boom\nok: 13 ran")
      },
      { connection: connection() },
    )
    opened.push(rogue)
    await rogue.waitUntilReady()
    const run = await cliAsync(c, ["run", "pipelines/chain.ts", "--queue", redis.url, "--remote-cache", url], FAST).done
    expect(run.code, run.stdout + run.stderr).toBe(1)
    const out = run.stdout + run.stderr
    if (process.env.CAIRN_TEST_SHOW) console.log(out)
    expect(out).toContain("boom ok: 13 ran")
    expect(out).not.toMatch(ESC_OR_CONTROL)
    expect(out).not.toMatch(/^ok: 13 ran/m)
  })

  it("a wrong password, a missing one and an untrusted TLS certificate are named", async () => {
    redis = await startRedis({ password: "right-pw" })
    const connect = async (url: string) => {
      const target = queueTargetFrom(url)
      if (target instanceof QueueUrlError) throw target
      const exit = await Effect.runPromiseExit(Effect.scoped(redisClient(target, 5_000)))
      return Exit.isFailure(exit) ? String(exit.cause) : "connected"
    }
    expect(await connect(`redis://:right-pw@127.0.0.1:${redis.port}`)).toBe("connected")
    expect(await connect(`redis://:wrong-pw@127.0.0.1:${redis.port}`)).toContain(`queue redis://127.0.0.1:${redis.port}: authentication failed (WRONGPASS`)
    expect(await connect(`redis://127.0.0.1:${redis.port}`)).toContain("authentication required (NOAUTH")
    const w = await cliAsync(trustProject(), ["worker", "--queue", `redis://:wrong-pw@127.0.0.1:${redis.port}`, "--remote-cache", remote()], FAST).done
    expect(w.code).not.toBe(0)
    expect(w.stdout + w.stderr).toContain("authentication failed (WRONGPASS")
    expect(w.stdout + w.stderr).toContain("check the user and password in the queue URL")
    expect(w.stdout + w.stderr).not.toContain("wrong-pw")
    await redis.stop()
    if (!opensslBinary()) return console.warn("skipping the TLS case: openssl is not installed")
    redis = await startRedis({ tls: true })
    expect(await connect(redis.url)).toContain(`queue ${redis.url}: TLS: self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)`)
  })
})
