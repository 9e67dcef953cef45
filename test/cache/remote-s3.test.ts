/**
 * The S3 remote cache. Against a real S3-compatible server when $CAIRN_TEST_S3_URL names one
 * (`s3://bucket/prefix`, credentials and `AWS_ENDPOINT_URL` from the usual AWS environment; each run
 * writes under a fresh prefix below it), else skipped with a message. Always, where nginx is
 * installed: the S3 client's requests against nginx standing in for a path-style endpoint (GET, PUT,
 * HEAD of `/bucket/prefix/...`, unsigned payloads, no aws-chunked bodies), which checks the wire
 * format and the error mapping, not S3 itself.
 */
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Either, Layer } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { sha256 } from "../../src/core/canonical.js"
import { computeKey, KEY_FORMAT, type KeyRecord } from "../../src/core/key.js"
import { CacheStore } from "../../src/core/store/artifact-store.js"
import { remoteCacheFromUrl, remoteCacheLayer } from "../../src/core/store/remote/from-url.js"
import { RemoteStore } from "../../src/core/store/remote/remote-store.js"
import { nginxMissing, startNginx } from "../servers/nginx.js"

const roots: Array<string> = []
afterAll(() => {
  for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true })
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

const fields: KeyRecord = { format: KEY_FORMAT, stage: "s3-stage", version: 1, code: "c".repeat(64), params: { run: randomBytes(4).toString("hex") }, inputs: {}, env: {}, reads: {}, engine: { node: "20", packages: {} } }

/** A result committed on one machine is a hit on another through the bucket. */
const twoMachines = (url: string, env: Env) =>
  Effect.gen(function* () {
    const key = Either.getOrThrow(computeKey(fields))
    const storeOn = (root: string) => RemoteStore.layer(path.join(root, "cache"), root).pipe(Layer.provide(remoteCacheLayer(url, { env })))
    const committed = yield* Effect.scoped(
      Effect.gen(function* () {
        const store = yield* CacheStore
        return yield* Effect.scoped(
          Effect.gen(function* () {
            const staging = yield* store.staging("s3")
            fs.writeFileSync(path.join(staging.outDir, "x.txt"), "through s3")
            return yield* staging.commit({ key, id: "s3", pipeline: "s3", fields, codeFiles: {}, parents: {}, items: [], startedAt: new Date().toISOString(), seconds: 0 }, null, {})
          }),
        )
      }).pipe(Effect.provide(storeOn(tempRoot()))),
    )
    const hit = yield* Effect.scoped(Effect.flatMap(CacheStore, (store) => store.lookup(key))).pipe(Effect.provide(storeOn(tempRoot())))
    expect(hit?.output.hash).toBe(committed.output.hash)
  })

const s3Url = process.env.CAIRN_TEST_S3_URL
if (!s3Url) console.warn("skipping the S3 remote cache against a real server: set CAIRN_TEST_S3_URL=s3://bucket/prefix (and the AWS environment) to run it")

describe.skipIf(!s3Url)("S3 remote cache against $CAIRN_TEST_S3_URL", () => {
  const url = `${s3Url?.replace(/\/+$/, "")}/cairn-test-${Date.now()}-${randomBytes(4).toString("hex")}`
  it("get, put and has in both namespaces, hash-checked both ways", () => Effect.runPromise(roundTrip(url, process.env)))
  it("a result committed on one machine is a hit on another", () => Effect.runPromise(twoMachines(url, process.env)))
})

describe.skipIf(nginxMissing("the S3 client against nginx") !== undefined)("S3 client against nginx standing in for a path-style endpoint", () => {
  const withServer = async (body: (url: string, env: Env) => Effect.Effect<void, unknown>) => {
    const server = await startNginx()
    try {
      // Any credentials: nginx does not check signatures.
      await Effect.runPromise(body("s3://bucket/some/prefix", { AWS_ENDPOINT_URL: server.url, AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test" }))
      expect(fs.existsSync(path.join(server.root, "bucket/some/prefix/cas"))).toBe(true)
    } finally {
      await server.stop()
    }
  }
  it("get, put and has in both namespaces, hash-checked both ways", () => withServer(roundTrip))
  it("a result committed on one machine is a hit on another", () => withServer(twoMachines))
})
