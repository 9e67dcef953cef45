/**
 * A throwaway nginx WebDAV server for the remote-cache tests: its own prefix, config and document
 * root in a temp folder, listening on a free loopback port, stopped (and its folder removed) by
 * `stop`. GET/HEAD serve the root, PUT writes into it (`dav_methods PUT`), as a shared Bazel-style
 * HTTP cache would.
 *
 * Without an nginx binary the tests that need one are skipped with a message; with
 * CAIRN_REQUIRE_SERVERS=1 (CI) they fail instead. Debian: `apt-get install nginx-light` (its
 * ngx_http_dav_module is built in).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, Layer } from "effect"

export interface NginxServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** The document root: what was PUT to `/x/y` is the file `<root>/x/y`. */
  readonly root: string
  /** Stops the server (waits for it to exit); its folder is removed. Safe to call twice. */
  readonly stop: () => Promise<void>
}

/** Whether tests that need a server must fail (not skip) when it is missing. */
export const serversRequired = (): boolean => process.env.CAIRN_REQUIRE_SERVERS === "1"

/** The nginx binary, or undefined when none is installed. */
export const nginxBinary = (): string | undefined => {
  for (const dir of [...(process.env.PATH ?? "").split(path.delimiter), "/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"]) {
    const file = path.join(dir, "nginx")
    if (dir && fs.existsSync(file)) return file
  }
  return undefined
}

/**
 * Why nginx tests cannot run here, or undefined when they can; throws when servers are required.
 * Call at collection time: `describe.skipIf(nginxMissing("remote cache tests"))`.
 */
export const nginxMissing = (what: string): string | undefined => {
  const binary = nginxBinary()
  if (binary) {
    const dav = spawnSync(binary, ["-V"], { encoding: "utf8" })
    if (`${dav.stdout}${dav.stderr}`.includes("http_dav_module")) return undefined
  }
  const reason = binary ? `${binary} has no WebDAV module (ngx_http_dav_module)` : "nginx is not installed (apt-get install nginx-light)"
  if (serversRequired()) throw new Error(`${what}: ${reason}, and CAIRN_REQUIRE_SERVERS=1`)
  console.warn(`skipping ${what}: ${reason}`)
  return reason
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))))
    })
  })

const accepting = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1")
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

const config = (dir: string, port: number): string => `
daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 128; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:${port};
    root ${dir}/root;
    location / {
      dav_methods PUT DELETE;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
    }
  }
}
`

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once("exit", () => resolve()))

/** Starts a fresh nginx WebDAV server (a few tries, in case another process takes the port first). */
export const startNginx = async (): Promise<NginxServer> => {
  const binary = nginxBinary()
  if (!binary) throw new Error("nginx is not installed")
  let lastError = ""
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-nginx-"))
    for (const sub of ["root", "tmp"]) fs.mkdirSync(path.join(dir, sub))
    const port = await freePort()
    fs.writeFileSync(path.join(dir, "nginx.conf"), config(dir, port))
    const child = spawn(binary, ["-p", `${dir}/`, "-c", path.join(dir, "nginx.conf"), "-e", path.join(dir, "error.log")], { stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr?.on("data", (d) => (stderr += d))
    const t0 = Date.now()
    let up = false
    while (!up && child.exitCode === null && Date.now() - t0 < 10_000) {
      up = await accepting(port)
      if (!up) await new Promise((r) => setTimeout(r, 20))
    }
    if (up) {
      // One process (no master, no workers to orphan) that goes when the test process goes, however
      // it ends (vitest stops its workers with SIGTERM, then SIGKILL): a detached watchdog polls our pid.
      const watchdog = spawn("sh", ["-c", `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -KILL ${child.pid}; rm -rf '${dir}'`], { stdio: "ignore", detached: true })
      watchdog.unref()
      child.unref()
      ;(child.stderr as net.Socket | null)?.unref()
      let stopped: Promise<void> | undefined
      const stop = () =>
        (stopped ??= (async () => {
          watchdog.kill("SIGKILL")
          child.kill("SIGTERM")
          await exited(child)
          fs.rmSync(dir, { recursive: true, force: true })
        })())
      return { url: `http://127.0.0.1:${port}`, port, root: path.join(dir, "root"), stop }
    }
    child.kill("SIGKILL")
    await exited(child)
    const log = fs.existsSync(path.join(dir, "error.log")) ? fs.readFileSync(path.join(dir, "error.log"), "utf8") : ""
    lastError = `${stderr}${log}`.trim()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  throw new Error(`nginx did not start: ${lastError}`)
}

/** A layer that runs a fresh nginx for its lifetime and builds `make(server)` on it. */
export const withNginx = <A, E, R>(make: (server: NginxServer) => Layer.Layer<A, E, R>): Layer.Layer<A, E, R> =>
  Layer.unwrapScoped(
    Effect.map(
      Effect.acquireRelease(Effect.promise(startNginx), (server) => Effect.promise(server.stop)),
      make,
    ),
  )
