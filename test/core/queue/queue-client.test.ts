/**
 * The queue's plumbing: queue URLs and settings, job data, BullMQ's ioredis client connecting to
 * a real Redis (and giving up on a server that never answers), and a coordinator that cannot
 * reach Redis failing at once with the URL.
 */
import * as net from "node:net"
import { Effect, Either, Exit, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { queueTargetFrom, redisClient } from "../../../src/core/queue/redis-connection.js"
import { QueueUrlError } from "../../../src/core/queue/queue-errors.js"
import { decodeJobData, JOB_FORMAT } from "../../../src/core/queue/job.js"
import { queueRunLayer } from "../../../src/core/queue/queue-executor.js"
import { DEFAULT_QUEUE_SETTINGS, queueSettingsFrom } from "../../../src/core/queue/settings.js"
import { collectingReporter, Reporter } from "../../../src/core/reporter.js"
import { plainKeyRecord } from "../../support/helpers.js"
import { type RedisServer, redisMissing, startRedis } from "../../servers/redis.js"

describe("queue URLs, settings and jobs", () => {
  it("reads host, port, db and queue name; hides credentials; refuses what is no queue", () => {
    expect(queueTargetFrom("redis://u:p%40ss@example.com:7000/2?queue=hms")).toEqual({
      url: "redis://example.com:7000/2?queue=hms",
      name: "hms",
      redis: { host: "example.com", port: 7000, username: "u", password: "p@ss", db: 2 },
    })
    expect(queueTargetFrom("redis://localhost")).toMatchObject({ url: "redis://localhost", name: "cairn-stages", redis: { host: "localhost", port: 6379 } })
    const bad = (url: string) => {
      const t = queueTargetFrom(url)
      return t instanceof QueueUrlError ? t.message : "accepted"
    }
    expect(bad("http://x:1")).toBe("queue http://x:1: http:// is not a queue: use redis://host:port")
    expect(bad("redis://x:1/db")).toContain("the path must be a database number")
    expect(bad("redis://x:1?queue=a:b")).toContain("without ':'")
    expect(bad("redis://:secret@x:1/zz")).not.toContain("secret")
  })

  it("takes settings from the environment, naming a bad one", () => {
    expect(queueSettingsFrom({ CAIRN_QUEUE_LOCK_MS: "1500" })).toEqual({ settings: { ...DEFAULT_QUEUE_SETTINGS, lockMs: 1500 } })
    expect(queueSettingsFrom({ CAIRN_QUEUE_ATTEMPTS: "0" })).toEqual({ error: "CAIRN_QUEUE_ATTEMPTS=0: must be a positive integer" })
  })

  it("checks a job's data: another format or a malformed key is no stage job", () => {
    const data = {
      format: JOB_FORMAT,
      pipeline: "p.ts",
      params: [],
      instance: "a",
      key: "a".repeat(64),
      record: plainKeyRecord("a"),
      codeFiles: {},
      upstream: {},
      force: false,
      coordinator: "h:1",
    }
    expect(Either.isRight(decodeJobData(data))).toBe(true)
    expect(Either.isLeft(decodeJobData({ ...data, format: JOB_FORMAT + 1 }))).toBe(true)
    expect(Either.isLeft(decodeJobData({ ...data, key: "../etc" }))).toBe(true)
    // Every field of the key record a worker compares is checked (a forged one is no job, not a crash).
    expect(Either.isLeft(decodeJobData({ ...data, record: { format: 2, stage: "a", code: "c" } }))).toBe(true)
  })
})

const missing = redisMissing("the queue client tests")

describe.skipIf(missing !== undefined)("the queue client against a real Redis", () => {
  let redis: RedisServer
  beforeAll(async () => {
    redis = await startRedis()
  })
  afterAll(() => redis?.stop())

  it("connects BullMQ's ioredis client to the URL's Redis, and closes it with the scope", async () => {
    const target = queueTargetFrom(redis.url)
    if (target instanceof QueueUrlError) throw target
    const reply = await Effect.runPromise(
      Effect.scoped(Effect.flatMap(redisClient(target, 2_000), (client) => Effect.promise(() => (client as unknown as { ping(): Promise<string> }).ping()))),
    )
    expect(reply).toBe("PONG")
  })

  it("gives up on a server that accepts and never answers, after its timeout, naming the queue", async () => {
    const sockets: Array<net.Socket> = []
    const silent = net.createServer((s) => void sockets.push(s))
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r))
    const port = (silent.address() as net.AddressInfo).port
    const target = queueTargetFrom(`redis://127.0.0.1:${port}/1`)
    if (target instanceof QueueUrlError) throw target
    const t0 = Date.now()
    const exit = await Effect.runPromiseExit(Effect.scoped(redisClient(target, 300)))
    // An outer bound: 300 ms was the limit, not the default connect limit (nor none: ioredis retries forever).
    expect(Date.now() - t0).toBeLessThan(DEFAULT_QUEUE_SETTINGS.connectMs)
    expect(Exit.isFailure(exit) && String(exit.cause)).toContain(`queue redis://127.0.0.1:${port}/1`)
    for (const s of sockets) s.destroy()
    await new Promise<void>((r) => silent.close(() => r()))
  })

  it("a coordinator whose Redis is down fails at start, naming the queue", async () => {
    const down = await startRedis()
    await down.stop()
    const target = queueTargetFrom(down.url)
    if (target instanceof QueueUrlError) throw target
    const layer = queueRunLayer({ target, settings: { ...DEFAULT_QUEUE_SETTINGS, connectMs: 500 }, pipelineFile: "p.ts", params: [] }).pipe(
      Layer.provide(Layer.succeed(Reporter, collectingReporter().reporter)),
    )
    const t0 = Date.now()
    const exit = await Effect.runPromiseExit(Effect.scoped(Effect.asVoid(Layer.build(layer))))
    // An outer bound: the 500 ms connect limit was used, not the default one.
    expect(Date.now() - t0).toBeLessThan(DEFAULT_QUEUE_SETTINGS.connectMs)
    expect(Exit.isFailure(exit) && String(exit.cause)).toContain(`queue ${down.url}: cannot connect`)
  })
})
