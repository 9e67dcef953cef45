/**
 * kill -9 at every step of a commit, a gc and a verify (the failpoints in src/core/store/local):
 * the store stays consistent (`cairn verify` finds nothing wrong once it has finished any
 * interrupted quarantine) and a rerun completes with the right results.
 */
import { afterAll, describe, expect, it } from "vitest"
import { removeProjects } from "../support/helpers.js"
import { attackProject, cairn, flipFirstByte, PATHS, run, storedCleanFile, taggedOutput } from "./attack.js"

const via = PATHS[0]
const KILLED = -1 // cliAsync's code for a process ended by a signal

/** Runs verify until it reports a consistent store (an interrupted quarantine may need one pass). */
const settle = async (dir: string) => {
  const first = await cairn(dir, ["verify"])
  if (first.code === 0) return first.stdout
  expect(first.stdout).toContain("quarantined")
  const second = await cairn(dir, ["verify"])
  expect(second.code, second.stdout).toBe(0)
  return second.stdout
}

/** After a crash: verify settles the store, a rerun completes with the right output, verify stays clean. */
const expectRecovered = async (dir: string) => {
  const again = await run(dir, via, "pipelines/chain.ts")
  expect(again.code, again.stderr).toBe(0)
  expect(taggedOutput(dir)).toBe("t:Hello World\nSecond File")
  expect((await cairn(dir, ["verify"])).stdout).toContain("store is consistent")
  return again
}

describe("crash consistency: kill -9 mid-operation", () => {
  afterAll(removeProjects)

  it.each(["commit-objects", "commit-manifest", "commit-tree", "commit-record", "commit-record@3"])("during a commit (%s)", async (point) => {
    const dir = attackProject()
    const crashed = await run(dir, via, "pipelines/chain.ts", [], { CAIRN_FAILPOINT: point })
    expect(crashed.code).toBe(KILLED)
    expect(await settle(dir)).toContain("store is consistent")
    await expectRecovered(dir)
  })

  it.each(["gc-items", "gc-tree", "gc-object@2", "gc-record", "remove-tree"])("during gc (%s)", async (point) => {
    const dir = attackProject()
    expect((await run(dir, via, "pipelines/chain.ts")).code).toBe(0)
    const crashed = await cairn(dir, ["gc", "--max-size", "0"], { CAIRN_FAILPOINT: point })
    expect(crashed.code).toBe(KILLED)
    expect(await settle(dir)).toContain("store is consistent")
    await expectRecovered(dir)
  })

  it.each(["verify-hash@2", "verify-tree", "verify-object"])("during verify (%s)", async (point) => {
    const dir = attackProject()
    expect((await run(dir, via, "pipelines/chain.ts")).code).toBe(0)
    flipFirstByte(storedCleanFile(dir), true)
    const crashed = await cairn(dir, ["verify"], { CAIRN_FAILPOINT: point })
    expect(crashed.code).toBe(KILLED)
    await settle(dir)
    expect((await expectRecovered(dir)).statuses.clean).toBe("ran")
  })
})
