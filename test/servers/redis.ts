/**
 * A throwaway Redis for the queue tests: its own folder in a temp dir, listening on a free loopback
 * port, without persistence, stopped (and its folder removed) by `stop`.
 *
 * Without a redis-server binary the tests that need one are skipped with a message; with
 * CAIRN_REQUIRE_SERVERS=1 (CI) they fail instead. Debian: `apt-get install redis-server`.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { serversRequired } from "./nginx.js"

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
export const redisBinary = (): string | undefined => {
  for (const dir of [...(process.env.PATH ?? "").split(path.delimiter), "/usr/bin", "/usr/local/bin", "/usr/sbin"]) {
    const file = path.join(dir, "redis-server")
    if (dir && fs.existsSync(file)) return file
  }
  return undefined
}

/**
 * Why Redis tests cannot run here, or undefined when they can; throws when servers are required.
 * Call at collection time: `describe.skipIf(redisMissing("queue tests"))`.
 */
export const redisMissing = (what: string): string | undefined => {
  if (redisBinary()) return undefined
  const reason = "redis-server is not installed (apt-get install redis-server)"
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

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once("exit", () => resolve()))

/** Starts a fresh Redis (a few tries, in case another process takes the port first). */
export const startRedis = async (): Promise<RedisServer> => {
  const binary = redisBinary()
  if (!binary) throw new Error("redis-server is not installed")
  let lastError = ""
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cairn-redis-"))
    const port = await freePort()
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning"]
    const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout?.on("data", (d) => (output += d))
    child.stderr?.on("data", (d) => (output += d))
    const t0 = Date.now()
    let up = false
    while (!up && child.exitCode === null && Date.now() - t0 < 10_000) {
      up = await answering(port)
      if (!up) await new Promise((r) => setTimeout(r, 20))
    }
    if (up && child.pid !== undefined) {
      // Gone with the test process, however it ends: a detached watchdog polls our pid.
      const watchdog = spawn("sh", ["-c", `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -KILL ${child.pid}; rm -rf '${dir}'`], { stdio: "ignore", detached: true })
      watchdog.unref()
      child.unref()
      for (const s of [child.stdout, child.stderr]) (s as net.Socket | null)?.unref()
      let stopped: Promise<void> | undefined
      const stop = () =>
        (stopped ??= (async () => {
          watchdog.kill("SIGKILL")
          child.kill("SIGKILL")
          await exited(child)
          fs.rmSync(dir, { recursive: true, force: true })
        })())
      return { url: `redis://127.0.0.1:${port}`, port, pid: child.pid, stop }
    }
    child.kill("SIGKILL")
    await exited(child)
    lastError = output.trim()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  throw new Error(`redis-server did not start: ${lastError}`)
}
