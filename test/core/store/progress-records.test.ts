/**
 * Progress records (cache.ts `ProgressRecords`, local/progress.ts, remote/remote-progress.ts): the
 * newest is loaded with its files hash-checked, a save keeps one record per key (and a file two
 * records share once), a torn or damaged record is skipped with why and the previous one used,
 * gc keeps the progress of a key without a result and drops it once the result is committed; on a
 * remote cache (a validating one, as bazel-remote), a second machine's store gets the newest record
 * (checked), and a record whose blob changed on the server is not used.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Layer } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { StageKey } from "../../../src/core/hashes.js"
import { Cache, type NewProgress } from "../../../src/core/store/cache.js"
import { localLayout } from "../../../src/core/store/layout.js"
import { layerFromUrl } from "../../../src/core/store/remote/from-url.js"
import { progressEntryName } from "../../../src/core/store/remote/remote-progress.js"
import { StoreAdmin } from "../../../src/core/store/store-admin.js"
import { storeLayer } from "../../../src/core/store/store-layer.js"
import { type BazelRemoteLikeServer, startBazelRemoteLike } from "../../servers/bazel-remote-like.js"
import { plainKeyRecord } from "../../support/helpers.js"

const roots: Array<string> = []
afterAll(() => {
  for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true })
})
const tempRoot = () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-progress-"))
  roots.push(root)
  return root
}

const KEY = StageKey("c".repeat(64))
const fieldsAt = (step: number): NewProgress => ({ key: KEY, id: "train/fold-1", unit: "epoch", step, total: 4, value: { step } })

/** Saves a record of `step` whose files are `files` (name → content). */
const save = (store: Cache, step: number, files: Record<string, string>) =>
  Effect.gen(function* () {
    const dir = yield* store.progress.newFolder("test")
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text)
    return yield* store.progress.save(fieldsAt(step), dir)
  })

const run = <A>(layer: Layer.Layer<Cache | StoreAdmin, unknown>, body: (store: Cache, admin: StoreAdmin) => Effect.Effect<A, unknown>) =>
  Effect.runPromise(
    Effect.scoped(Effect.flatMap(Effect.all([Cache, StoreAdmin]), ([s, a]) => body(s, a)).pipe(Effect.provide(layer))) as Effect.Effect<A, unknown, never>,
  )

