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
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Layer } from "effect"
import { acceptingConnections, findBinary, serverMissing, startServer } from "./process.js"

export interface NginxServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** The document root: what was PUT to `/x/y` is the file `<root>/x/y`. */
  readonly root: string
  /** Stops the server (waits for it to exit); its folder is removed. Safe to call twice. */
  readonly stop: () => Promise<void>
}

/** The nginx binary, or undefined when none is installed. */
export const nginxBinary = (): string | undefined => findBinary("nginx", ["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"])

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
  return serverMissing(what, binary ? `${binary} has no WebDAV module (ngx_http_dav_module)` : "nginx is not installed (apt-get install nginx-light)")
}

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

/** Starts a fresh nginx WebDAV server: one process (no master, no workers to orphan). */
export const startNginx = async (): Promise<NginxServer> => {
  const binary = nginxBinary()
  if (!binary) throw new Error("nginx is not installed")
  const server = await startServer({
    name: "nginx",
    binary,
    prepare: (dir, port) => {
      for (const sub of ["root", "tmp"]) fs.mkdirSync(path.join(dir, sub))
      fs.writeFileSync(path.join(dir, "nginx.conf"), config(dir, port))
      return ["-p", `${dir}/`, "-c", path.join(dir, "nginx.conf"), "-e", path.join(dir, "error.log")]
    },
    answering: acceptingConnections,
    stopSignal: "SIGTERM",
    log: (dir) => (fs.existsSync(path.join(dir, "error.log")) ? fs.readFileSync(path.join(dir, "error.log"), "utf8") : ""),
  })
  return { url: `http://127.0.0.1:${server.port}`, port: server.port, root: path.join(server.dir, "root"), stop: server.stop }
}

/** A layer that runs a fresh nginx for its lifetime and builds `make(server)` on it. */
export const withNginx = <A, E, R>(make: (server: NginxServer) => Layer.Layer<A, E, R>): Layer.Layer<A, E, R> =>
  Layer.unwrapScoped(
    Effect.map(
      Effect.acquireRelease(Effect.promise(startNginx), (server) => Effect.promise(server.stop)),
      make,
    ),
  )
