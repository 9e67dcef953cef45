/**
 * A sweep through the queue: `cairn run --sweep ... --queue` puts every variant's stages on the
 * queue (each job carrying its variant's own params and ids, Instance.origin), two workers run them,
 * and `cairn runs --sweep last` gives the table a local sweep gives, with every stage run once.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { fixtureFiles } from "../../support/fixture-project.js"
import { cli, cliAsync, makeProject, removeProjects, waitFor } from "../../support/helpers.js"
import { type NginxServer, nginxMissing, startNginx } from "../../servers/nginx.js"
import { type RedisServer, redisMissing, startRedis } from "../../servers/redis.js"

const missing = redisMissing("the queue sweep test") ?? nginxMissing("the queue sweep test")
const QUICK = { CAIRN_QUEUE_POLL_MS: "200", CAIRN_QUEUE_BACKOFF_MS: "200" }
/** Outer bounds only: a busy machine takes far longer than an idle one. */
const EVENT_MS = 120_000
const TEST_MS = 600_000
const SWEEP = ["--sweep", "min=1,6", "--sweep", "tag=a,b"]

type Proc = ReturnType<typeof cliAsync>
const running: Array<Proc> = []
afterEach(async () => {
  for (const p of running.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL")
    await p.done
  }
})
afterAll(() => removeProjects())

const logged = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean) : [])
const comparison = async (dir: string) =>
  (
    JSON.parse((await cli(dir, ["runs", "--sweep", "last", "--json"])).stdout) as Array<{ variant: string; params: unknown; metrics: unknown; ok: boolean }>
  ).map((r) => [r.variant, r.params, r.metrics, r.ok])

describe.skipIf(missing !== undefined)("a sweep on queue workers", () => {
  let nginx: NginxServer
  let redis: RedisServer
  beforeAll(async () => {
    nginx = await startNginx()
    redis = await startRedis()
  })
  afterAll(() => {
    redis?.stop()
    nginx?.stop()
  })

  it(
    "two workers run every variant's stages once; the comparison is the local sweep's",
    async () => {
      const url = `${nginx.url}/sweep`
      const local = makeProject(fixtureFiles())
      const localRun = await cli(local, ["run", "pipelines/chain.ts", ...SWEEP])
      expect(localRun.code, localRun.stdout + localRun.stderr).toBe(0)
      const [a, b, c] = [makeProject(fixtureFiles()), makeProject(fixtureFiles()), makeProject(fixtureFiles())]
      const workers = [a, b].map((dir) => {
        const p = cliAsync(dir, ["worker", "--queue", redis.url, "--remote-cache", url, "--jobs", "2"], {
          CAIRN_TEST_LOG: path.join(dir, "runs.log"),
          ...QUICK,
        })
        running.push(p)
        return p
      })
      await Promise.all(workers.map((w) => waitFor(() => w.output().includes("cairn worker "), EVENT_MS, `a worker to start: ${w.output()}`)))
      const run = cliAsync(c, ["run", "pipelines/chain.ts", ...SWEEP, "--queue", redis.url, "--remote-cache", url], {
        CAIRN_TEST_LOG: path.join(c, "runs.log"),
        ...QUICK,
      })
      running.push(run)
      const done = await run.done
      expect(done.code, done.stdout + done.stderr).toBe(0)
      expect(done.stdout).toMatch(/^ran +[0-9.]+s {2}v3\/count \(worker [^ ]+\)$/m)
      expect(done.stdout).toContain("ok: 14 ran, 0 cached, 0 failed, 0 skipped")
      // Nothing ran on the coordinator; across the workers, each of the sweep's stages ran once.
      expect(logged(path.join(c, "runs.log"))).toEqual([])
      const ran = [...logged(path.join(a, "runs.log")), ...logged(path.join(b, "runs.log"))].sort()
      expect(ran).toEqual(["clean", "count", "count", "merge", "merge", "other", "other", ...Array.from({ length: 6 }, (_, i) => `split/part-${i % 3}`)].sort())
      expect(await comparison(c)).toEqual(await comparison(local))
    },
    TEST_MS,
  )
})
