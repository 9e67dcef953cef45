/**
 * A throwaway HTTP cache that validates as bazel-remote does by default (its server/http.go,
 * utils/validate/action_result.go and cache/disk's GetValidatedActionResult), for the remote-cache
 * tests beside nginx:
 *
 * - `PUT /ac/<sha256>` is decoded as a REAPI `build.bazel.remote.execution.v2.ActionResult` (the
 *   official remote_execution.proto, parsed here with protobufjs: not cairn's codec) and checked:
 *   every output file has a relative path and a digest (a sha256, a size of 0 or more), and so do
 *   output directories, symlinks and the stdout/stderr digests. Anything else is answered 400. An
 *   entry without `execution_metadata.worker` gets the uploader's address there and is re-encoded,
 *   as bazel-remote stores it.
 * - `GET`/`HEAD /ac/<sha256>` answer an entry only while every blob it names (output files without
 *   inlined contents, output directories' trees, stdout and stderr) is in the CAS at its size; else 404.
 * - `PUT /cas/<sha256>` needs a Content-Length and bytes that hash to the name; else 400.
 * - Any other path is answered 400 ("resource name must be a SHA256 hash in hex"); `GET /status`
 *   answers the requests that were refused with a 400 (JSON), for the tests to count.
 *
 * What is before `ac/` or `cas/` in a path is a cache of its own (a folder under the root), so the
 * tests can share one server, a prefix each. The server is a separate process (this file, run with
 * tsx), so a test may block its own event loop (a synchronous `cairn` run) while it answers.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { Effect, Layer } from "effect"
import protobuf from "protobufjs"
import { descriptorFromProto, PROTO_FILE } from "../../src/core/store/remote/reapi/descriptor-from-proto.js"
import { acceptingConnections, startServer } from "./process.js"

export interface BazelRemoteLikeServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** Its storage: what `<prefix>/ac/<h>` holds is the file `<root>/<prefix>/ac/<h>` (as nginx's root). */
  readonly root: string
  /** The requests answered 400 so far, as "METHOD path: why". */
  readonly rejected: () => Promise<ReadonlyArray<string>>
  /** Stops the server (waits for it to exit); its folder is removed. Safe to call twice. */
  readonly stop: () => Promise<void>
}

const SERVE = "serve-bazel-remote-like"
const SHA256_HEX = /^[a-f0-9]{64}$/
const EMPTY_SHA256 = createHash("sha256").digest("hex")
/** bazel-remote's URL pattern: an optional instance, then `ac/` or `cas/` and a sha256. */
const BLOB_NAME = /^\/(?:(.*)\/)?(ac|cas)\/([a-f0-9]{64})$/
const MAX_BODY_BYTES = 2 * 1024 * 1024 * 1024

interface Digest {
  readonly hash: string
  readonly size: number
}

/** Why `raw` (a decoded Digest) is no valid digest, or the digest. */
const digestOf = (raw: unknown): Digest | string => {
  if (typeof raw !== "object" || raw === null) return "nil digest"
  const { hash = "", size_bytes = "0" } = raw as { hash?: string; size_bytes?: string }
  if (!SHA256_HEX.test(hash)) return `invalid hash: ${JSON.stringify(hash)}`
  if (size_bytes.startsWith("-")) return "digest has negative SizeBytes"
  return { hash, size: Number(size_bytes) }
}

type Decoded = Record<string, unknown>

