/**
 * The S3 remote cache against a loopback S3 server, `s3rver` (a dev dependency; see
 * test/servers/s3rver.ts: it checks SigV4 signatures as S3 does), started for each test: get, put
 * and has in both namespaces, a result pushed from one machine pulled by a fresh one (through the
 * library and through `cairn run`, with the toy pipeline and hms-quick), a blob above the managed
 * upload's part size sent in parts, a wrong secret key and a missing bucket (one line each, the run
 * goes on locally), credentials from the AWS chain (environment or profile file) never written
 * anywhere, no line about the Node version, and a request deadline ($CAIRN_REMOTE_TIMEOUT). Without
 * s3rver these are skipped with a message (with CAIRN_REQUIRE_SERVERS=1 they fail).
 *
 * Also against a real S3-compatible server when $CAIRN_TEST_S3_URL names one (`s3://bucket/prefix`,
 * credentials and `AWS_ENDPOINT_URL` from the usual AWS environment; each run writes under a fresh
 * prefix below it), else skipped with a message.
 */
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Either, Layer } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { sha256 } from "../../../../src/core/canonical.js"
import { computeKey, KEY_FORMAT, type KeyRecord } from "../../../../src/core/key.js"
import { Cache } from "../../../../src/core/store/cache.js"
import { remoteCacheFromUrl, layerFromUrl } from "../../../../src/core/store/remote/from-url.js"
import { storeLayer } from "../../../../src/core/store/store-layer.js"
import { MULTIPART_PART_BYTES } from "../../../../src/core/store/remote/s3-remote-cache.js"
import { fixtureFiles } from "../../../support/fixture-project.js"
import { type CliResult, cli, cliAsync, makeProject, removeProjects, statuses } from "../../../support/helpers.js"
import { type S3rverServer, S3RVER_ACCESS_KEY_ID, s3rverMissing, startS3rver } from "../../../servers/s3rver.js"

const roots: Array<string> = []
afterAll(() => {
  for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true })
  removeProjects()
})
const tempRoot = () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-s3-"))
  roots.push(root)
  return root
}

type Env = Readonly<Record<string, string | undefined>>

/** get/put/has of both namespaces, hash checks both ways. */
const roundTrip = (url: string, env: Env) =>
  Effect.scoped(
    Effect.gen(function* () {
      const warnings: Array<string> = []
      const rc = yield* remoteCacheFromUrl(url, { env, warn: (m) => Effect.sync(() => void warnings.push(m)) })
      const bytes = Buffer.from(`blob ${randomBytes(8).toString("hex")}`)
      const hash = sha256(bytes)
      expect(yield* rc.has("cas", hash)).toBe(false)
      expect(yield* rc.get("cas", hash)).toBeUndefined()
      yield* rc.put("cas", hash, bytes)
      yield* rc.put("cas", hash, bytes)
      expect(yield* rc.has("cas", hash, bytes.length)).toBe(true)
      expect(yield* rc.has("cas", hash, bytes.length + 1)).toBe(false)
      expect(Buffer.from((yield* rc.get("cas", hash))!).equals(bytes)).toBe(true)
      const dir = tempRoot()
      const big = Buffer.alloc(2_000_000, 3)
      fs.writeFileSync(path.join(dir, "big"), big)
      yield* rc.put("cas", sha256(big), { file: path.join(dir, "big") })
      expect(yield* rc.download(sha256(big), path.join(dir, "back"), big.length)).toBe(true)
      expect(fs.readFileSync(path.join(dir, "back")).equals(big)).toBe(true)
      // Bytes that are not their name never reach the server.
      const wrong = yield* Effect.either(rc.put("cas", sha256("something else"), { file: path.join(dir, "big") }))
      expect(Either.isLeft(wrong) && wrong.left._tag === "RemoteCacheError" && wrong.left.reason).toBe("content")
      expect(yield* rc.has("cas", sha256("something else"))).toBe(false)
      const key = sha256(`key ${hash}`)
      yield* rc.put("ac", key, Buffer.from('{"entry":1}'))
      expect(Buffer.from((yield* rc.get("ac", key))!).toString()).toBe('{"entry":1}')
      expect(warnings).toEqual([])
    }),
  )

const fields: KeyRecord = {
  format: KEY_FORMAT,
  stage: "s3-stage",
  version: 1,
  code: "c".repeat(64),
  params: { run: randomBytes(4).toString("hex") },
  inputs: {},
  env: {},
  reads: {},
  engine: { node: "20", packages: {} },
}

