/**
 * Resume through the queue (issue #22): a stage that works in steps, run by a worker that is
 * killed with -9 after its step 2 of 4 was saved, is taken by another worker (stalled-job
 * detection) which continues from step 2 with the progress the first pushed to the remote cache:
 * it computes steps 3-4 only, and the result is the one a local uninterrupted run gives. Each
 * worker is its own project folder and local cache (two machines), sharing Redis and nginx.
 *
 * The fixture stage chains sha256 over its steps and keeps the chain as its progress file, so a
 * resume from any other state would give another result. The waits are on events (a line in a
 * worker's log file, a process's exit), each under an outer bound only.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { localLayout } from "../../../src/core/store/layout.js"
import { fixtureFiles } from "../../support/fixture-project.js"
import { cliAsync, loggedLines as logged, makeProject, removeProjects, startedProcesses, waitFor } from "../../support/helpers.js"
import { type NginxServer, nginxMissing, startNginx } from "../../servers/nginx.js"
import { type RedisServer, redisMissing, startRedis } from "../../servers/redis.js"

const missing = redisMissing("the queue resume test") ?? nginxMissing("the queue resume test")

const QUICK = { CAIRN_QUEUE_POLL_MS: "200", CAIRN_QUEUE_BACKOFF_MS: "200" }
/** A dead worker's job is taken by another within seconds (as queue-workers.test.ts sets it). */
const SHORT_LOCK = { CAIRN_QUEUE_LOCK_MS: "5000", CAIRN_QUEUE_STALLED_MS: "1000" }
const EVENT_MS = 120_000
const TEST_MS = 600_000

/** A stage of four steps, saving its sha256 chain after each step but the last; it may hold after a step. */
const STEPPER = `
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
import { logRun } from "./log.js"
export const stepper = defineStage({
  name: "stepper",
  params: Schema.Struct({ steps: Schema.Int }),
  steps: (p) => ({ unit: "step", total: p.steps }),
  run: (ctx) => Effect.gen(function* () {
    const s = ctx.steps!
    const saved = yield* s.resume
    let chain = saved ? fs.readFileSync(saved.files["chain.txt"]!, "utf8") : "seed"
    for (let k = (saved?.step ?? 0) + 1; k <= ctx.params.steps; k++) {
      logRun("stepper:" + k)
      chain = createHash("sha256").update(chain + ":" + k).digest("hex")
      if (k === ctx.params.steps) break
      const dir = yield* s.newFolder
      fs.writeFileSync(path.join(dir, "chain.txt"), chain)
      yield* s.save(k, dir, { k })
      logRun("stepper:saved:" + k)
      // Held here until released: the test kills this worker meanwhile.
      if (process.env.CAIRN_TEST_HOLD_AFTER === String(k)) {
        while (!fs.existsSync(process.env.CAIRN_TEST_RELEASE ?? "/nonexistent")) yield* Effect.sleep("50 millis")
      }
    }
    fs.writeFileSync(path.join(ctx.outDir, "chain.txt"), chain)
    return { chain }
  }),
})
`
const PIPELINE = `
import { definePipeline } from "@cairn"
import { stepper } from "../stages/stepper.js"
export default definePipeline({ name: "steps", stages: [stepper], params: { steps: 4 } })
`
const files = () => ({ ...fixtureFiles(), "stages/stepper.ts": STEPPER, "pipelines/steps.ts": PIPELINE })

const { started, stopAll } = startedProcesses()
afterEach(stopAll)
afterAll(() => removeProjects())

const report = (dir: string) =>
  JSON.parse(fs.readFileSync(path.join(dir, "r.json"), "utf8")) as { stages: Array<{ id: string; status: string; key: string; resumedFromEpoch?: number }> }

describe.skipIf(missing !== undefined)("resume through the queue", () => {
  let nginx: NginxServer
  let redis: RedisServer
  beforeAll(async () => {
    nginx = await startNginx()
  })
  afterAll(() => nginx?.stop())
  afterEach(() => redis?.stop())

  it(
    "a worker killed with -9 after step 2 of 4: another worker continues from step 2, computes only steps 3-4, same result as a local run",
    async () => {
      redis = await startRedis()
      const url = `${nginx.url}/queue-resume`
      const [local, a, b, c] = [makeProject(files()), makeProject(files()), makeProject(files()), makeProject(files())]
      const ref = await cliAsync(local, ["run", "pipelines/steps.ts", "--json", "r.json"], { CAIRN_TEST_LOG: path.join(local, "runs.log") }).done
      expect(ref.code, ref.stdout + ref.stderr).toBe(0)
      expect(logged(path.join(local, "runs.log")).filter((l) => /^stepper:\d$/.test(l))).toEqual(["stepper:1", "stepper:2", "stepper:3", "stepper:4"])

      const env = (dir: string) => ({ CAIRN_TEST_LOG: path.join(dir, "runs.log"), ...QUICK, ...SHORT_LOCK })
      const wa = started(cliAsync(a, ["worker", "--queue", redis.url, "--remote-cache", url], { ...env(a), CAIRN_TEST_HOLD_AFTER: "2" }))
      await waitFor(() => wa.output().includes("cairn worker "), EVENT_MS, `worker A to start: ${wa.output()}`)
      const run = started(cliAsync(c, ["run", "pipelines/steps.ts", "--queue", redis.url, "--remote-cache", url, "--json", "r.json"], { ...env(c) }))
      // Step 2 saved (locally and on the remote cache: a save returns once pushed), then A is killed.
      await waitFor(() => logged(path.join(a, "runs.log")).includes("stepper:saved:2"), EVENT_MS, `A to save step 2: ${wa.output()}`)
      if (process.env.CAIRN_TEST_SHOW) console.log("A:", wa.output())
      wa.child.kill("SIGKILL")
      await wa.done
      const wb = started(cliAsync(b, ["worker", "--queue", redis.url, "--remote-cache", url], env(b)))
      const done = await run.done
      if (process.env.CAIRN_TEST_SHOW) console.log("B:", wb.output(), "C:", done.stdout, done.stderr)
      expect(done.code, done.stdout + done.stderr + wb.output()).toBe(0)
      expect(done.stdout).toMatch(new RegExp(`^ran +[0-9.]+s  stepper \\(worker [^ ]+:${wb.child.pid}\\)$`, "m"))
      // The stage's lines reach the coordinator through the job.
      expect(done.stdout).toMatch(/^\[stepper\] resumed from step 2 of 4 \(saved /m)
      expect(logged(path.join(a, "runs.log")).filter((l) => /^stepper:\d$/.test(l))).toEqual(["stepper:1", "stepper:2"])
      expect(logged(path.join(b, "runs.log")).filter((l) => /^stepper:\d$/.test(l))).toEqual(["stepper:3", "stepper:4"])
      const stepperOf = (dir: string) => report(dir).stages.find((s) => s.id === "stepper")
      expect(stepperOf(c)).toMatchObject({ status: "ran", resumedFromEpoch: 2 })
      // The chain of four steps, to the bit as the local run computed it (the same output hash: files, value and metrics).
      const output = (dir: string) => JSON.parse(fs.readFileSync(localLayout(path.join(dir, "cache")).record(stepperOf(dir)!.key), "utf8")).output
      expect(output(c).hash).toBe(output(local).hash)
      expect(output(c).value).toEqual(output(local).value)
    },
    TEST_MS,
  )
})
