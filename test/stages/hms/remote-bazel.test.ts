/**
 * `hms-quick` (tiny params, as in e2e.test.ts) against a cache that validates as bazel-remote does
 * by default (test/servers/bazel-remote-like.ts): it answers 400 to an `/ac/` upload that is no
 * REAPI ActionResult, and serves an entry only while every blob it names is there. One machine runs
 * the pipeline and pushes every stage: no upload is refused. A fresh machine (another cache folder,
 * empty) pointed at the same cache then runs nothing, and gets the same scores and submission.
 *
 * Each run trains five folds: about a minute on an idle 2-core machine, several on a busy one. The
 * test's timeout is a generous outer bound; the temp folder is removed only once every CLI process
 * this file started has exited.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { cliAsync } from "../../support/helpers.js"
import { type BazelRemoteLikeServer, startBazelRemoteLike } from "../../servers/bazel-remote-like.js"

const REPO = path.resolve(__dirname, "../../..")
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-remote-bazel-"))
const TEST_MS = 30 * 60_000

/** Tiny but complete: five folds of a 32 px resnet18d, one epoch each (as in e2e.test.ts). */
const SMALL = ["spectrograms=40", "test_spectrograms=3", "max_rows=25", "img_size=32", "epochs=1", "batch_size=4"].flatMap((p) => ["--param", p])

type Proc = ReturnType<typeof cliAsync>
const procs: Array<Proc> = []
const start = (args: ReadonlyArray<string>) => {
  const p = cliAsync(REPO, args)
  procs.push(p)
  return p
}

let server: BazelRemoteLikeServer | undefined
afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL")
  await Promise.all(procs.map((p) => p.done))
  await server?.stop()
  fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 5 })
})

type RunReport = { stages: Array<{ id: string; key: string; status: string }>; metrics: Record<string, number> }
const report = (file: string): RunReport => JSON.parse(fs.readFileSync(file, "utf8"))

describe("hms-quick through a validating Bazel cache (bazel-remote-like)", () => {
  it(
    "a push has no refused upload; a fresh machine pulls every stage (0 ran) with the same scores",
    async () => {
      server = await startBazelRemoteLike()
      const run = (who: string) => {
        const json = path.join(tmp, `${who}.json`)
        const args = [
          "run",
          "pipelines/hms-quick.ts",
          ...SMALL,
          "--remote-cache",
          `${server?.url}/hms`,
          "--cache-dir",
          path.join(tmp, who, "cache"),
          "--out",
          path.join(tmp, who),
          "--json",
          json,
        ]
        return { json, done: start(args).done }
      }

      const first = run("pusher")
      const pushed = await first.done
      expect(pushed.code, pushed.stdout + pushed.stderr).toBe(0)
      expect(pushed.stderr, "no push was refused or stopped").not.toContain("warning:")
      expect(await server.rejected()).toEqual([])
      const stages = report(first.json).stages
      expect(stages.every((s) => s.status === "ran")).toBe(true)
      // Every stage's entry is on the server (an ActionResult: the server refused none).
      const entries = new Set(fs.readdirSync(path.join(server.root, "hms", "ac")))
      expect(stages.filter((s) => !entries.has(s.key)).map((s) => s.id)).toEqual([])

      const fresh = run("fresh")
      const pulled = await fresh.done
      expect(pulled.code, pulled.stdout + pulled.stderr).toBe(0)
      expect(pulled.stdout).toMatch(new RegExp(`^ok: 0 ran, ${stages.length} cached`, "m"))
      expect(pulled.stderr).not.toContain("warning:")
      expect(report(fresh.json).metrics).toEqual(report(first.json).metrics)
      expect(fs.readFileSync(path.join(tmp, "fresh/out/hms-quick/submission/submission.csv"), "utf8")).toBe(
        fs.readFileSync(path.join(tmp, "pusher/out/hms-quick/submission/submission.csv"), "utf8"),
      )
      expect(await server.rejected()).toEqual([])
    },
    TEST_MS,
  )
})
