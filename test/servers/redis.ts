/**
 * A throwaway Redis for the queue tests: its own folder in a temp dir, listening on a free loopback
 * port, without persistence, stopped (and its folder removed) by `stop`.
 *
 * Without a redis-server binary the tests that need one are skipped with a message; with
 * CAIRN_REQUIRE_SERVERS=1 (CI) they fail instead. Debian: `apt-get install redis-server`.
 */
import { spawnSync } from "node:child_process"
import * as net from "node:net"
import * as path from "node:path"
import * as tls from "node:tls"
import { findBinary, serverMissing, startServer } from "./process.js"

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** The server's process id (to signal it). */
  readonly pid: number
  /** Stops the server (waits for it to exit); its folder is removed. Safe to call twice. */
  readonly stop: () => Promise<void>
}

/** The redis-server binary, or undefined when none is installed. */
export const redisBinary = (): string | undefined => findBinary("redis-server", ["/usr/bin", "/usr/local/bin", "/usr/sbin"])

/**
 * Why Redis tests cannot run here, or undefined when they can; throws when servers are required.
 * Call at collection time: `describe.skipIf(redisMissing("queue tests"))`.
 */
export const redisMissing = (what: string): string | undefined =>
  redisBinary() ? undefined : serverMissing(what, "redis-server is not installed (apt-get install redis-server)")

/** Whether Redis answers PING on the port (a refusal for want of a password is an answer too). */
const answering = (port: number, overTls: boolean): Promise<boolean> =>
  new Promise((resolve) => {
    const ping = () => socket.write("PING\r\n")
    const socket = overTls ? tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false }, ping) : net.connect(port, "127.0.0.1", ping)
    let got = ""
    socket.on("data", (d) => {
      got += d
      if (got.includes("\r\n")) {
        socket.destroy()
        resolve(got.startsWith("+PONG") || got.startsWith("-NOAUTH"))
      }
    })
    socket.once("error", () => resolve(false))
  })

/** The openssl binary (for a TLS Redis's self-signed certificate), or undefined. */
export const opensslBinary = (): string | undefined => findBinary("openssl", ["/usr/bin", "/usr/local/bin"])

export interface RedisOptions {
  /** Clients must give this password (`requirepass`). */
  readonly password?: string
  /** TLS only (`rediss://`), with a self-signed certificate made by openssl in the server's folder. */
  readonly tls?: boolean
}

/** Starts a fresh Redis. */
export const startRedis = async (options: RedisOptions = {}): Promise<RedisServer> => {
  const binary = redisBinary()
  if (!binary) throw new Error("redis-server is not installed")
  const server = await startServer({
    name: "redis",
    binary,
    prepare: (dir, port) => {
      const common = [
        "--bind",
        "127.0.0.1",
        "--dir",
        dir,
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--protected-mode",
        "no",
        "--loglevel",
        "warning",
      ]
      const auth = options.password === undefined ? [] : ["--requirepass", options.password]
      if (!options.tls) return ["--port", String(port), ...common, ...auth]
      const [key, cert] = [path.join(dir, "key.pem"), path.join(dir, "cert.pem")]
      const made = spawnSync(
        opensslBinary() ?? "openssl",
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1"],
        { encoding: "utf8" },
      )
      if (made.status !== 0) throw new Error(`openssl could not make a certificate: ${made.stderr}`)
      return ["--port", "0", "--tls-port", String(port), "--tls-cert-file", cert, "--tls-key-file", key, "--tls-auth-clients", "no", ...common, ...auth]
    },
    answering: (port) => answering(port, options.tls === true),
    stopSignal: "SIGKILL",
  })
  return { url: `${options.tls ? "rediss" : "redis"}://127.0.0.1:${server.port}`, port: server.port, pid: server.pid, stop: server.stop }
}
