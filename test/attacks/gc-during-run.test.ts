/**
 * Attack 9: `cairn gc` (even `--max-size 0`) and `cairn clean` while a pipeline runs. A run holds
 * a lease naming everything it uses; gc keeps all of it, clean refuses, two gcs at once are safe,
 * and the run completes with its result stored.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { removeProjects, waitFor } from "../support/helpers.js"
import { attackProject, cairn, PATHS, ran, run } from "./attack.js"

describe.each(PATHS)("gc during a run ($name)", (via) => {
  afterAll(removeProjects)

  it("gc --max-size 0 and clean while a stage runs: the run completes and its inputs survive", async () => {
    const dir = attackProject()
    expect((await run(dir, via, "pipelines/chain.ts")).code).toBe(0)
    const started = path.join(dir, "started")
    // slow reads clean's stored result (cached above) while it sleeps.
    const release = path.join(dir, "release")
    const running = run(dir, via, "pipelines/slow.ts", [], { CAIRN_TEST_STARTED: started, CAIRN_TEST_SLEEP_MS: "0", CAIRN_TEST_RELEASE: release })
    await waitFor(() => fs.existsSync(started), 60_000, "the slow stage to start")

    const [gc1, gc2] = await Promise.all([cairn(dir, ["gc", "--max-size", "0"]), cairn(dir, ["gc", "--max-size", "0"])])
    expect(gc1.code, gc1.stderr).toBe(0)
    expect(gc2.code, gc2.stderr).toBe(0)
    expect(gc1.stdout + gc2.stdout).toMatch(/kept \d+ results a running pipeline uses/)
    const clean = await cairn(dir, ["clean"])
    expect(clean.code).not.toBe(0)
    expect(clean.stdout + clean.stderr).toMatch(/running|in use/)

    fs.writeFileSync(release, "go")
    const finished = await running
    expect(finished.code, finished.stdout + finished.stderr).toBe(0)
    expect(finished.statuses).toMatchObject({ clean: "cached", count: "cached", slow: "ran" })
    expect((await cairn(dir, ["verify"])).stdout).toContain("store is consistent")
    // What it committed is served next time.
    expect(ran(await run(dir, via, "pipelines/slow.ts", [], { CAIRN_TEST_SLEEP_MS: "10" }))).toEqual([])

    // With no run under way, gc --max-size 0 removes everything: the next run recomputes.
    const gc = await cairn(dir, ["gc", "--max-size", "0"])
    expect(gc.code).toBe(0)
    expect(gc.stdout).not.toContain("kept")
    const after = await run(dir, via, "pipelines/slow.ts", [], { CAIRN_TEST_SLEEP_MS: "10" })
    expect(after.code, after.stderr).toBe(0)
    expect(ran(after)).toEqual(expect.arrayContaining(["clean", "count", "slow"]))
  })
})