describe("progress records in the local store", () => {
  const root = tempRoot()
  const cacheDir = path.join(root, "cache")
  const layout = localLayout(cacheDir)
  const layer = () => storeLayer(cacheDir, root)
  const records = () => fs.readdirSync(layout.progress(KEY)).filter((f) => f.endsWith(".json"))

  it("loads the newest with its files checked; a save keeps one record, a shared file once", () =>
    run(layer(), (store) =>
      Effect.gen(function* () {
        expect((yield* store.progress.load(KEY)).found).toBeUndefined()
        yield* save(store, 1, { "state.bin": "state-1", "best.bin": "best" })
        const second = yield* save(store, 2, { "state.bin": "state-2", "best.bin": "best" })
        expect(records()).toEqual(["000002.json"])
        expect(fs.readdirSync(path.join(layout.progress(KEY), "blobs")).sort()).toEqual(
          [second.files["best.bin"]!.hash, second.files["state.bin"]!.hash].sort(),
        )
        const loaded = yield* store.progress.load(KEY)
        expect(loaded.skipped).toEqual([])
        expect(loaded.found?.record.step).toBe(2)
        expect(loaded.found?.record.value).toEqual({ step: 2 })
        expect(fs.readFileSync(loaded.found!.files["state.bin"]!, "utf8")).toBe("state-2")
        expect((yield* store.progress.peek(KEY))?.step).toBe(2)
      }),
    ))

  it("a damaged newest record is skipped, saying why, and the previous one is used; a torn one likewise", () =>
    run(layer(), (store) =>
      Effect.gen(function* () {
        yield* store.progress.drop(KEY)
        const first = yield* save(store, 1, { "best.bin": "best" })
        const firstJson = fs.readFileSync(layout.progressRecord(KEY, 1))
        const second = yield* save(store, 2, { "state.bin": "state-2", "best.bin": "best" })
        // As a process killed between a save and its pruning leaves it: both records.
        fs.writeFileSync(layout.progressRecord(KEY, 1), firstJson)
        const blob = layout.progressBlob(KEY, second.files["state.bin"]!.hash)
        fs.chmodSync(blob, 0o644)
        fs.writeFileSync(blob, "state-X")
        const loaded = yield* store.progress.load(KEY)
        expect(loaded.skipped).toEqual([{ step: 2, why: "its file state.bin does not hash to what the record says" }])
        expect(loaded.found?.record.step).toBe(first.step)
        // The damaged record is gone; a torn record (not JSON) is skipped too.
        expect(records()).toEqual(["000001.json"])
        fs.writeFileSync(layout.progressRecord(KEY, 3), '{"format":')
        const again = yield* store.progress.load(KEY)
        expect(again.skipped.map((s) => s.step)).toEqual([3])
        expect(again.skipped[0]?.why).toMatch(/^it cannot be read/)
        expect(again.found?.record.step).toBe(1)
        // A missing file: skipped, nothing left: start from step 1.
        fs.rmSync(layout.progressBlob(KEY, first.files["best.bin"]!.hash))
        const none = yield* store.progress.load(KEY)
        expect(none).toEqual({ found: undefined, skipped: [{ step: 1, why: "its file best.bin is missing" }] })
      }),
    ))

  it("gc keeps the progress of a key without a result and drops it once the result is committed", () =>
    run(layer(), (store, admin) =>
      Effect.gen(function* () {
        yield* save(store, 1, { "state.bin": "s" })
        expect((yield* admin.gc({})).removedProgress).toBe(0)
        expect((yield* store.progress.load(KEY)).found?.record.step).toBe(1)
        yield* Effect.scoped(
          Effect.gen(function* () {
            const staging = yield* store.staging("k")
            fs.writeFileSync(path.join(staging.outDir, "x.txt"), "done")
            yield* staging.commit(
              {
                key: KEY,
                id: "train/fold-1",
                pipeline: "p",
                fields: plainKeyRecord("s"),
                codeFiles: {},
                parents: {},
                items: [],
                startedAt: new Date().toISOString(),
                seconds: 0,
              },
              null,
              {},
            )
          }),
        )
        expect((yield* admin.gc({})).removedProgress).toBe(1)
        expect(fs.existsSync(layout.progress(KEY))).toBe(false)
      }),
    ))
})

describe("progress records on a remote cache (validating, as bazel-remote)", () => {
  let server: BazelRemoteLikeServer
  const remoteLayer = (root: string) =>
    storeLayer(path.join(root, "cache"), root, Cache.layerRemote({ warn: (m) => Effect.sync(() => warnings.push(m)) })).pipe(
      Layer.provide(layerFromUrl(`${server.url}/progress`)),
    )
  const warnings: Array<string> = []
  afterAll(() => server?.stop())

  it("a second machine loads the newest record pushed (hash-checked); a blob changed on the server is not used", async () => {
    server = await startBazelRemoteLike()
    const [a, b, c] = [tempRoot(), tempRoot(), tempRoot()]
    await run(remoteLayer(a), (store) =>
      Effect.gen(function* () {
        yield* save(store, 1, { "state.bin": "state-1" })
        yield* save(store, 2, { "state.bin": "state-2" })
      }),
    )
    expect(fs.existsSync(path.join(server.root, "progress", "ac", progressEntryName(KEY)))).toBe(true)
    const onB = await run(remoteLayer(b), (store) => store.progress.load(KEY))
    expect(onB.found?.record.step).toBe(2)
    expect(fs.readFileSync(onB.found!.files["state.bin"]!, "utf8")).toBe("state-2")
    expect(warnings).toEqual([])
    expect(await server.rejected()).toEqual([])

    // Whoever can write to the server changes the state blob: the reader's download is hash-checked.
    const hash = onB.found!.record.files["state.bin"]!.hash
    fs.writeFileSync(path.join(server.root, "progress", "cas", hash), "state-X")
    const onC = await run(remoteLayer(c), (store) => store.progress.load(KEY))
    expect(onC.found).toBeUndefined()
    expect(warnings.join("\n")).toMatch(/is not on the server \(intact\): not used/)
  })
})
