/**
 * Downloads against a real HTTP server on loopback laid out as the Hugging Face hub
 * (`/{repo}/resolve/{revision}/model.safetensors`, with a redirect as the hub does): complete,
 * resumed after a cut connection, and failing with the URL and a hint.
 */
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Either } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { downloadFile, partFileOf } from "../../src/data/download.js"
import { hubFileUrl, parseHubRef } from "../../src/ml/model/hub.js"

const BODY = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 31) % 251))
let server: http.Server
let endpoint = ""
let cutNext = false
const ranges: Array<string | undefined> = []
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-download-"))

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === "/timm/tiny/resolve/main/model.safetensors") {
      res.writeHead(302, { Location: "/cdn/tiny" })
      res.end()
      return
    }
    if (req.url !== "/cdn/tiny") {
      res.writeHead(404)
      res.end("not found")
      return
    }
    ranges.push(req.headers.range)
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "")
    const start = m ? Number(m[1]) : 0
    const body = BODY.subarray(start)
    res.writeHead(m ? 206 : 200, { "Content-Length": body.length, ...(m ? { "Content-Range": `bytes ${start}-${BODY.length - 1}/${BODY.length}` } : {}) })
    if (cutNext) {
      cutNext = false
      res.write(body.subarray(0, 70_000), () => res.destroy())
      return
    }
    res.end(body)
  })
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => {
  server.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

describe("downloads", () => {
  it("hub ids resolve to the hub's URL layout, HF_ENDPOINT-style; files win over ids", () => {
    expect(parseHubRef("timm/resnet34d.ra2_in1k", () => false)).toEqual({ repo: "timm/resnet34d.ra2_in1k", revision: "main" })
    expect(parseHubRef("hf://timm/x@v2", () => true)).toEqual({ repo: "timm/x", revision: "v2" })
    expect(parseHubRef("weights/model.safetensors", () => false)).toBeUndefined()
    expect(parseHubRef("timm/resnet34d", () => true)).toBeUndefined()
    expect(parseHubRef("", () => false)).toBeUndefined()
    expect(hubFileUrl({ repo: "timm/tiny", revision: "main" }, "model.safetensors", "http://h:1/")).toBe("http://h:1/timm/tiny/resolve/main/model.safetensors")
  })

  it("downloads through the hub's redirect; a cut connection resumes with a Range request", async () => {
    const url = hubFileUrl({ repo: "timm/tiny", revision: "main" }, "model.safetensors", endpoint)
    const dest = path.join(dir, "a", "model.safetensors")
    cutNext = true
    const first = await Effect.runPromise(Effect.either(downloadFile(url, dest)))
    expect(Either.isLeft(first)).toBe(true)
    expect(fs.existsSync(dest)).toBe(false)
    expect(fs.statSync(partFileOf(dest)).size).toBe(70_000)
    const seen: Array<number> = []
    const second = await Effect.runPromise(downloadFile(url, dest, { onProgress: (b) => seen.push(b) }))
    expect(second).toEqual({ bytes: BODY.length, resumedFrom: 70_000 })
    expect(ranges.at(-1)).toBe("bytes=70000-")
    expect(fs.readFileSync(dest).equals(BODY)).toBe(true)
    expect(fs.existsSync(partFileOf(dest))).toBe(false)
    expect(seen.at(-1)).toBe(BODY.length)
  })

  it("fails naming the URL, the status and what to do instead", async () => {
    const url = hubFileUrl({ repo: "timm/missing", revision: "main" }, "model.safetensors", endpoint)
    const r = await Effect.runPromise(Effect.either(downloadFile(url, path.join(dir, "b"), { hint: "pass the file with --param pretrained=FILE" })))
    expect(Either.isLeft(r) && r.left.message).toBe(`download of ${url} failed: HTTP 404 Not Found; pass the file with --param pretrained=FILE`)
    // Nothing listens on a port just closed: as offline as a test on loopback gets.
    const closed = http.createServer()
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r))
    const port = (closed.address() as AddressInfo).port
    await new Promise((r) => closed.close(r))
    const offline = await Effect.runPromise(Effect.either(downloadFile(`http://127.0.0.1:${port}/x`, path.join(dir, "c"))))
    expect(Either.isLeft(offline) && offline.left.message).toMatch(
      new RegExp(`download of http://127\\.0\\.0\\.1:${port}/x failed: fetch failed: .*ECONNREFUSED`),
    )
  })
})