/** A result committed on one machine is a hit on another through the bucket. */
const twoMachines = (url: string, env: Env) =>
  Effect.gen(function* () {
    const key = Either.getOrThrow(computeKey(fields))
    const storeOn = (root: string) => storeLayer(path.join(root, "cache"), root, Cache.layerRemote()).pipe(Layer.provide(layerFromUrl(url, { env })))
    const committed = yield* Effect.scoped(
      Effect.gen(function* () {
        const store = yield* Cache
        return yield* Effect.scoped(
          Effect.gen(function* () {
            const staging = yield* store.staging("s3")
            fs.writeFileSync(path.join(staging.outDir, "x.txt"), "through s3")
            return yield* staging.commit(
              { key, id: "s3", pipeline: "s3", fields, codeFiles: {}, parents: {}, items: [], startedAt: new Date().toISOString(), seconds: 0 },
              null,
              {},
            )
          }),
        )
      }).pipe(Effect.provide(storeOn(tempRoot()))),
    )
    const hit = yield* Effect.scoped(Effect.flatMap(Cache, (store) => store.lookup(key))).pipe(Effect.provide(storeOn(tempRoot())))
    expect(hit?.output.hash).toBe(committed.output.hash)
  })

const s3Url = process.env.CAIRN_TEST_S3_URL
if (!s3Url) console.warn("skipping the S3 remote cache against a real server: set CAIRN_TEST_S3_URL=s3://bucket/prefix (and the AWS environment) to run it")

describe.skipIf(!s3Url)("S3 remote cache against $CAIRN_TEST_S3_URL", () => {
  const url = `${s3Url?.replace(/\/+$/, "")}/cairn-test-${Date.now()}-${randomBytes(4).toString("hex")}`
  it("get, put and has in both namespaces, hash-checked both ways", () => Effect.runPromise(roundTrip(url, process.env)))
  it("a result committed on one machine is a hit on another", () => Effect.runPromise(twoMachines(url, process.env)))
})

const missing = s3rverMissing("the S3 remote cache against s3rver")

/** Runs `body` against a fresh s3rver holding `buckets`, stopped after. */
const withS3rver = async <A>(buckets: ReadonlyArray<string>, body: (server: S3rverServer) => Promise<A>): Promise<A> => {
  const server = await startS3rver(buckets)
  try {
    return await body(server)
  } finally {
    await server.stop()
  }
}

/** Every file under `dir` (symlinks, such as a project's node_modules, not followed). */
const filesUnder = (dir: string): Array<string> =>
  fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))

/** Whether `text` occurs in what a run printed or in any file under `dirs`. */
const appearsIn = (text: string, outputs: ReadonlyArray<CliResult>, dirs: ReadonlyArray<string>): ReadonlyArray<string> => [
  ...outputs.filter((r) => `${r.stdout}${r.stderr}`.includes(text)).map((r) => `the output: ${r.stdout}${r.stderr}`),
  ...dirs.flatMap(filesUnder).filter((file) => fs.readFileSync(file).includes(text)),
]

const warnings = (r: CliResult) => r.stderr.split("\n").filter((l) => l.startsWith("warning:"))

/** What the SDK printed about the Node version (7 lines on Node 20 before cairn switched it off). */
const NODE_NOTICE = /NodeVersionSupportWarning|node >=2\d|node v\d+\.\d+/i

