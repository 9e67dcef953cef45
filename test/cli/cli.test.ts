import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeEach, describe, expect, it } from "vitest"
import { fixtureFiles } from "../support/fixture-project.js"
import { cli, cliAsync, makeProject, removeProjects, statuses, waitFor, writeFile } from "../support/helpers.js"

const objectHashes = (dir: string): Array<string> => {
  const root = path.join(dir, "cache", "objects")
  if (!fs.existsSync(root)) return []
  return fs.readdirSync(root).flatMap((s) => fs.readdirSync(path.join(root, s)))
}

describe("cairn CLI", () => {
  afterAll(removeProjects)
  let dir: string
  let log: string
  beforeEach(() => {
    dir = makeProject(fixtureFiles())
    log = path.join(dir, "runs.log")
  })
  const env = () => ({ CAIRN_TEST_LOG: log })
  const logged = () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").split("\n").filter(Boolean) : [])

  it("runs, reports JSON, publishes, and reruns only what a code edit changes", async () => {
    const r1 = await cli(dir, ["run", "pipelines/chain.ts", "--json", "r1.json"], env())
    expect(r1.code, r1.stderr).toBe(0)
    expect(r1.stdout).toMatch(/ran\s+[\d.]+s\s+clean/)
    const report = JSON.parse(fs.readFileSync(path.join(dir, "r1.json"), "utf8"))
    expect(report.pipeline).toBe("chain")
    expect(report.stages.map((s: { id: string }) => s.id)).toEqual(["data", "clean", "count", "split/part-0", "split/part-1", "split/part-2", "merge", "other"])
    for (const s of report.stages) {
      expect(s.status).toBe("ran")
      expect(s.key).toMatch(/^[0-9a-f]{64}$/)
      expect(typeof s.seconds).toBe("number")
    }
    expect(report.metrics).toEqual({ words: 4, total: 4 })
    expect(fs.readFileSync(path.join(dir, "out/other/tagged.txt"), "utf8")).toBe("t:Hello World\nSecond File")
    expect(fs.readFileSync(path.join(dir, "out/report/summary.txt"), "utf8")).toContain("clean ran\ncount ran")

    // A helper edit that changes behaviour: the stage using it and everything downstream rerun.
    writeFile(dir, "stages/text-helpers.ts", "export const normalize = (s: string, lower: boolean) => (lower ? s.toLowerCase() : s.toUpperCase()).trim()\n")
    const r2 = await cli(dir, ["run", "pipelines/chain.ts", "--json", "r2.json"], env())
    expect(r2.code).toBe(0)
    expect(statuses(path.join(dir, "r2.json"))).toEqual({
      data: "cached",
      clean: "ran",
      count: "ran",
      "split/part-0": "ran",
      "split/part-1": "ran",
      "split/part-2": "ran",
      merge: "ran", // its inputs' contents changed (in-process tests cover early cutoff)
      other: "ran",
    })
    expect(fs.readFileSync(path.join(dir, "out/other/tagged.txt"), "utf8")).toBe("t:HELLO WORLD\nSECOND FILE")
  })

  it("status names the changed param and code file; dag prints the graph", async () => {
    expect((await cli(dir, ["run", "pipelines/chain.ts"], env())).code).toBe(0)
    const fresh = await cli(dir, ["status", "pipelines/chain.ts"])
    expect(fresh.stdout).toContain("everything is fresh")
    const st = await cli(dir, ["status", "pipelines/chain.ts", "--param", "min=5"])
    expect(st.stdout).toMatch(/STALE\s+count\s+param min: 1 -> 5/)
    expect(st.stdout).toMatch(/fresh\s+other/)
    writeFile(dir, "stages/text-helpers.ts", "export const normalize = (s: string, lower: boolean) => (lower ? s.toLowerCase() : s).trim() // v2\n")
    const code = await cli(dir, ["status", "pipelines/chain.ts"])
    expect(code.stdout).toMatch(/STALE\s+clean\s+code: stages\/text-helpers.ts \(modified\)/)

    const text = await cli(dir, ["dag", "pipelines/chain.ts"])
    expect(text.stdout).toContain("split/part-2  [count<-count]")
    expect(text.stdout).toContain("merge  [parts<-split/part-0, parts<-split/part-1, parts<-split/part-2]")
    const mermaid = await cli(dir, ["dag", "pipelines/chain.ts", "--format", "mermaid", "--param", "parts=2"])
    expect(mermaid.stdout.split("\n")[0]).toBe("flowchart TD")
    expect(mermaid.stdout).toContain("n_count --> n_split_part_1")
    expect(mermaid.stdout).not.toContain("part_2")
    const dot = await cli(dir, ["dag", "pipelines/chain.ts", "--format", "dot"])
    expect(dot.stdout).toContain('"clean" -> "other" [label="clean"];')
  })

  it("exit codes: 2 for usage and param errors, 1 for a failed stage", async () => {
    const unknown = await cli(dir, ["run", "pipelines/chain.ts", "--param", "nope=1"])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain("param nope=1: no stage of pipeline chain declares it")
    const bad = await cli(dir, ["run", "pipelines/chain.ts", "--param", "min=abc"])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain("count.min")
    expect(fs.existsSync(path.join(dir, "cache", "runs"))).toBe(false) // nothing ran
    expect((await cli(dir, ["run", "pipelines/missing.ts"])).code).toBe(2)
    expect((await cli(dir, ["frobnicate"])).code).toBe(2)
    const failed = await cli(dir, ["run", "pipelines/broken.ts"])
    expect(failed.code).toBe(1)
    expect(failed.stdout).toContain("failed broken: broken on purpose")
    expect(failed.stdout).toMatch(/skipped\s+[\d.]+s\s+after-broken/)
  })

  it("a run killed with SIGKILL mid-stage leaves no partial object; the next run completes", async () => {
    const started = path.join(dir, "started")
    const partial = createHash("sha256")
      .update(Buffer.alloc(1 << 20, 7))
      .digest("hex")
    const slow = cliAsync(dir, ["run", "pipelines/slow.ts"], { CAIRN_TEST_STARTED: started, CAIRN_TEST_SLEEP_MS: "60000" })
    await waitFor(() => fs.existsSync(started), 60_000, "the slow stage to start")
    slow.child.kill("SIGKILL")
    const killedRun = await slow.done
    const finishedBeforeKill = [...killedRun.stdout.matchAll(/^ran\s+[\d.]+s\s+(\S+)/gm)].map((m) => m[1]!)
    expect(finishedBeforeKill).toEqual(expect.arrayContaining(["data", "clean"]))
    // The killed run left staging and a lock, but no object of the unfinished stage.
    expect(fs.readdirSync(path.join(dir, "cache", "tmp")).length).toBeGreaterThan(0)
    expect(objectHashes(dir)).not.toContain(partial)

    // A lock of a key no later run takes again (killed between commit and release) is swept too.
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid
    fs.writeFileSync(path.join(dir, "cache", "locks", `${"0".repeat(64)}.lock`), JSON.stringify({ pid: dead, host: os.hostname(), since: "x" }))

    const again = await cli(dir, ["run", "pipelines/slow.ts", "--json", "again.json"], { CAIRN_TEST_SLEEP_MS: "10" })
    expect(again.code, again.stderr).toBe(0)
    const st = statuses(path.join(dir, "again.json"))
    expect(st.slow).toBe("ran")
    for (const id of finishedBeforeKill) expect(st[id]).toBe("cached")
    expect(objectHashes(dir)).toContain(partial)
    expect(fs.readdirSync(path.join(dir, "cache", "tmp"))).toEqual([])
    expect(fs.readdirSync(path.join(dir, "cache", "locks"))).toEqual([])
  })

  it("two concurrent runs on one cache compute each stage once", async () => {
    const a = cliAsync(dir, ["run", "pipelines/slow.ts", "--json", "a.json"], { ...env(), CAIRN_TEST_SLEEP_MS: "1500" })
    const b = cliAsync(dir, ["run", "pipelines/slow.ts", "--json", "b.json"], { ...env(), CAIRN_TEST_SLEEP_MS: "1500" })
    const [ra, rb] = await Promise.all([a.done, b.done])
    expect(ra.code, ra.stderr).toBe(0)
    expect(rb.code, rb.stderr).toBe(0)
    const runs = logged()
    for (const id of ["clean", "count", "slow:start"]) expect(runs.filter((l) => l === id)).toHaveLength(1)
    const sa = statuses(path.join(dir, "a.json"))
    const sb = statuses(path.join(dir, "b.json"))
    expect([sa.slow, sb.slow].sort()).toEqual(["cached", "ran"])
  })

  it("export copies an artifact out, running what is missing; gc, clean, runs and diff", async () => {
    const ex = await cli(dir, ["export", "pipelines/chain.ts", "count", "exported"])
    expect(ex.code, ex.stderr).toBe(0)
    expect(JSON.parse(fs.readFileSync(path.join(dir, "exported/words.json"), "utf8"))).toEqual(["Hello", "World", "Second", "File"])
    expect(fs.existsSync(path.join(dir, "cache", "state", "chain", "merge.json"))).toBe(false) // merge was not needed

    expect((await cli(dir, ["run", "pipelines/chain.ts"])).code).toBe(0)
    expect((await cli(dir, ["run", "pipelines/chain.ts", "--param", "min=6"])).code).toBe(0)
    const runs = await cli(dir, ["runs", "pipelines/chain.ts"])
    expect(runs.stdout).toContain("min=6")
    const ids = runs.stdout
      .split("\n")
      .slice(1)
      .map((l) => l.split(/\s+/)[0]!)
      .filter(Boolean)
    expect(ids.length).toBe(3)
    const diff = await cli(dir, ["diff", ids[1]!, ids[2]!])
    expect(diff.code, diff.stderr).toBe(0)
    expect(diff.stdout).toMatch(/min\s+1\s+6\s+\*/)
    expect(diff.stdout).toMatch(/words\s+4\s+1\s+-3/)

    const gc = await cli(dir, ["gc", "--keep-last", "1"])
    expect(gc.code, gc.stderr).toBe(0)
    expect(gc.stdout).toMatch(/gc: removed [1-9]\d* results/)
    // The last run is intact after gc: all cached.
    const after = await cli(dir, ["run", "pipelines/chain.ts", "--param", "min=6", "--json", "after.json"])
    expect(Object.values(statuses(path.join(dir, "after.json"))).every((s) => s === "cached")).toBe(true)
    expect(after.code).toBe(0)
    const small = await cli(dir, ["gc", "--max-size", "0"])
    expect(small.stdout).toMatch(/-> 0 B/)
    expect((await cli(dir, ["clean"])).code).toBe(0)
    // Only the store's marker and the coordination folders (leases, locks) of other processes stay.
    for (const name of fs.readdirSync(path.join(dir, "cache"))) expect(["CAIRN-STORE.json", "leases", "locks"]).toContain(name)
  })

  it("watch reruns after a file edit and survives a failing run", async () => {
    const w = cliAsync(dir, ["watch", "pipelines/chain.ts", "--debounce", "100"])
    try {
      await waitFor(() => /waiting for changes/.test(w.output()), 60_000, "the first run")
      writeFile(dir, "pipelines/chain.ts", fs.readFileSync(path.join(dir, "pipelines/chain.ts"), "utf8").replace('tag: "t"', 'tag: "t2"'))
      await waitFor(() => (w.output().match(/waiting for changes/g) ?? []).length >= 2, 60_000, "a rerun")
      expect(w.output()).toMatch(/ran\s+[\d.]+s\s+other/)
      writeFile(dir, "stages/text-helpers.ts", "export const normalize = ( => broken syntax\n")
      await waitFor(() => /run failed/.test(w.output()), 60_000, "a failing run")
      writeFile(dir, "stages/text-helpers.ts", "export const normalize = (s: string, lower: boolean) => (lower ? s.toLowerCase() : s).trim()\n")
      await waitFor(
        () => (w.output().match(/run ok/g) ?? []).length >= 2 && w.output().lastIndexOf("run ok") > w.output().lastIndexOf("run failed"),
        60_000,
        "recovery",
      )
      expect(w.child.exitCode).toBe(null)
    } finally {
      w.child.kill("SIGTERM")
      await w.done
    }
  })

  it("a no-op rerun is replayed from its stamp; any change to code, data, results or outputs takes the full path", async () => {
    const report = (f: string) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"))
    expect((await cli(dir, ["run", "pipelines/chain.ts", "--json", "r.json"], env())).code).toBe(0)
    const replay = await cli(dir, ["run", "pipelines/chain.ts", "--json", "r.json"], env())
    expect(replay.code).toBe(0)
    expect(report("r.json").replayed).toBe(true)
    expect(report("r.json").stages.every((s: { status: string }) => s.status === "cached")).toBe(true)
    expect(report("r.json").metrics).toEqual({ words: 4, total: 4 })
    expect(replay.stdout).toContain("ok: 0 ran, 8 cached, 0 failed, 0 skipped")
    expect((await cli(dir, ["runs", "pipelines/chain.ts"])).stdout.trim().split("\n")).toHaveLength(3)
    // The after-run hook's output shows this (replayed) run: everything cached.
    const summary = fs.readFileSync(path.join(dir, "out/report/summary.txt"), "utf8")
    expect(summary).toContain("clean cached")
    expect(summary).toContain("words 4")
    expect(summary).not.toContain(" ran")

    const again = async (what: string, expected: Record<string, string>) => {
      const r = await cli(dir, ["run", "pipelines/chain.ts", "--json", "r.json"], env())
      expect(r.code, what).toBe(0)
      expect(report("r.json").replayed, what).toBeUndefined()
      expect(statuses(path.join(dir, "r.json")), what).toMatchObject(expected)
    }
    fs.writeFileSync(path.join(dir, "data", "b.txt"), "Other Words\n")
    await again("data edit", { data: "ran", clean: "ran" })
    writeFile(
      dir,
      "stages/count.ts",
      fs.readFileSync(path.join(dir, "stages/count.ts"), "utf8").replace("length >= ctx.params.min", "length >= ctx.params.min + 1"),
    )
    await again("code edit", { clean: "cached", count: "ran" })
    fs.rmSync(path.join(dir, "out", "other"), { recursive: true })
    await again("published output removed", { other: "cached" })
    expect(fs.existsSync(path.join(dir, "out", "other", "tagged.txt"))).toBe(true)
    expect((await cli(dir, ["gc", "--max-size", "0"])).code).toBe(0)
    await again("results evicted", { clean: "ran", count: "ran", other: "ran" })
    expect((await cli(dir, ["run", "pipelines/chain.ts", "--json", "r.json"], env())).code).toBe(0)
    expect(report("r.json").replayed).toBe(true)
  })
})
