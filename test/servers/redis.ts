/**
 * A throwaway Redis for the queue tests: its own folder in a temp dir, listening on a free loopback
 * port, without persistence, stopped (and its folder removed) by `stop`.
 *
 * Without a redis-server binary the tests that need one are skipped with a message; with
 * CAIRN_REQUIRE_SERVERS=1 (CI) they fail instead. Debian: `apt-get install redis-server`.
 */
import * as net from "node:net"
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

/** Whether Redis answers PING on the port. */
const answering = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1")
    let got = ""
    socket.once("connect", () => socket.write("PING\r\n"))
    socket.on("data", (d) => {
      got += d
      if (got.includes("\r\n")) {
        socket.destroy()
        resolve(got.startsWith("+PONG"))
      }
    })
    socket.once("error", () => resolve(false))
  })

/** Starts a fresh Redis. */
export const startRedis = async (): Promise<RedisServer> => {
  const binary = redisBinary()
  if (!binary) throw new Error("redis-server is not installed")
  const server = await startServer({
    name: "redis",
    binary,
    prepare: (dir, port) => ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning"],
    answering,
    stopSignal: "SIGKILL",
  })
  return { url: `redis://127.0.0.1:${server.port}`, port: server.port, pid: server.pid, stop: server.stop }
}
