/**
 * What a writer to the remote cache (or the server itself) can no longer do to its readers, each
 * from a repro of issue 24: serve a forged entry to a reader holding $CAIRN_REMOTE_CACHE_SECRET;
 * exhaust a reader's memory or disk with an endless body; hang a run with a trickling server; stall
 * it with an entry of very many files; fail it with paths that cannot be written as given. And what
 * a user sees: each warning once, a bad $CAIRN_REMOTE_CACHE_HEADER refused at start, URLs printed
 * without credentials, declared secrets never stored in clear. Hostile servers are node:http servers
 * on loopback inside the test; the normal path is a real nginx.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import type * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Either, Layer, type Scope } from "effect"
import protobuf from "protobufjs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { sha256 } from "../../../../src/core/canonical.js"
import { envKeyValue } from "../../../../src/core/credentials.js"
import { computeKey } from "../../../../src/core/key.js"
import { Cache } from "../../../../src/core/store/cache.js"
import type { RunRecord } from "../../../../src/core/store/records.js"
import { MAX_ENTRY_FILES } from "../../../../src/core/store/remote/entries.js"
import { ACTION_RESULT_TYPE } from "../../../../src/core/store/remote/reapi/action-result.js"
import { REAPI_DESCRIPTOR } from "../../../../src/core/store/remote/reapi/descriptor.js"
import { redactUrl, layerFromUrl } from "../../../../src/core/store/remote/from-url.js"
import { MAX_ENTRY_BYTES } from "../../../../src/core/store/remote/remote-cache.js"
import { storeLayer } from "../../../../src/core/store/store-layer.js"
import { fixtureFiles } from "../../../support/fixture-project.js"
import { cliAsync, makeProject, plainKeyRecord, removeProjects, statuses } from "../../../support/helpers.js"
import { type NginxServer, nginxMissing, startNginx } from "../../../servers/nginx.js"
import { readEntry, writeEntry } from "./remote-entries.js"

const roots: Array<string> = []
afterAll(() => {
  for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true })
  removeProjects()
})
const tempRoot = () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-trust-"))
  roots.push(root)
  return root
}

type Env = Readonly<Record<string, string | undefined>>

/** One machine: a project root, its local cache, its environment, the warnings it printed. */
interface Machine {
  readonly root: string
  readonly cache: string
  readonly env: Env
  readonly warnings: Array<string>
}
const machine = (env: Env = {}, cache?: string): Machine => {
  const root = tempRoot()
  return { root, cache: cache ?? path.join(root, "cache"), env, warnings: [] }
}

/** Runs `body` on `m`'s store with the remote cache at `url` (its pushes done when it resolves). */
const onMachine = <A>(m: Machine, url: string, body: (store: Cache) => Effect.Effect<A, unknown, Scope.Scope>): Promise<A> => {
  const warn = (message: string) => Effect.sync(() => void m.warnings.push(message))
  const layer = storeLayer(m.cache, m.root, Cache.layerRemote({ warn })).pipe(Layer.provide(layerFromUrl(url, { warn, env: m.env })))
  return Effect.runPromise(Effect.scoped(Effect.flatMap(Cache, body)).pipe(Effect.provide(layer)) as Effect.Effect<A, unknown, never>)
}

const keyOf = (stage: string) => Either.getOrThrow(computeKey(plainKeyRecord(stage)))

