/**
 * Store objects are checked on lookup by their stamp (size, mtime, ctime, inode), as inputs are: an
 * honest store is checked by `stat` alone (the stamps are recorded after the store's own last link
 * to each object, also when a later stage links a stored file into its output), a file whose stamp
 * changed is rehashed once, and one whose content changed is a miss, quarantined.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { StageKey } from "../../../src/core/hashes.js"
import type { RunRecord } from "../../../src/core/store/records.js"
import { LocalStore } from "../../../src/core/store/local/local-store.js"
import { plainKeyRecord } from "../../support/helpers.js"
import { flipFirstByte } from "../../attacks/attack.js"

const roots: Array<string> = []
afterAll(() => {
  for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true })
})

const newStore = () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-lookup-cost-"))
  roots.push(root)
  return Effect.runPromise(LocalStore.make(path.join(root, "cache"), root))
}

const key = (c: string) => c.repeat(64)
const meta = (k: string) => ({
  key: StageKey(k),
  id: k.slice(0, 4),
  pipeline: "cost",
  fields: plainKeyRecord("s"),
  codeFiles: {},
  parents: {},
  startedAt: new Date().toISOString(),
  seconds: 0,
})

/**
 * Commits a result under `k`: `files` written by the stage, `placed` (rel → a stored file) linked
 * from the store, and with `item` a memo item (its files written, then placed into the output).
 */
const commit = (
  store: LocalStore,
  k: string,
  files: Record<string, string>,
  options: { placed?: Record<string, string>; item?: { key: string; files: Record<string, string> } } = {},
): Promise<RunRecord> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const staging = yield* store.staging(k.slice(0, 8))
        for (const [rel, text] of Object.entries(files)) fs.writeFileSync(path.join(staging.outDir, rel), text)
        for (const [rel, file] of Object.entries(options.placed ?? {})) yield* staging.place(file, rel)
        const items: Array<StageKey> = []
        if (options.item) {
          const hit = yield* store.lookupItem(StageKey(options.item.key))
          const dir = hit ? hit.files.dir : yield* staging.itemDir(StageKey(options.item.key))
          if (!hit) {
            for (const [rel, text] of Object.entries(options.item.files)) fs.writeFileSync(path.join(dir, rel), text)
            yield* staging.addItem(StageKey(options.item.key), null)
          }
          for (const rel of Object.keys(options.item.files)) yield* staging.place(path.join(dir, rel), `item-${rel}`)
          items.push(StageKey(options.item.key))
        }
        return yield* staging.commit({ ...meta(k), items }, null, {})
      }),
    ),
  )

const lookup = (store: LocalStore, k: string) => Effect.runPromise(store.lookup(StageKey(k)))
const lookupItem = (store: LocalStore, k: string) => Effect.runPromise(store.lookupItem(StageKey(k)))

/** The files the lookups in `f` read. */
const readBy = async (store: LocalStore, f: () => Promise<unknown>): Promise<Array<string>> => {
  const before = store.rehashed.length
  await f()
  return store.rehashed.slice(before)
}

describe("store objects are checked on lookup by their stamp", () => {
  it("an honest store is checked by stat alone: after a commit, after a later stage placed its files, after memo items were placed and reused", async () => {
    const store = await newStore()
    const a = await commit(store, key("a"), { "x.txt": "hello", "y.txt": "world" })
    expect(await readBy(store, () => lookup(store, key("a")))).toEqual([])
    // A later stage links one of A's files into its output (ctx.linkFile): A's object gains and loses a link.
    const aDir = store.layout.tree(a.output.tree)
    await commit(store, key("b"), { "own.txt": "b's own" }, { placed: { "from-a.txt": path.join(aDir, "x.txt") } })
    expect(await readBy(store, () => lookup(store, key("a")))).toEqual([])
    expect(await readBy(store, () => lookup(store, key("b")))).toEqual([])
    // A memo item computed and placed into the output, then reused (placed from the store) by another result.
    const item = { key: key("1"), files: { "i.txt": "item content" } }
    const c = await commit(store, key("c"), { "c.txt": "c" }, { item })
    expect(await readBy(store, () => lookupItem(store, key("1")))).toEqual([])
    expect(await readBy(store, () => lookup(store, key("c")))).toEqual([])
    await commit(store, key("d"), { "d.txt": "d" }, { item })
    expect(await readBy(store, () => lookupItem(store, key("1")))).toEqual([])
    expect(await readBy(store, () => lookup(store, key("d")))).toEqual([])
    // C shares the item's object with D, whose tree linked it after C's stamp was taken: C's copy
    // of it is read once (the price of deduplication), then trusted again.
    expect(await readBy(store, () => lookup(store, key("c")))).toEqual([path.join(store.layout.tree(c.output.tree), "item-i.txt")])
    expect(await readBy(store, () => lookup(store, key("c")))).toEqual([])
  })

  it("a file whose stamp changed but not its content (a touch, a hard link made by someone else) is read once, then trusted again", async () => {
    const store = await newStore()
    const a = await commit(store, key("a"), { "x.txt": "hello" })
    const file = path.join(store.layout.tree(a.output.tree), "x.txt")
    fs.linkSync(file, path.join(path.dirname(store.layout.dir), "someone-elses-link"))
    execFileSync("touch", [file])
    expect(await readBy(store, () => lookup(store, key("a")))).toEqual([file])
    expect(await readBy(store, () => lookup(store, key("a")))).toEqual([])
  })

  it("a file changed in place with its size and mtime put back is a miss, its object quarantined", async () => {
    const store = await newStore()
    const a = await commit(store, key("a"), { "x.txt": "hello", "y.txt": "world" })
    const file = path.join(store.layout.tree(a.output.tree), "y.txt")
    const { size, mtimeMs } = fs.statSync(file)
    flipFirstByte(file, true)
    expect(fs.statSync(file).size).toBe(size)
    expect(fs.statSync(file).mtimeMs).toBe(mtimeMs)
    expect(await readBy(store, async () => expect(await lookup(store, key("a"))).toBeUndefined())).toEqual([file])
    expect(fs.readdirSync(store.layout.quarantineDir).length).toBe(1)
    // It reruns: the same content makes a whole result again.
    await commit(store, key("a"), { "x.txt": "hello", "y.txt": "world" })
    expect((await lookup(store, key("a")))?.output.tree).toBe(a.output.tree)
  })
})
