/**
 * The shared remote cache: two machines (two local cache folders, two project folders) sharing one
 * server, each test against nginx WebDAV and against a cache that validates entries as bazel-remote
 * does (test/servers/bazel-remote-like.ts: it answers 400 to an `/ac/` upload that is no
 * ActionResult, and none may be refused). A result committed on A is a hit on B with the same output
 * hash; a blob corrupted or deleted on the server, or an entry that is not for its key, is a miss,
 * never a failure; an entry of an earlier cairn (JSON) is a miss with one line; a read-only client
 * writes nothing; a server that is down leaves the run local-only with one warning. Then the same
 * through `cairn run --remote-cache` on the fixture pipeline.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Either, Layer, type Scope } from "effect"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { sha256 } from "../../../../src/core/canonical.js"
import { computeKey } from "../../../../src/core/key.js"
import { StageKey } from "../../../../src/core/hashes.js"
import { Cache } from "../../../../src/core/store/cache.js"
import type { RunRecord } from "../../../../src/core/store/records.js"
import { localLayout } from "../../../../src/core/store/layout.js"
import { remoteCacheFromUrl, layerFromUrl } from "../../../../src/core/store/remote/from-url.js"
import type { RemoteStoreOptions } from "../../../../src/core/store/remote/remote-store.js"
import { storeLayer } from "../../../../src/core/store/store-layer.js"
import { fixtureFiles, memoFiles } from "../../../support/fixture-project.js"
import { cli, makeProject, plainKeyRecord, removeProjects, statuses } from "../../../support/helpers.js"
import { startBazelRemoteLike } from "../../../servers/bazel-remote-like.js"
import { nginxMissing, startNginx } from "../../../servers/nginx.js"
import { readEntry, writeEntry } from "./remote-entries.js"

/** A cache server the tests share: its URL, its storage folder, and the uploads it refused (400). */
interface CacheServer {
  readonly url: string
  readonly root: string
  readonly rejected: () => Promise<ReadonlyArray<string>>
  readonly stop: () => Promise<void>
}

/** The servers each test runs against: nginx (skipped without it) and the validating one (always). */
const SERVERS: ReadonlyArray<{ readonly name: string; readonly validates: boolean; readonly start: () => Promise<CacheServer> }> = [
  ...(nginxMissing("the remote cache tests on nginx")
    ? []
    : [{ name: "nginx WebDAV", validates: false, start: async () => ({ ...(await startNginx()), rejected: async () => [] }) }]),
  { name: "bazel-remote-like (validating)", validates: true, start: startBazelRemoteLike },
]

const roots: Array<string> = []
afterAll(() => {
  for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true })
  removeProjects()
})
const tempRoot = () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-remote-"))
  roots.push(root)
  return root
}

/** One machine: a project root and its own local cache folder; warnings collected. */
interface Machine {
  readonly root: string
  readonly cache: string
  readonly warnings: Array<string>
}
const machine = (): Machine => {
  const root = tempRoot()
  return { root, cache: path.join(root, "cache"), warnings: [] }
}

/** Runs `body` against machine `m`'s store with the remote cache at `url`; the layer (and its pushes) is done when it resolves. */
const onMachine = <A>(
  m: Machine,
  url: string,
  body: (store: Cache) => Effect.Effect<A, unknown, Scope.Scope>,
  options: RemoteStoreOptions = {},
): Promise<A> => {
  const warn = (message: string) => Effect.sync(() => void m.warnings.push(message))
  const layer = storeLayer(m.cache, m.root, Cache.layerRemote({ ...options, warn })).pipe(Layer.provide(layerFromUrl(url, { warn })))
  return Effect.runPromise(Effect.scoped(Effect.flatMap(Cache, body)).pipe(Effect.provide(layer)) as Effect.Effect<A, unknown, never>)
}

const fields = plainKeyRecord
const keyOf = (stage: string) => Either.getOrThrow(computeKey(fields(stage)))