describe.skipIf(missing !== undefined)("S3 remote cache against s3rver", () => {
  it("get, put and has in both namespaces, hash-checked both ways", () =>
    withS3rver(["bucket"], (server) => Effect.runPromise(roundTrip("s3://bucket/some/prefix", server.env))))

  it("a result committed on one machine is a hit on another, entries signed ($CAIRN_REMOTE_CACHE_SECRET)", () =>
    withS3rver(["bucket"], (server) => Effect.runPromise(twoMachines("s3://bucket/two", { ...server.env, CAIRN_REMOTE_CACHE_SECRET: "shared team secret" }))))

  it("a blob above the managed upload's part size goes up in parts and comes back whole; one that is not its name is never completed", () =>
    withS3rver(["bucket"], (server) =>
      Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const rc = yield* remoteCacheFromUrl("s3://bucket/big", { env: server.env })
            // Just above the threshold, which is the default (S3's smallest part): two parts.
            const size = MULTIPART_PART_BYTES + 1024
            const dir = tempRoot()
            const bytes = randomBytes(size)
            const hash = sha256(bytes)
            fs.writeFileSync(path.join(dir, "model.safetensors"), bytes)
            yield* rc.put("cas", hash, { file: path.join(dir, "model.safetensors") })
            const key = `/bucket/big/cas/${hash}`
            const asked = server.requests()
            expect(asked.filter((l) => l.startsWith(`POST ${key}?uploads`) && l.endsWith(" 200"))).toHaveLength(1)
            expect(asked.filter((l) => l.startsWith(`PUT ${key}?`) && /[?&]partNumber=\d/.test(l) && l.endsWith(" 200"))).toHaveLength(2)
            expect(asked.filter((l) => l.startsWith(`POST ${key}?`) && l.includes("uploadId=") && l.endsWith(" 200"))).toHaveLength(1)
            expect(asked.filter((l) => l.startsWith(`PUT ${key} `))).toEqual([])
            expect(yield* rc.has("cas", hash, size)).toBe(true)
            expect(yield* rc.download(hash, path.join(dir, "back"), size)).toBe(true)
            expect(sha256(fs.readFileSync(path.join(dir, "back")))).toBe(hash)

            // The same bytes under another name: the last part is never sent, the upload never completed.
            const wrong = sha256("not these bytes")
            const failed = yield* Effect.either(rc.put("cas", wrong, { file: path.join(dir, "model.safetensors") }))
            expect(Either.isLeft(failed) && failed.left._tag === "RemoteCacheError" && failed.left.reason).toBe("content")
            expect(server.requests().filter((l) => l.startsWith(`POST /bucket/big/cas/${wrong}?`) && l.includes("uploadId="))).toEqual([])
            expect(yield* rc.has("cas", wrong)).toBe(false)
          }),
        ),
      ),
    ))

  it("a request the server never answers gives up at its deadline ($CAIRN_REMOTE_TIMEOUT)", async () => {
    const held: Array<net.Socket> = []
    const silent = net.createServer((socket) => void held.push(socket))
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve))
    try {
      const env = {
        AWS_ENDPOINT_URL: `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`,
        AWS_ACCESS_KEY_ID: "id",
        AWS_SECRET_ACCESS_KEY: "key",
        CAIRN_REMOTE_TIMEOUT: "1",
      }
      // The idle timeout far above the deadline: only the deadline can end the request.
      const got = await Effect.runPromise(
        Effect.scoped(Effect.flatMap(remoteCacheFromUrl("s3://bucket/p", { env, timeoutMs: 600_000 }), (rc) => Effect.either(rc.get("ac", "a".repeat(64))))),
      )
      expect(Either.isLeft(got) && got.left._tag === "RemoteCacheError" && got.left.reason).toBe("timeout")
      expect(Either.isLeft(got) && got.left.message).toMatch(/within 1 s \(CAIRN_REMOTE_TIMEOUT/)
    } finally {
      for (const socket of held) socket.destroy()
      await new Promise((resolve) => silent.close(resolve))
    }
  })

  describe("cairn run --remote-cache s3://", () => {
    /** The AWS environment of a machine: none of the test process's own, then `env`. */
    const aws = (env: Record<string, string>) => ({ AWS_ACCESS_KEY_ID: "", AWS_SECRET_ACCESS_KEY: "", AWS_SESSION_TOKEN: "", AWS_PROFILE: "", ...env })

    it("a fresh machine pulls every result (credentials from a profile file on one, the environment on the other); the secret is written nowhere; nothing about the Node version", () =>
      withS3rver(["team-cache"], async (server) => {
        const url = "s3://team-cache/toy"
        const home = tempRoot()
        fs.writeFileSync(
          path.join(home, "credentials"),
          `[cairn-test]\naws_access_key_id = ${S3RVER_ACCESS_KEY_ID}\naws_secret_access_key = ${server.secret}\n`,
        )
        fs.writeFileSync(path.join(home, "config"), "[profile cairn-test]\nregion = us-east-1\n")
        const profile = aws({
          AWS_ENDPOINT_URL: server.url,
          AWS_SHARED_CREDENTIALS_FILE: path.join(home, "credentials"),
          AWS_CONFIG_FILE: path.join(home, "config"),
          AWS_PROFILE: "cairn-test",
        })
        const a = makeProject(fixtureFiles())
        const b = makeProject(fixtureFiles())
        const first = await cli(a, ["run", "pipelines/chain.ts", "--remote-cache", url, "--json", "r.json"], profile)
        expect(first.code, first.stderr).toBe(0)
        expect(Object.values(statuses(path.join(a, "r.json"))).every((s) => s === "ran")).toBe(true)
        expect(first.stderr).not.toContain("warning")

        const second = await cli(b, ["run", "pipelines/chain.ts", "--json", "r.json"], aws({ ...server.env, CAIRN_REMOTE_CACHE: url }))
        expect(second.code, second.stderr).toBe(0)
        expect(second.stderr).not.toContain("warning")
        const { data, ...rest } = statuses(path.join(b, "r.json"))
        expect(data).toBe("ran") // a source is hashed in place on every machine
        expect(
          Object.values(rest).every((s) => s === "cached"),
          JSON.stringify(rest),
        ).toBe(true)
        expect(fs.readFileSync(path.join(b, "out/other/tagged.txt"), "utf8")).toBe(fs.readFileSync(path.join(a, "out/other/tagged.txt"), "utf8"))

        for (const r of [first, second]) expect(`${r.stdout}${r.stderr}`).not.toMatch(NODE_NOTICE)
        // Neither machine's cache, outputs or reports, nor the bucket, holds the secret.
        expect(appearsIn(server.secret, [first, second], [a, b, server.dir])).toEqual([])
      }))

    it("a wrong secret key, a missing bucket: one line each saying why and what to do; the run goes on locally", () =>
      withS3rver(["team-cache"], async (server) => {
        const wrongSecret = `wrong-${server.secret}`
        const dir = makeProject(fixtureFiles())
        const badKey = await cli(
          dir,
          ["run", "pipelines/chain.ts", "--remote-cache", "s3://team-cache/toy", "--json", "r.json"],
          aws({ ...server.env, AWS_SECRET_ACCESS_KEY: wrongSecret }),
        )
        expect(badKey.code, badKey.stderr).toBe(0)
        expect(Object.values(statuses(path.join(dir, "r.json"))).every((s) => s === "ran")).toBe(true)
        expect(warnings(badKey), badKey.stderr).toHaveLength(1)
        expect(warnings(badKey)[0]).toMatch(
          /HTTP 403: the secret access key is not the one of its access key ID \(S3 SignatureDoesNotMatch\): set the right AWS_SECRET_ACCESS_KEY .*: remote cache s3:\/\/team-cache\/toy not used for the rest of this run \(the local cache still is\)$/,
        )

        const other = makeProject(fixtureFiles())
        const noBucket = await cli(other, ["run", "pipelines/chain.ts", "--remote-cache", "s3://no-such-bucket/toy", "--json", "r.json"], aws(server.env))
        expect(noBucket.code, noBucket.stderr).toBe(0)
        expect(Object.values(statuses(path.join(other, "r.json"))).every((s) => s === "ran")).toBe(true)
        expect(warnings(noBucket), noBucket.stderr).toHaveLength(1)
        expect(warnings(noBucket)[0]).toMatch(
          /HTTP 404: there is no bucket "no-such-bucket" \(S3 NoSuchBucket\): create it \(aws s3 mb s3:\/\/no-such-bucket\) or name an existing one in --remote-cache: remote cache s3:\/\/no-such-bucket\/toy not used/,
        )

        for (const r of [badKey, noBucket]) expect(`${r.stdout}${r.stderr}`).not.toMatch(NODE_NOTICE)
        expect(appearsIn(server.secret, [badKey, noBucket], [dir, other, server.dir])).toEqual([])
        expect(appearsIn(wrongSecret, [badKey, noBucket], [dir, other, server.dir])).toEqual([])
        // Nothing reached the bucket with the wrong key.
        expect(fs.existsSync(path.join(server.dir, "team-cache", "toy"))).toBe(false)
        return Promise.resolve()
      }))

    /** hms-quick, tiny but complete (as in test/stages/hms/distributed.test.ts). */
    const SMALL = ["spectrograms=40", "test_spectrograms=3", "max_rows=25", "img_size=32", "epochs=1", "batch_size=4"].flatMap((p) => ["--param", p])
    const REPO = path.resolve(__dirname, "../../../..")

    it(
      "hms-quick pushed from one machine: a fresh one (an empty cache) runs 0 stages",
      () =>
        withS3rver(["hms"], async (server) => {
          const tmp = tempRoot()
          const machine = (who: string) => [
            "--cache-dir",
            path.join(tmp, who, "cache"),
            "--out",
            path.join(tmp, `${who}-out`),
            "--json",
            path.join(tmp, `${who}.json`),
            "--remote-cache",
            "s3://hms/quick",
          ]
          const first = await cliAsync(REPO, ["run", "pipelines/hms-quick.ts", ...SMALL, ...machine("a")], aws(server.env)).done
          expect(first.code, first.stdout + first.stderr).toBe(0)
          expect(first.stderr).not.toContain("warning")
          const stages = (JSON.parse(fs.readFileSync(path.join(tmp, "a.json"), "utf8")) as { stages: Array<unknown> }).stages.length
          const fresh = await cliAsync(REPO, ["run", "pipelines/hms-quick.ts", ...SMALL, ...machine("b")], aws(server.env)).done
          expect(fresh.code, fresh.stdout + fresh.stderr).toBe(0)
          expect(fresh.stderr).not.toContain("warning")
          expect(fresh.stdout).toMatch(new RegExp(`^ok: 0 ran, ${stages} cached`, "m"))
          expect(fs.readFileSync(path.join(tmp, "b-out/out/hms-quick/submission/submission.csv"), "utf8")).toBe(
            fs.readFileSync(path.join(tmp, "a-out/out/hms-quick/submission/submission.csv"), "utf8"),
          )
        }),
      600_000,
    )
  })
})
