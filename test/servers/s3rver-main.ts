/**
 * The process s3rver.ts starts: `node --import tsx s3rver-main.ts <dir> <port> <secret> <bucket>...`.
 * s3rver (on an inner loopback port, its data in `<dir>/data`, the buckets created before anything
 * listens) behind a front on `<port>` that does what s3rver 3.7.1 leaves out and S3 does: it checks
 * each request's SigV4 signature against `<secret>`, the secret key of s3rver's one access key ID,
 * `S3RVER` (s3rver's own authentication says "Signature version 4 calculation is unimplemented" and
 * takes any secret), and
 * answers a wrong one as S3 does, 403 SignatureDoesNotMatch. Each request is logged to
 * `<dir>/requests.log` (`METHOD /path?query STATUS`), so a test can see how a body was sent.
 */
import { createHash, createHmac } from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import { createRequire } from "node:module"
import type { AddressInfo } from "node:net"
import * as path from "node:path"

/** The one access key ID s3rver knows (its built-in account). */
const ACCESS_KEY_ID = "S3RVER"

interface S3rverInstance {
  run(): Promise<AddressInfo>
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance

const rfc3986 = (text: string) => encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
const hmac = (key: string | Buffer, text: string) => createHmac("sha256", key).update(text, "utf8").digest()

/**
 * Whether `req` carries a SigV4 header signature made with the secret of its access key ID: true,
 * or false when it does not match. Requests with no such signature, or an unknown key ID, are left
 * to s3rver (it answers those itself). The payload's hash is taken as the client states it.
 */
const signatureMatches = (req: http.IncomingMessage, secret: string): boolean => {
  const auth = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)$/.exec(
    req.headers.authorization ?? "",
  )
  if (!auth) return true
  const [, keyId, date, region, service, signedHeaders, signature] = auth as unknown as [string, string, string, string, string, string, string]
  if (keyId !== ACCESS_KEY_ID) return true
  const [rawPath = "/", rawQuery = ""] = (req.url ?? "/").split("?", 2)
  const query = rawQuery
    .split("&")
    .filter(Boolean)
    .map((pair) => {
      const [k = "", v = ""] = pair.split("=", 2)
      return [rfc3986(decodeURIComponent(k)), rfc3986(decodeURIComponent(v))] as const
    })
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&")
  const headers = signedHeaders
    .split(";")
    .map((name) => {
      const value = req.headers[name]
      return `${name}:${(Array.isArray(value) ? value.join(",") : (value ?? "")).trim().replace(/\s+/g, " ")}\n`
    })
    .join("")
  const payload = String(req.headers["x-amz-content-sha256"] ?? "UNSIGNED-PAYLOAD")
  const canonical = [req.method, rawPath, query, headers, signedHeaders, payload].join("\n")
  const scope = `${date}/${region}/${service}/aws4_request`
  const toSign = ["AWS4-HMAC-SHA256", String(req.headers["x-amz-date"] ?? ""), scope, createHash("sha256").update(canonical).digest("hex")].join("\n")
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), "aws4_request")
  return hmac(key, toSign).toString("hex") === signature
}

const SIGNATURE_DOES_NOT_MATCH =
  '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided. Check your key and signing method.</Message></Error>'

const main = async () => {
  const [dir, port, secret, ...buckets] = process.argv.slice(2)
  if (!dir || !port || !secret) throw new Error("usage: s3rver-main.ts <dir> <port> <secret> <bucket>...")
  const S3rver = createRequire(import.meta.url)("s3rver") as S3rverClass
  const inner = await new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory: path.join(dir, "data"),
    vhostBuckets: false,
    configureBuckets: buckets.map((name) => ({ name })),
  }).run()
  const log = path.join(dir, "requests.log")
  const front = http.createServer((req, res) => {
    const logged = (status: number) => fs.appendFileSync(log, `${req.method} ${req.url} ${status}\n`)
    if (!signatureMatches(req, secret)) {
      req.resume()
      logged(403)
      res.writeHead(403, { "content-type": "application/xml" })
      res.end(req.method === "HEAD" ? undefined : SIGNATURE_DOES_NOT_MATCH)
      return
    }
    // One connection per request: no idle pooled socket that s3rver may be closing as it is reused.
    const forward = http.request({ host: "127.0.0.1", port: inner.port, method: req.method, path: req.url, headers: req.headers, agent: false }, (answer) => {
      // Logged before the client can see the answer: what a test reads after a request is there.
      logged(answer.statusCode ?? 502)
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    forward.once("error", (error) => {
      fs.appendFileSync(log, `${req.method} ${req.url} failed: ${error.message}\n`)
      res.destroy()
    })
    req.once("error", () => forward.destroy())
    res.once("close", () => forward.destroy())
    req.pipe(forward)
  })
  // Node's server closes a keep-alive connection after 5 s idle; a client whose event loop is late
  // (a loaded machine) can reuse that socket in the very moment it closes, and the request dies with
  // "socket hang up" on every try that meets such a socket. S3 itself keeps idle connections open
  // far longer (and the SDK reuses them): so does this front.
  front.keepAliveTimeout = 120_000
  front.headersTimeout = 121_000
  await new Promise<void>((resolve, reject) => {
    front.once("error", reject)
    front.listen(Number(port), "127.0.0.1", resolve)
  })
}

main().catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