/** Commits `files` (rel → content) as the result of stage `stage`, with memo items (key → files). */
const commit = (store: Cache, stage: string, files: Record<string, string | Buffer>, items: Record<string, Record<string, string>> = {}) =>
  Effect.scoped(
    Effect.gen(function* () {
      const staging = yield* store.staging(stage)
      const write = (dir: string, rel: string, content: string | Buffer) => {
        fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true })
        fs.writeFileSync(path.join(dir, rel), content)
      }
      for (const [key, itemFiles] of Object.entries(items)) {
        const dir = yield* staging.itemDir(StageKey(key))
        for (const [rel, text] of Object.entries(itemFiles)) write(dir, rel, text)
        yield* staging.addItem(StageKey(key), { item: key.slice(0, 4) })
      }
      for (const [rel, content] of Object.entries(files)) write(staging.outDir, rel, content)
      return yield* staging.commit(
        {
          key: keyOf(stage),
          id: stage,
          pipeline: "remote",
          fields: fields(stage),
          codeFiles: {},
          parents: {},
          items: Object.keys(items).map(StageKey),
          startedAt: new Date().toISOString(),
          seconds: 0,
        },
        { stage },
        { files: Object.keys(files).length },
      )
    }),
  )

const readTree = (store: Cache, record: RunRecord) =>
  Effect.map(store.materialize(record.output.tree), (m) =>
    Object.fromEntries(
      fs
        .readdirSync(m.dir, { recursive: true, encoding: "utf8" })
        .filter((f) => fs.statSync(path.join(m.dir, f)).isFile())
        .sort()
        .map((f) => [f, fs.readFileSync(path.join(m.dir, f), "utf8")]),
    ),
  )

/** Every file under a folder, relative. */
const filesUnder = (dir: string): Array<string> =>
  fs.existsSync(dir)
    ? fs
        .readdirSync(dir, { recursive: true, encoding: "utf8" })
        .filter((f) => fs.statSync(path.join(dir, f)).isFile())
        .sort()
    : []