/** Commits `files` (rel → content) as the result of `stage`. */
const commit = (store: Cache, stage: string, files: Record<string, string>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const staging = yield* store.staging(stage)
      for (const [rel, content] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(staging.outDir, rel)), { recursive: true })
        fs.writeFileSync(path.join(staging.outDir, rel), content)
      }
      return yield* staging.commit(
        {
          key: keyOf(stage),
          id: stage,
          pipeline: "trust",
          fields: plainKeyRecord(stage),
          codeFiles: {},
          parents: {},
          items: [],
          startedAt: new Date().toISOString(),
          seconds: 0,
        },
        { stage },
        {},
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

/** Every file under `dir` (recursively), as [path, bytes]. */
const allFiles = (dir: string): Array<[string, Buffer]> =>
  fs.existsSync(dir)
    ? fs
        .readdirSync(dir, { recursive: true, encoding: "utf8" })
        .map((f) => path.join(dir, f))
        .filter((f) => fs.lstatSync(f).isFile())
        .map((f) => [f, fs.readFileSync(f)])
    : []

/** A loopback HTTP server answering with `answer`; counts requests per "METHOD path"; its bytes sent are counted by the handlers. */
const serve = async (answer: (req: http.IncomingMessage, res: http.ServerResponse) => void) => {
  const requests: Array<string> = []
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`)
    answer(req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as net.AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** Writes `chunk` to `res` forever (as fast as the client reads) until the connection closes; `sent` counts the bytes. */
const endless = (res: http.ServerResponse, chunk: Buffer, sent: { bytes: number }) => {
  res.writeHead(200, { "content-type": "application/octet-stream" })
  const pump = () => {
    while (!res.destroyed && res.write(chunk)) sent.bytes += chunk.length
    if (!res.destroyed) res.once("drain", pump)
  }
  res.on("close", () => res.removeAllListeners("drain"))
  pump()
}

/** Serves GET/HEAD from the folder `root` (as nginx does), unless `override` answers first. */
const folderServer = (root: string, override?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean) =>
  serve((req, res) => {
    if (override?.(req, res)) return
    const file = path.join(root, decodeURIComponent((req.url ?? "/").split("?")[0] ?? "/"))
    if (!file.startsWith(root) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.statusCode = 404
      res.end()
      return
    }
    res.setHeader("content-length", fs.statSync(file).size)
    if (req.method === "HEAD") res.end()
    else fs.createReadStream(file).pipe(res)
  })

describe("redactUrl", () => {
  it("takes out user and password as the URL parser splits them (at the last '@'), and credential query values", () => {
    expect(redactUrl("redis://user:p@ss@host:6379/0")).toBe("redis://***:***@host:6379/0")
    expect(redactUrl("rediss://:secret@redis.example:6380")).toBe("rediss://:***@redis.example:6380")
    expect(redactUrl("https://cache.example/p?token=abc&region=eu&X-Amz-Signature=f00")).toBe("https://cache.example/p?token=***&region=eu&X-Amz-Signature=***")
    expect(redactUrl("http://127.0.0.1:8080/cache")).toBe("http://127.0.0.1:8080/cache")
    expect(redactUrl("s3://bucket/prefix")).toBe("s3://bucket/prefix")
    // Unparseable: no userinfo at all, and no query.
    expect(redactUrl("http://us er:p@ss@[bad/x?token=1")).toBe("http://***@[bad/x?***")
    expect(redactUrl("user:p@ss@host:6379")).toBe("***@host:6379")
    for (const shown of [redactUrl("redis://user:p@ss@host"), redactUrl("http://a:hunter2@h/x")]) {
      expect(shown).not.toMatch(/p@ss|ss@|hunter2/)
    }
  })
})

describe.skipIf(nginxMissing("the remote cache trust tests") !== undefined)("remote cache trust (nginx and hostile servers on loopback)", () => {
  let server: NginxServer
  let prefix = 0
  const remote = (): [string, string] => {
    const name = `trust-${++prefix}`
    return [`${server.url}/${name}`, path.join(server.root, name)]
  }
  beforeAll(async () => {
    server = await startNginx()
  })
  afterAll(() => server?.stop())

  const SECRET = { CAIRN_REMOTE_CACHE_SECRET: "team secret 1" }

  it("with CAIRN_REMOTE_CACHE_SECRET, entries are signed; one without a valid signature is a miss, with one warning per run", async () => {
    const [url, onServer] = remote()
    const ci = machine(SECRET)
    const genuine = await onMachine(ci, url, (store) => commit(store, "signed", { "x.txt": "genuine" }))
    // The signature is inside the entry's ActionResult (its execution metadata), an HMAC-SHA256.
    const stored = readEntry(onServer, genuine.key)
    expect(stored.signature).toHaveLength(32)
    // Readers with the secret, and without it (as before), use the signed entry.
    for (const reader of [machine(SECRET), machine()]) {
      const got = await onMachine(reader, url, (store) =>
        Effect.flatMap(store.lookup(genuine.key), (hit) => (hit ? readTree(store, hit) : Effect.succeed(undefined))),
      )
      expect(got).toEqual({ "x.txt": "genuine" })
      expect(reader.warnings).toEqual([])
    }

    // A server that re-encodes what it stores (bazel-remote fills in an empty worker; another may add
    // metadata of its own or order files otherwise): the signature is over what the entry says, not its bytes.
    const acFile = path.join(onServer, "ac", genuine.key)
    const type = protobuf.Root.fromJSON(REAPI_DESCRIPTOR).lookupType(ACTION_RESULT_TYPE)
    const message = type.toObject(type.decode(fs.readFileSync(acFile)), { longs: String, arrays: true })
    message["output_files"].reverse()
    message["execution_metadata"].worker = ""
    message["execution_metadata"].auxiliary_metadata.unshift({
      type_url: "type.googleapis.com/google.protobuf.StringValue",
      value: Buffer.from([0x0a, 1, 0x41]),
    })
    const reencoded = type.encode(type.fromObject(message)).finish()
    expect(Buffer.compare(reencoded, fs.readFileSync(acFile))).not.toBe(0)
    fs.writeFileSync(acFile, reencoded)
    const afterServer = machine(SECRET)
    expect(await onMachine(afterServer, url, (store) => Effect.map(store.lookup(genuine.key), (hit) => hit?.output.hash))).toBe(genuine.output.hash)
    expect(afterServer.warnings).toEqual([])

    // An attacker who can write to the server but lacks the secret: consistent hashes, forged content.
    const [forgeUrl, forgeOnServer] = remote()
    const attacker = machine()
    const forged = await onMachine(attacker, forgeUrl, (store) => commit(store, "signed", { "x.txt": "forged" }))
    const other = await onMachine(attacker, forgeUrl, (store) => commit(store, "unsigned", { "y.txt": "forged too" }))
    for (const f of fs.readdirSync(path.join(forgeOnServer, "cas"))) fs.copyFileSync(path.join(forgeOnServer, "cas", f), path.join(onServer, "cas", f))
    // One forgery carries the genuine entry's signature with its own files and record; the other has none.
    const forgedEntry = readEntry(forgeOnServer, forged.key)
    writeEntry(onServer, forged.key, { files: forgedEntry.index.files, record: forgedEntry.record, signature: stored.signature })
    fs.copyFileSync(path.join(forgeOnServer, "ac", other.key), path.join(onServer, "ac", other.key))

    const reader = machine(SECRET)
    const found = await onMachine(reader, url, (store) => Effect.all([store.lookup(forged.key), store.lookup(other.key), store.lookup(forged.key)]))
    expect(found).toEqual([undefined, undefined, undefined])
    expect(reader.warnings).toHaveLength(1)
    expect(reader.warnings[0]).toContain(`remote cache ${url}/ac/${forged.key}: its signature does not match: a miss`)
    expect(reader.warnings[0]).toContain("CAIRN_REMOTE_CACHE_SECRET")
    // Another secret is no secret: a miss too.
    const wrong = machine({ CAIRN_REMOTE_CACHE_SECRET: "another team" })
    await onMachine(wrong, url, (store) => commit(store, "wrong-secret", { "z.txt": "z" }))
    const mine = machine(SECRET)
    expect(await onMachine(mine, url, (store) => store.lookup(keyOf("wrong-secret")))).toBeUndefined()
    expect(mine.warnings.join("\n")).toMatch(/its signature does not match: a miss/)
  })

  it("an endless /ac/ body is a miss once it passes the entry size cap; the run goes on", async () => {
    const sent = { bytes: 0 }
    const hostile = await serve((req, res) => {
      if (req.url?.includes("/ac/")) endless(res, Buffer.alloc(64 * 1024, 0x7b), sent)
      else {
        res.statusCode = 404
        res.end()
      }
    })
    try {
      const m = machine()
      const hit = await onMachine(m, `${hostile.url}/c`, (store) => store.lookup(keyOf("endless-ac")))
      expect(hit).toBeUndefined()
      expect(m.warnings).toEqual([expect.stringMatching(new RegExp(`/ac/${keyOf("endless-ac")}: its body is longer than ${MAX_ENTRY_BYTES} bytes .*a miss`))])
      // Read no further than the cap (and what was in flight).
      expect(sent.bytes).toBeLessThan(MAX_ENTRY_BYTES + 16 * 1024 * 1024)
    } finally {
      await hostile.close()
    }
  })

  it("an endless /cas/ body stops at the size its entry states: a miss, nothing written past that size", async () => {
    const [url, onServer] = remote()
    const a = machine()
    const committed = await onMachine(a, url, (store) => commit(store, "endless-cas", { "blob.bin": "twelve bytes" }))
    const record = readEntry(onServer, committed.key).index.record
    // The tree's blob, then the record's blob (read into memory): each endless in turn.
    for (const [blob, size] of [
      [sha256("twelve bytes"), 12],
      [record.hash, record.size],
    ] as const) {
      const sent = { bytes: 0 }
      const hostile = await folderServer(onServer, (req, res) => {
        if (req.url !== `/cas/${blob}`) return false
        endless(res, Buffer.alloc(64 * 1024, 1), sent)
        return true
      })
      try {
        const b = machine()
        expect(await onMachine(b, hostile.url, (store) => store.lookup(committed.key))).toBeUndefined()
        expect(b.warnings.join("\n")).toContain(`cas/${blob}: its body is longer than ${size} bytes (the size its entry states): cut off there, a miss`)
        expect(
          allFiles(b.cache)
            .filter(([, bytes]) => bytes.length > 12 && bytes.every((x) => x === 1))
            .map(([f]) => f),
        ).toEqual([])
        expect(sent.bytes).toBeLessThan(64 * 1024 * 1024)
      } finally {
        await hostile.close()
      }
    }
  })

  it("a server trickling one byte at a time hits the request deadline: one line, and the remote is not used again", async () => {
    const trickles: Array<NodeJS.Timeout> = []
    const hostile = await serve((_req, res) => {
      res.writeHead(200)
      trickles.push(setInterval(() => res.write("{"), 100))
    })
    try {
      const m = machine({ CAIRN_REMOTE_TIMEOUT: "1" })
      const found = await onMachine(m, `${hostile.url}/c`, (store) => Effect.all([store.lookup(keyOf("slow-1")), store.lookup(keyOf("slow-2"))]))
      expect(found).toEqual([undefined, undefined])
      expect(m.warnings).toHaveLength(1)
      expect(m.warnings[0]).toMatch(
        /no complete answer within 1 s \(CAIRN_REMOTE_TIMEOUT sets the limit in seconds\): remote cache .* not used for the rest of this run/,
      )
      // The second lookup did not ask the server.
      expect(hostile.requests).toEqual([`GET /c/ac/${keyOf("slow-1")}`])
    } finally {
      for (const t of trickles) clearInterval(t)
      await hostile.close()
    }
  })

  it("an entry listing more files than the cap is a miss; an entry's distinct blobs are fetched once each", async () => {
    const [url, onServer] = remote()
    const a = machine()
    const many = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`f/${i}.txt`, "same bytes"]))
    const committed = await onMachine(a, url, (store) => commit(store, "many", { ...many, "other.txt": "other bytes" }))
    const counting = await folderServer(onServer)
    try {
      const b = machine()
      const tree = await onMachine(b, counting.url, (store) =>
        Effect.flatMap(store.lookup(committed.key), (hit) => (hit ? readTree(store, hit) : Effect.succeed(undefined))),
      )
      expect(tree && Object.keys(tree)).toHaveLength(301)
      expect(tree?.["f/299.txt"]).toBe("same bytes")
      const casGets = counting.requests.filter((r) => r.startsWith("GET /cas/")).sort()
      const record = readEntry(onServer, committed.key).index.record.hash
      expect(casGets).toEqual([`GET /cas/${sha256("other bytes")}`, `GET /cas/${sha256("same bytes")}`, `GET /cas/${record}`].sort())
      expect(b.warnings).toEqual([])
    } finally {
      await counting.close()
    }
    const entry = readEntry(onServer, committed.key)
    const blob = sha256("same bytes")
    writeEntry(onServer, committed.key, { files: Array.from({ length: MAX_ENTRY_FILES + 1 }, (_, i) => [`f/${i}`, blob, 10] as const), record: entry.record })
    const c = machine()
    expect(await onMachine(c, url, (store) => store.lookup(committed.key))).toBeUndefined()
    expect(c.warnings).toEqual([
      `remote cache ${url}/ac/${committed.key}: ${MAX_ENTRY_FILES + 1} files, more than the ${MAX_ENTRY_FILES} an entry may list: a miss`,
    ])
  })

  it("entries whose paths cannot be written as given are misses with a warning, never a failed run", async () => {
    const [url, onServer] = remote()
    const a = machine()
    const committed = await onMachine(a, url, (store) => commit(store, "paths", { "x.txt": "x" }))
    const entryFile = path.join(onServer, "ac", committed.key)
    const entry = readEntry(onServer, committed.key)
    const withFiles = (files: ReadonlyArray<readonly [string, string, number]>) => writeEntry(onServer, committed.key, { files, record: entry.record })
    const blob = sha256("x")
    const cases: Array<[Array<[string, string, number]>, RegExp]> = [
      [
        [
          ["x", blob, 1],
          ["x/y", blob, 1],
        ],
        /the path x as both a file and a folder/,
      ],
      [
        [
          ["x/y", blob, 1],
          ["x", blob, 1],
        ],
        /the path x as both a file and a folder/,
      ],
      [[[`${"n".repeat(300)}.txt`, blob, 1]], /a file or folder name longer than 255 bytes/],
      [[[`${"d/".repeat(2000)}x.txt`, blob, 1]], /a file path longer than 1024 bytes/],
      [[[`${"d/".repeat(200)}x.txt`, blob, 1]], /a file path deeper than 128 folders/],
      [
        [
          ["a.txt", blob, 1],
          ["a.txt", blob, 1],
        ],
        /the file a\.txt twice/,
      ],
    ]
    const good = fs.readFileSync(entryFile)
    for (const [files, why] of cases) {
      withFiles(files)
      const b = machine()
      expect(await onMachine(b, url, (store) => store.lookup(committed.key))).toBeUndefined()
      expect(b.warnings).toHaveLength(1)
      expect(b.warnings[0]).toMatch(why)
      expect(b.warnings[0]).toMatch(/: a miss$/)
    }
    // In one run, a refused entry is not fetched again (the runner looks each key up twice), yet a
    // good entry pushed under the key since (a queue worker's) is found.
    withFiles(cases[0]?.[0] ?? [])
    const again = machine()
    const hits = await onMachine(again, url, (store) =>
      Effect.gen(function* () {
        const first = [yield* store.lookup(committed.key), yield* store.lookup(committed.key)]
        fs.writeFileSync(entryFile, good)
        return [...first, yield* store.lookup(committed.key)].map((r) => r?.output.hash)
      }),
    )
    expect(hits).toEqual([undefined, undefined, committed.output.hash])
    expect(again.warnings).toHaveLength(1)
    // Paths fine by every rule that this disk still cannot hold (the reader's cache folder is so deep
    // that they pass the system's path limit): a miss with a warning too.
    withFiles([[`${"p".repeat(250)}/${"q".repeat(250)}/${"r".repeat(250)}/x.txt`, blob, 1]])
    const deepRoot = tempRoot()
    const deepCache = path.join(deepRoot, ...Array.from({ length: 15 }, () => "c".repeat(230)))
    const deep = machine({}, deepCache)
    expect(await onMachine(deep, url, (store) => store.lookup(committed.key))).toBeUndefined()
    expect(deep.warnings).toEqual([expect.stringMatching(/its files cannot be written here \(.*ENAMETOOLONG.*\): a miss$/)])
  })

  describe("cairn run", () => {
    const run = (dir: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
      cliAsync(dir, ["run", "pipelines/chain.ts", "--json", "r.json", ...args], { CAIRN_NO_FAST_PATH: "1", ...env }).done

    it("prints each remote cache warning once", async () => {
      const [url, onServer] = remote()
      const a = makeProject(fixtureFiles())
      expect((await run(a, ["--remote-cache", url])).code).toBe(0)
      for (const f of fs.readdirSync(path.join(onServer, "cas"))) fs.writeFileSync(path.join(onServer, "cas", f), "garbage")
      const b = makeProject(fixtureFiles())
      const r = await run(b, ["--remote-cache", url])
      expect(r.code, r.stderr).toBe(0)
      const warnings = r.stderr.split("\n").filter((l) => l.startsWith("warning:"))
      expect(warnings.length).toBeGreaterThan(0)
      expect(new Set(warnings).size, warnings.join("\n")).toBe(warnings.length)
    })

    it("a $CAIRN_REMOTE_CACHE_HEADER or $CAIRN_REMOTE_TIMEOUT that cannot be used is exit 2 at start, naming the variable", async () => {
      const [url] = remote()
      const dir = makeProject(fixtureFiles())
      const header = await run(dir, ["--remote-cache", url], {
        CAIRN_REMOTE_CACHE_HEADER: "Authorization: Bearer abc\ndef",
        CAIRN_TEST_LOG: path.join(dir, "runs.log"),
      })
      expect(header.code, header.stderr).toBe(2)
      expect(header.stderr).toContain("CAIRN_REMOTE_CACHE_HEADER holds a line break or another control character")
      expect(header.stderr).not.toContain("abc")
      expect(fs.existsSync(path.join(dir, "runs.log"))).toBe(false)
      const timeout = await run(dir, ["--remote-cache", url], { CAIRN_REMOTE_TIMEOUT: "soon" })
      expect(timeout.code, timeout.stderr).toBe(2)
      expect(timeout.stderr).toContain('CAIRN_REMOTE_TIMEOUT must be a number of seconds above 0, not "soon"')
    })

    it("prints the remote cache URL without its credentials", async () => {
      const dir = makeProject(fixtureFiles())
      const r = await run(dir, ["--remote-cache", server.url.replace("//", "//user:p@ss@")])
      expect(r.stdout).toContain(`remote cache ${server.url.replace("//", "//***:***@")}`)
      expect(`${r.stdout}${r.stderr}`).not.toMatch(/p@ss|ss@/)
    })

    it("a declared env value that is a credential is in no file of the store or the remote cache, and still keys the result", async () => {
      const [url, onServer] = remote()
      const token = "clear-token-value-8c1f"
      const password = "hunter2-pass-77e0"
      const stage = `
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { defineStage } from "@cairn"
export const secretive = defineStage({
  name: "secretive",
  params: Schema.Struct({}),
  env: ["HF_TOKEN", "HF_ENDPOINT", "PLAIN_SETTING"],
  run: (ctx) => Effect.sync(() => {
    fs.writeFileSync(path.join(ctx.outDir, "out.txt"), "done")
    return { ok: true }
  }),
})
`
      const pipeline = `
import { definePipeline } from "@cairn"
import { secretive } from "../stages/secretive.js"
export default definePipeline({ name: "secretive", stages: [secretive], params: {} })
`
      const dir = makeProject({ "stages/secretive.ts": stage, "pipelines/secretive.ts": pipeline })
      const env = { HF_TOKEN: token, HF_ENDPOINT: `https://user:${password}@hub.example/api`, PLAIN_SETTING: "visible-setting" }
      const go = (extra: Record<string, string> = {}, fast = false) =>
        cliAsync(dir, ["run", "pipelines/secretive.ts", "--json", "r.json", "--remote-cache", url], {
          ...env,
          ...extra,
          ...(fast ? {} : { CAIRN_NO_FAST_PATH: "1" }),
        }).done
      const first = await go({}, true)
      expect(first.code, first.stderr).toBe(0)
      const second = await go({}, true)
      expect(second.code, second.stderr).toBe(0)
      const status = await cliAsync(dir, ["status", "pipelines/secretive.ts"], env).done
      expect(status.code, status.stderr).toBe(0)
      const files = [...allFiles(path.join(dir, "cache")), ...allFiles(onServer)]
      expect(files.length).toBeGreaterThan(0)
      for (const secret of [token, password]) {
        expect(files.filter(([, bytes]) => bytes.includes(secret)).map(([f]) => f)).toEqual([])
        for (const out of [first, second, status]) expect(`${out.stdout}${out.stderr}`).not.toContain(secret)
      }
      // A non-secret value is kept as is; the secret ones as a hash that still tells a change.
      const record = files.find(([f, bytes]) => f.includes(`${path.sep}runs${path.sep}`) && bytes.includes("visible-setting"))
      expect(record, "a record holding the key fields").toBeDefined()
      expect(record?.[1].toString()).toContain(envKeyValue("HF_TOKEN", token) as string)
      const changed = await go({ HF_TOKEN: "another-token" }, true)
      expect(changed.code, changed.stderr).toBe(0)
      expect(statuses(path.join(dir, "r.json"))).toEqual({ secretive: "ran" })
    })
  })
})