/** What validate.ActionResult refuses in `ar`, or the digests it names (whose blobs must be there to serve it). */
const validate = (ar: Decoded): ReadonlyArray<Digest> | string => {
  const named: Array<Digest> = []
  for (const f of (ar["output_files"] as Array<Decoded>) ?? []) {
    const p = f["path"] as string | undefined
    if (!p) return "empty path"
    if (p.startsWith("/")) return `absolute path in output file: ${JSON.stringify(p)}`
    if (f["digest"] === undefined) return `nil Digest for path ${JSON.stringify(p)}`
    const d = digestOf(f["digest"])
    if (typeof d === "string") return `invalid Digest for path ${JSON.stringify(p)}: ${d}`
    if (!(f["contents"] instanceof Uint8Array && f["contents"].length > 0)) named.push(d)
  }
  for (const dir of (ar["output_directories"] as Array<Decoded>) ?? []) {
    const p = (dir["path"] as string | undefined) ?? ""
    if (p.startsWith("/")) return `absolute path in output directory: ${JSON.stringify(p)}`
    if (dir["tree_digest"] === undefined) return `nil tree digest pointer for output directory: ${JSON.stringify(p)}`
    const d = digestOf(dir["tree_digest"])
    if (typeof d === "string") return `invalid TreeDigest for path ${JSON.stringify(p)}: ${d}`
    // bazel-remote also reads the Tree and asks for its files; cairn never writes directories.
    named.push(d)
  }
  for (const field of ["output_file_symlinks", "output_symlinks", "output_directory_symlinks"]) {
    for (const s of (ar[field] as Array<Decoded>) ?? []) {
      const p = s["path"] as string | undefined
      if (!p) return `empty path in ${field}`
      if (!s["target"]) return `empty target in ${field}`
      if (p.startsWith("/")) return `absolute path in ${field}: ${JSON.stringify(p)}`
    }
  }
  for (const field of ["stdout_digest", "stderr_digest"]) {
    if (ar[field] === undefined) continue
    const d = digestOf(ar[field])
    if (typeof d === "string") return `invalid ${field}: ${d}`
    named.push(d)
  }
  return named
}

/** Serves the cache in `root` on `port` (the child process's work). */
const serve = (root: string, port: number) => {
  const actionResult = protobuf.Root.fromJSON(descriptorFromProto(fs.readFileSync(PROTO_FILE, "utf8"))).lookupType(
    "build.bazel.remote.execution.v2.ActionResult",
  )
  const decode = (bytes: Uint8Array): Decoded => actionResult.toObject(actionResult.decode(bytes), { longs: String, arrays: true })
  const rejected: Array<string> = []

  const fileOf = (instance: string, ns: string, hash: string) => path.join(root, instance || "_", ns, hash)
  const hasBlob = (instance: string, d: Digest) => {
    if (d.hash === EMPTY_SHA256 && d.size === 0) return true
    const st = fs.statSync(fileOf(instance, "cas", d.hash), { throwIfNoEntry: false })
    return st !== undefined && st.size === d.size
  }
  const store = (file: string, bytes: Uint8Array) => {
    fs.mkdirSync(path.dirname(file), { recursive: true })
    const temp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
    fs.writeFileSync(temp, bytes)
    fs.renameSync(temp, file)
  }
  /** An /ac/ entry's bytes, when it decodes, validates and every blob it names is there. */
  const validEntry = (instance: string, hash: string): Buffer | undefined => {
    const file = fileOf(instance, "ac", hash)
    if (!fs.existsSync(file)) return undefined
    const bytes = fs.readFileSync(file)
    if (bytes.length === 0) return undefined
    let named: ReadonlyArray<Digest> | string
    try {
      named = validate(decode(bytes))
    } catch (error) {
      if (!(error instanceof Error)) throw error
      return undefined
    }
    return typeof named !== "string" && named.every((d) => hasBlob(instance, d)) ? bytes : undefined
  }

  const server = http.createServer((req, res) => {
    const url = (req.url ?? "/").split("?")[0] ?? "/"
    const answer = (status: number, body: string | Buffer = "", headers: Record<string, string | number> = {}) => {
      if (status === 400) rejected.push(`${req.method} ${url}: ${body}`)
      res.writeHead(status, { "content-type": "text/plain", ...headers })
      res.end(req.method === "HEAD" ? undefined : body)
    }
    if (url === "/status" && req.method === "GET") {
      res.writeHead(200, { "content-type": "application/json" })
      res.end(JSON.stringify({ rejected }))
      return
    }
    const m = BLOB_NAME.exec(url)
    if (!m) {
      req.resume()
      return answer(400, `resource name must be a SHA256 hash in hex, got ${JSON.stringify(url)}`)
    }
    const [, instance = "", ns = "", hash = ""] = m
    if (instance.split("/").includes("..")) {
      req.resume()
      return answer(400, `an instance name with '..': ${JSON.stringify(instance)}`)
    }
    if (req.method === "GET" || req.method === "HEAD") {
      req.resume()
      const bytes =
        ns === "ac" ? validEntry(instance, hash) : fs.existsSync(fileOf(instance, ns, hash)) ? fs.readFileSync(fileOf(instance, ns, hash)) : undefined
      if (bytes === undefined) return answer(404, "Not found")
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": bytes.length })
      res.end(req.method === "HEAD" ? undefined : bytes)
      return
    }
    if (req.method !== "PUT") {
      req.resume()
      return answer(405, `Method '${req.method}' not supported.`)
    }
    const length = req.headers["content-length"]
    if (length === undefined) {
      req.resume()
      return answer(400, `PUT without Content-Length (key = ${ns}/${hash})`)
    }
    const chunks: Array<Buffer> = []
    let received = 0
    req.on("data", (chunk: Buffer) => {
      received += chunk.length
      if (received <= MAX_BODY_BYTES) chunks.push(chunk)
    })
    req.on("error", () => res.destroy())
    req.on("end", () => {
      const body = Buffer.concat(chunks)
      if (body.length !== Number(length)) return answer(400, `sizes don't match. Expected ${length}, found ${body.length}`)
      if (ns === "cas") {
        if (body.length === 0 && hash !== EMPTY_SHA256) return answer(400, `Invalid empty blob hash: "${hash}"`)
        const actual = createHash("sha256").update(body).digest("hex")
        if (actual !== hash) return answer(400, `blob hashes to ${actual}, not ${hash}`)
        store(fileOf(instance, ns, hash), body)
        return answer(200)
      }
      let ar: Decoded
      try {
        ar = decode(body)
      } catch (error) {
        if (!(error instanceof Error)) throw error
        return answer(400, `Failed to add worker metadata: ${error.message}`)
      }
      const checked = validate(ar)
      if (typeof checked === "string") return answer(400, `Failed to marshal ActionResult: ${checked}`)
      const metadata = (ar["execution_metadata"] ?? {}) as Decoded
      if (!metadata["worker"]) ar["execution_metadata"] = { ...metadata, worker: req.socket.remoteAddress ?? "unknown" }
      store(fileOf(instance, ns, hash), actionResult.encode(actionResult.fromObject(ar)).finish())
      return answer(200)
    })
  })
  server.listen(port, "127.0.0.1")
}