describe.each(SERVERS)("remote cache (two machines, one $name)", ({ validates, start }) => {
  let server: CacheServer
  let prefix = 0
  /** A fresh prefix on the shared server per test: `[url, folder on the server]`. */
  const remote = (): [string, string] => {
    const name = `cache-${++prefix}`
    return [`${server.url}/${name}`, path.join(server.root, name)]
  }
  beforeAll(async () => {
    server = await start()
  })
  afterAll(() => server?.stop())
  // No test makes an upload that a validating server refuses.
  afterEach(async () => {
    expect(await server.rejected()).toEqual([])
  })

  it("a result committed on A is a hit on B: same output hash, files, value and memo items", async () => {
    const [url, onServer] = remote()
    const a = machine()
    const b = machine()
    const big = Buffer.alloc(300_000, 7)
    const itemKey = StageKey(sha256("item one"))
    const committed = await onMachine(a, url, (store) =>
      commit(store, "s1", { "x.txt": "hello", "sub/y.txt": "world", "big.bin": big }, { [itemKey]: { "i.txt": "item" } }),
    )
    // Blobs and entries on the server: ac/<key> for the run and for the item, cas/<sha256> per blob
    // and per record; each entry an ActionResult naming its files under out/ and its record.
    const records = [committed.key, itemKey].map((k) => readEntry(onServer, k).index.record.hash)
    expect(filesUnder(onServer)).toEqual(
      [`ac/${committed.key}`, `ac/${itemKey}`, ...[sha256("hello"), sha256("world"), sha256(big), sha256("item"), ...records].map((h) => `cas/${h}`)].sort(),
    )
    const stored = readEntry(onServer, committed.key)
    expect(stored.index.files.map(([rel]) => rel).sort()).toEqual(["big.bin", "sub/y.txt", "x.txt"])
    expect(stored.record.record["key"]).toBe(committed.key)
    const got = await onMachine(b, url, (store) =>
      Effect.gen(function* () {
        const hit = yield* store.lookup(committed.key)
        expect(hit).toBeDefined()
        const item = yield* store.lookupItem(itemKey)
        return { hit: hit!, files: yield* readTree(store, hit!), item: item && fs.readFileSync(path.join(item.files.dir, "i.txt"), "utf8") }
      }),
    )
    expect(got.hit.output.hash).toBe(committed.output.hash)
    expect(got.hit.output.value).toEqual({ stage: "s1" })
    expect(got.files).toEqual({ "big.bin": big.toString("utf8"), "sub/y.txt": "world", "x.txt": "hello" })
    expect(got.item).toBe("item")
    // Installed locally on B: the next lookup needs no server.
    expect(fs.existsSync(localLayout(b.cache).record(committed.key))).toBe(true)
    expect([...a.warnings, ...b.warnings]).toEqual([])
  })

  it("a blob corrupted on the server is a miss on B (with a warning), and B's own push repairs it", async () => {
    const [url, onServer] = remote()
    const a = machine()
    const b = machine()
    const committed = await onMachine(a, url, (store) => commit(store, "s2", { "c.txt": "original" }))
    const blob = path.join(onServer, "cas", sha256("original"))
    fs.writeFileSync(blob, "ORIGINAL") // same size: only the hash tells
    const second = await onMachine(b, url, (store) =>
      Effect.gen(function* () {
        expect(yield* store.lookup(committed.key)).toBeUndefined()
        expect(fs.existsSync(localLayout(b.cache).record(committed.key))).toBe(false)
        // B computes it itself; its push uploads the blob again although the server "has" one of that size.
        return yield* commit(store, "s2", { "c.txt": "original" })
      }),
    )
    expect(second.output.hash).toBe(committed.output.hash)
    expect(b.warnings.join("\n")).toMatch(/cas\/[0-9a-f]{64}: its bytes hash to [0-9a-f]{64}, not to its name: a miss/)
    expect(fs.readFileSync(blob, "utf8")).toBe("original")
    const c = machine()
    const hit = await onMachine(c, url, (store) => store.lookup(committed.key))
    expect(hit?.output.hash).toBe(committed.output.hash)
  })

  it("a record whose blob was deleted on the server is a miss, never a failure", async () => {
    const [url, onServer] = remote()
    const a = machine()
    const b = machine()
    const committed = await onMachine(a, url, (store) => commit(store, "s3", { "kept.txt": "kept", "gone.txt": "gone" }))
    fs.rmSync(path.join(onServer, "cas", sha256("gone")))
    expect(await onMachine(b, url, (store) => store.lookup(committed.key))).toBeUndefined()
    // A validating server no longer serves the entry at all; another one serves it, and cairn finds the hole.
    expect(b.warnings).toEqual(
      validates ? [] : [`remote cache ${url}/ac/${committed.key}: its blob cas/${sha256("gone")} is not on the server (intact): a miss`],
    )
    expect(fs.existsSync(localLayout(b.cache).record(committed.key))).toBe(false)
    // Nothing half-installed: no tree was committed from the one blob that was there.
    expect(filesUnder(localLayout(b.cache).treesDir)).toEqual([])
  })

  it("an entry that is not for its key, or names a path outside its tree, is a miss with a warning", async () => {
    const [url, onServer] = remote()
    const a = machine()
    const b = machine()
    const committed = await onMachine(a, url, (store) => commit(store, "s4", { "x.txt": "x" }))
    const entry = readEntry(onServer, committed.key)
    // The same entry under another key: its fields do not hash to that key.
    const other = keyOf("s4-other")
    writeEntry(onServer, other, { files: entry.index.files, record: { ...entry.record, record: { ...entry.record.record, key: other } } })
    // A path that climbs out of the tree.
    writeEntry(onServer, committed.key, { files: [["../../escaped.txt", sha256("x"), 1]], record: entry.record })
    const found = await onMachine(b, url, (store) => Effect.all([store.lookup(other), store.lookup(committed.key)]))
    expect(found).toEqual([undefined, undefined])
    expect(b.warnings.join("\n")).toContain("its key fields do not hash to its key: a miss")
    expect(b.warnings.join("\n")).toContain('a file path outside its tree: "../../escaped.txt": a miss')
    expect(fs.existsSync(path.join(b.cache, "..", "escaped.txt"))).toBe(false)
  })

  it("entries of an earlier cairn (its JSON) are misses with one line, never a failure; a push replaces them", async () => {
    const [url, onServer] = remote()
    const a = machine()
    const committed = await onMachine(a, url, (store) => commit(store, "s-old", { "x.txt": "old" }))
    const old = readEntry(onServer, committed.key)
    // What cairn wrote before entries were ActionResults (format 1), under two keys.
    const oldEntry = (key: string) =>
      JSON.stringify({ format: 1, store: old.record["store"], kind: "run", record: { ...old.record.record, key }, files: old.index.files })
    const other = keyOf("s-old-other")
    fs.writeFileSync(path.join(onServer, "ac", committed.key), oldEntry(committed.key))
    fs.writeFileSync(path.join(onServer, "ac", other), oldEntry(other))
    const b = machine()
    const again = await onMachine(b, url, (store) =>
      Effect.gen(function* () {
        expect(yield* store.lookup(committed.key)).toBeUndefined()
        expect(yield* store.lookup(other)).toBeUndefined()
        return yield* commit(store, "s-old", { "x.txt": "old" })
      }),
    )
    // A validating server does not serve them; another one does, and cairn says so once.
    expect(b.warnings).toEqual(
      validates
        ? []
        : [`remote cache ${url}/ac/${committed.key}: an entry of an earlier cairn (format 1, not an ActionResult): a miss, as is every such entry in this run`],
    )
    const c = machine()
    expect((await onMachine(c, url, (store) => store.lookup(committed.key)))?.output.hash).toBe(again.output.hash)
    expect(c.warnings).toEqual([])
  })

  it("a read-only client reads from the server and writes nothing to it", async () => {
    const [url, onServer] = remote()
    const a = machine()
    const b = machine()
    const committed = await onMachine(a, url, (store) => commit(store, "s5", { "x.txt": "shared" }))
    const before = filesUnder(onServer)
    const mine = await onMachine(
      b,
      url,
      (store) =>
        Effect.gen(function* () {
          expect((yield* store.lookup(committed.key))?.output.hash).toBe(committed.output.hash)
          return yield* commit(store, "s5-local", { "y.txt": "local only" }, { [sha256("ro item")]: { "i.txt": "i" } })
        }),
      { readonly: true },
    )
    expect(filesUnder(onServer)).toEqual(before)
    expect(await onMachine(machine(), url, (store) => store.lookup(mine.key))).toBeUndefined()
  })

  it("with the server down, commits and lookups work locally; one warning says so", async () => {
    const down = await start()
    await down.stop()
    const d = machine()
    const itemKey = StageKey(sha256("down item"))
    const result = await onMachine(d, `${down.url}/cache`, (store) =>
      Effect.gen(function* () {
        expect(yield* store.lookup(keyOf("s6"))).toBeUndefined()
        const record = yield* commit(store, "s6", { "x.txt": "local" }, { [itemKey]: { "i.txt": "i" } })
        expect(yield* store.lookupItem(StageKey(sha256("never made")))).toBeUndefined()
        return { record, hit: yield* store.lookup(record.key), item: yield* store.lookupItem(itemKey) }
      }),
    )
    expect(result.hit?.output.hash).toBe(result.record.output.hash)
    expect(result.item).toBeDefined()
    expect(d.warnings).toHaveLength(1)
    expect(d.warnings[0]).toMatch(/ECONNREFUSED.*not used for the rest of this run \(the local cache still is\)/)
  })

  describe("cairn run --remote-cache", () => {
    const env = (log: string, extra: Record<string, string> = {}) => ({ CAIRN_TEST_LOG: log, ...extra })
    const logged = (log: string) => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").split("\n").filter(Boolean) : [])
    const report = (dir: string, file: string) =>
      JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")) as {
        stages: Array<{ id: string; key: string; status: string }>
        metrics: Record<string, unknown>
      }

    it("a fresh machine (another project folder, an empty cache) pointed at the remote: every stage is a hit", async () => {
      const [url, onServer] = remote()
      const a = makeProject({ ...fixtureFiles(), ...memoFiles() })
      const b = makeProject({ ...fixtureFiles(), ...memoFiles() })
      const first = await cli(a, ["run", "pipelines/chain.ts", "--remote-cache", url, "--json", "r.json"], env(path.join(a, "runs.log")))
      expect(first.code, first.stderr).toBe(0)
      expect(first.stdout).toContain(`remote cache ${url}`)
      expect(Object.values(statuses(path.join(a, "r.json"))).every((s) => s === "ran")).toBe(true)

      const second = await cli(b, ["run", "pipelines/chain.ts", "--json", "r.json"], env(path.join(b, "runs.log"), { CAIRN_REMOTE_CACHE: url }))
      expect(second.code, second.stderr).toBe(0)
      expect(second.stderr).not.toContain("warning")
      const { data, ...rest } = statuses(path.join(b, "r.json"))
      expect(data).toBe("ran") // a source is hashed in place on every machine
      expect(
        Object.values(rest).every((s) => s === "cached"),
        JSON.stringify(rest),
      ).toBe(true)
      expect(logged(path.join(b, "runs.log"))).toEqual([])
      // The keys are the same on both machines: nothing in them names a folder of either.
      expect(report(b, "r.json").stages.map((s) => s.key)).toEqual(report(a, "r.json").stages.map((s) => s.key))
      expect(fs.readFileSync(path.join(b, "out/other/tagged.txt"), "utf8")).toBe(fs.readFileSync(path.join(a, "out/other/tagged.txt"), "utf8"))

      // Memo items too: B forced to rerun the stage finds every item on the server.
      expect((await cli(a, ["run", "pipelines/memo.ts", "--target", "per-file", "--remote-cache", url], env(path.join(a, "runs.log")))).code).toBe(0)
      const forced = await cli(
        b,
        ["run", "pipelines/memo.ts", "--target", "per-file", "--force", "per-file", "--json", "m.json", "--remote-cache", url],
        env(path.join(b, "runs.log")),
      )
      expect(forced.code, forced.stderr).toBe(0)
      expect(statuses(path.join(b, "m.json"))["per-file"]).toBe("ran")
      expect(report(b, "m.json").metrics).toEqual({ computed: 0 })
      expect(logged(path.join(b, "runs.log")).filter((l) => l.startsWith("item:"))).toEqual([])

      // A read-only machine with a change of its own: it runs, and the server is as it was.
      const before = filesUnder(onServer)
      const c = makeProject(fixtureFiles())
      const ro = await cli(
        c,
        ["run", "pipelines/chain.ts", "--param", "tag=c", "--remote-cache", url, "--remote-cache-readonly", "--json", "r.json"],
        env(path.join(c, "runs.log")),
      )
      expect(ro.code, ro.stderr).toBe(0)
      expect(ro.stdout).toContain("(read-only)")
      expect(statuses(path.join(c, "r.json"))).toMatchObject({ clean: "cached", other: "ran" })
      expect(filesUnder(onServer)).toEqual(before)
    })

    it("a server that is down: the run works locally, with one warning; a URL that is no cache is a usage error", async () => {
      const down = await start()
      await down.stop()
      const dir = makeProject(fixtureFiles())
      const r = await cli(dir, ["run", "pipelines/chain.ts", "--remote-cache", `${down.url}/cache`, "--json", "r.json"], env(path.join(dir, "runs.log")))
      expect(r.code, r.stderr).toBe(0)
      expect(Object.values(statuses(path.join(dir, "r.json"))).every((s) => s === "ran")).toBe(true)
      expect(r.stderr.split("\n").filter((l) => l.startsWith("warning:"))).toHaveLength(1)
      expect(r.stderr).toMatch(/warning: remote cache get .*ECONNREFUSED.*not used for the rest of this run/)

      const bad = await cli(dir, ["run", "pipelines/chain.ts", "--remote-cache", "ftp://example.com/cache"])
      expect(bad.code).toBe(2)
      expect(bad.stderr).toContain("ftp:// is not a remote cache: use http://, https:// or s3://")
    })
  })
})

