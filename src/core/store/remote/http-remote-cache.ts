/**
 * The remote cache over HTTP, as Bazel's HTTP cache protocol has it: GET, PUT and HEAD of
 * `<base>/ac/<key>` and `<base>/cas/<sha256>`. Works with nginx's WebDAV module (`dav_methods PUT;
 * create_full_put_path on;`) and bazel-remote as it runs by default: action cache entries are REAPI
 * ActionResult protobufs (entries.ts), which it validates, and it serves one only while every blob
 * it names is there. Bodies are streamed, sent as `application/octet-stream` (bazel-remote would
 * read an `application/json` entry as protobuf JSON); a request is given up after `timeoutMs`
 * without progress.
 */
import * as http from "node:http"
import * as https from "node:https"
import type { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { Effect, type Scope } from "effect"
import { type RemoteCache, RemoteCacheError } from "./remote-cache.js"
import { DEFAULT_TIMEOUT_MS, makeRemoteCache, type RemoteCacheOptions, type RemoteTransport, RequestTimeout, requestFailed, type Upload } from "./transport.js"

export interface HttpRemoteCacheOptions extends RemoteCacheOptions {
  /** Sent with every request (e.g. `authorization`). */
  readonly headers?: Readonly<Record<string, string>>
}

type Operation = RemoteCacheError["operation"]

/** The remote cache at `base` (`http(s)://host[:port][/prefix]`, no credentials, no trailing slash), for the scope. */
export const httpRemoteCache = (base: URL, options: HttpRemoteCacheOptions = {}): Effect.Effect<RemoteCache, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() =>
        base.protocol === "https:" ? new https.Agent({ keepAlive: true, maxSockets: 16 }) : new http.Agent({ keepAlive: true, maxSockets: 16 }),
      ),
      (agent) => Effect.sync(() => agent.destroy()),
    ),
    (agent) => makeRemoteCache(httpTransport(base, agent, options), options),
  )

const httpTransport = (base: URL, agent: http.Agent, options: HttpRemoteCacheOptions): RemoteTransport => {
  const url = base.href.replace(/\/+$/, "")
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const request = (operation: Operation, method: "GET" | "PUT" | "HEAD", path: string, body?: Upload) =>
    Effect.async<http.IncomingMessage, RemoteCacheError>((resume, signal) => {
      const target = `${url}/${path}`
      let settled = false
      const settle = (result: Effect.Effect<http.IncomingMessage, RemoteCacheError>) => {
        if (settled) return
        settled = true
        resume(result)
      }
      const headers: Record<string, string> = { ...options.headers }
      if (body) {
        headers["content-length"] = String(body.size)
        headers["content-type"] = "application/octet-stream"
      }
      const req = (base.protocol === "https:" ? https : http).request(target, { method, agent, headers, signal, timeout: timeoutMs })
      // The socket's idle timeout: while connecting, waiting for the answer, or reading the body.
      req.on("timeout", () => req.destroy(new RequestTimeout({ ms: timeoutMs })))
      req.on("error", (error) => settle(Effect.fail(requestFailed(operation, target, error))))
      req.on("response", (res) => settle(Effect.succeed(res)))
      if (!body) {
        req.end()
        return
      }
      pipeline(body.open(), req).catch((error: unknown) => {
        // The body failed (a file changed under us, a read error): the request must not complete.
        settle(Effect.fail(requestFailed(operation, target, error)))
        req.destroy()
      })
    })

  /** An answer that is not a result: its body is dropped so the connection can be reused. */
  const unexpected = (operation: Operation, path: string, res: http.IncomingMessage) => {
    res.resume()
    return new RemoteCacheError({
      operation,
      url: `${url}/${path}`,
      reason: "server",
      status: res.statusCode,
      detail: res.statusMessage || "unexpected answer",
    })
  }

  return {
    url,
    get: (path) =>
      Effect.flatMap(request("get", "GET", path), (res): Effect.Effect<Readable | undefined, RemoteCacheError> => {
        if (res.statusCode === 200) return Effect.succeed(res)
        if (res.statusCode === 404) {
          res.resume()
          return Effect.succeed(undefined)
        }
        return Effect.fail(unexpected("get", path, res))
      }),
    put: (path, body) =>
      Effect.flatMap(request("put", "PUT", path, body), (res) => {
        const status = res.statusCode ?? 0
        if (status < 200 || status >= 300) return Effect.fail(unexpected("put", path, res))
        res.resume()
        return Effect.void
      }),
    head: (path) =>
      Effect.flatMap(request("has", "HEAD", path), (res) => {
        if (res.statusCode === 404) {
          res.resume()
          return Effect.succeed(undefined)
        }
        if (res.statusCode !== 200) return Effect.fail(unexpected("has", path, res))
        res.resume()
        const length = res.headers["content-length"]
        return Effect.succeed({ size: length === undefined ? undefined : Number(length) })
      }),
  }
}