/** tsx's loader, so that the child process runs this file as TypeScript. */
const tsxLoader = (): string => pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href

/** Starts a fresh validating cache (a node process on a free loopback port). */
export const startBazelRemoteLike = async (): Promise<BazelRemoteLikeServer> => {
  const server = await startServer({
    name: "bazel-remote-like",
    binary: process.execPath,
    prepare: (dir, port) => {
      fs.mkdirSync(path.join(dir, "root"))
      return ["--import", tsxLoader(), fileURLToPath(import.meta.url), SERVE, path.join(dir, "root"), String(port)]
    },
    answering: acceptingConnections,
    stopSignal: "SIGTERM",
  })
  const url = `http://127.0.0.1:${server.port}`
  const rejected = async () => ((await (await fetch(`${url}/status`)).json()) as { rejected: Array<string> }).rejected
  return { url, port: server.port, root: path.join(server.dir, "root"), rejected, stop: server.stop }
}

/** A layer that runs a fresh validating cache for its lifetime and builds `make(server)` on it. */
export const withBazelRemoteLike = <A, E, R>(make: (server: BazelRemoteLikeServer) => Layer.Layer<A, E, R>): Layer.Layer<A, E, R> =>
  Layer.unwrapScoped(
    Effect.map(
      Effect.acquireRelease(Effect.promise(startBazelRemoteLike), (server) => Effect.promise(server.stop)),
      make,
    ),
  )

if (process.argv[2] === SERVE && process.argv[1] === fileURLToPath(import.meta.url)) {
  const [root, port] = process.argv.slice(3)
  if (!root || !port) throw new Error(`usage: ${SERVE} ROOT PORT`)
  serve(root, Number(port))
}