describe("HTTP remote cache client", () => {
  /** A local server answering with `answer` (and remembering what it was asked), for one test. */
  const serve = async (answer: (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void) => {
    const seen: Array<http.IncomingMessage> = []
    const server = http.createServer((req, res) => {
      seen.push(req)
      answer(req, res, seen.length)
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const port = (server.address() as net.AddressInfo).port
    const close = () => new Promise<void>((resolve) => server.close(() => resolve())).then(() => undefined)
    return { url: `http://127.0.0.1:${port}`, seen, close }
  }

  it("retries server errors, sends the auth header from the URL or $CAIRN_REMOTE_CACHE_HEADER", async () => {
    const s = await serve((_req, res, n) => {
      res.statusCode = n <= 2 ? 503 : 404
      res.end()
    })
    try {
      const key = "e".repeat(64)
      const got = await Effect.runPromise(
        Effect.scoped(
          Effect.flatMap(remoteCacheFromUrl(`${s.url}/pre/fix/`, { env: { CAIRN_REMOTE_CACHE_HEADER: "Authorization: Bearer t0ken" } }), (rc) =>
            rc.get("ac", key),
          ),
        ),
      )
      expect(got).toBeUndefined() // two 503s, then a 404: a miss
      expect(s.seen.map((r) => `${r.method} ${r.url} ${r.headers.authorization}`)).toEqual(Array(3).fill(`GET /pre/fix/ac/${key} Bearer t0ken`))
      await Effect.runPromise(
        Effect.scoped(Effect.flatMap(remoteCacheFromUrl(s.url.replace("//", "//us%40er:p%3Ass@"), { env: {} }), (rc) => rc.has("cas", key))),
      )
      expect(s.seen.at(-1)?.headers.authorization).toBe(`Basic ${Buffer.from("us@er:p:ss").toString("base64")}`)
      const bad = await Effect.runPromise(Effect.either(Effect.scoped(remoteCacheFromUrl(s.url, { env: { CAIRN_REMOTE_CACHE_HEADER: "no colon" } }))))
      expect(Either.isLeft(bad) && bad.left.message).toBe(`remote cache ${s.url}: CAIRN_REMOTE_CACHE_HEADER must be "Name: value"`)
    } finally {
      await s.close()
    }
  })

  it("gives up on a server that accepts and never answers after its timeout; the store goes on locally", async () => {
    const sockets: Array<net.Socket> = []
    const stall = net.createServer((socket) => void sockets.push(socket))
    await new Promise<void>((resolve) => stall.listen(0, "127.0.0.1", resolve))
    const url = `http://127.0.0.1:${(stall.address() as net.AddressInfo).port}/cache`
    try {
      const m = machine()
      const warn = (message: string) => Effect.sync(() => void m.warnings.push(message))
      const layer = storeLayer(m.cache, m.root, Cache.layerRemote({ warn })).pipe(Layer.provide(layerFromUrl(url, { warn, timeoutMs: 300 })))
      const t0 = Date.now()
      const hit = await Effect.runPromise(Effect.scoped(Effect.flatMap(Cache, (store) => store.lookup(keyOf("stalled")))).pipe(Effect.provide(layer)))
      expect(hit).toBeUndefined()
      expect(Date.now() - t0).toBeLessThan(5_000)
      expect(m.warnings).toHaveLength(1)
      expect(m.warnings[0]).toMatch(/no progress for 300 ms: remote cache .* not used for the rest of this run/)
    } finally {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => stall.close(() => resolve()))
    }
  })
})
