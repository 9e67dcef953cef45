/**
 * What the throwaway test servers (nginx.ts, redis.ts) share: finding a binary, skipping (or, with
 * CAIRN_REQUIRE_SERVERS=1, failing) when it is missing, and running one server process in its own
 * temp folder on a free loopback port until `stop`, gone with the test process however it ends.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

/** Whether tests that need a server must fail (not skip) when it is missing. */
export const serversRequired = (): boolean => process.env.CAIRN_REQUIRE_SERVERS === "1"

/** `name` on PATH or in `dirs`, or undefined when it is nowhere. */
export const findBinary = (name: string, dirs: ReadonlyArray<string>): string | undefined => {
  for (const dir of [...(process.env.PATH ?? "").split(path.delimiter), ...dirs]) {
    const file = path.join(dir, name)
    if (dir && fs.existsSync(file)) return file
  }
  return undefined
}

/** `reason` the server cannot run: thrown when servers are required, else warned and returned (the tests skip). */
export const serverMissing = (what: string, reason: string): string => {
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

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once("exit", () => resolve()))

/** Whether a server accepts TCP connections on `port` of loopback (a server's `answering` check). */
export const acceptingConnections = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1")
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

export interface ServerSpec {
  /** For messages and the temp folder's name. */
  readonly name: string
  readonly binary: string
  /** Prepares the folder for a server on `port`; its arguments. */
  readonly prepare: (dir: string, port: number) => ReadonlyArray<string>
  /** Whether the server answers on `port`. */
  readonly answering: (port: number) => Promise<boolean>
  /** How it is stopped. */
  readonly stopSignal: NodeJS.Signals
  /** What it logged to files of its folder, for the message when it does not start. */
  readonly log?: (dir: string) => string
}

export interface RunningServer {
  readonly port: number
  readonly pid: number
  readonly dir: string
  /** Stops the server (waits for it to exit); its folder is removed. Safe to call twice. */
  readonly stop: () => Promise<void>
}

/** Outer bound of a server's start: it answers within a second on an idle machine, later on a busy one. */
const START_MS = 60_000
const TRIES = 3

/** Starts the server (a few tries, in case another process takes the port first). */
export const startServer = async (spec: ServerSpec): Promise<RunningServer> => {
  let lastError = ""
  for (let attempt = 0; attempt < TRIES; attempt++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cairn-${spec.name}-`))
    const port = await freePort()
    const child = spawn(spec.binary, [...spec.prepare(dir, port)], { stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout?.on("data", (d) => (output += d))
    child.stderr?.on("data", (d) => (output += d))
    const t0 = Date.now()
    let up = false
    while (!up && child.exitCode === null && Date.now() - t0 < START_MS) {
      up = await spec.answering(port)
      if (!up) await new Promise((r) => setTimeout(r, 20))
    }
    if (up && child.pid !== undefined) {
      // Gone with the test process, however it ends (vitest stops its workers with SIGTERM, then
      // SIGKILL): a detached watchdog polls our pid.
      const watchdog = spawn("sh", ["-c", `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -KILL ${child.pid}; rm -rf '${dir}'`], {
        stdio: "ignore",
        detached: true,
      })
      watchdog.unref()
      child.unref()
      for (const s of [child.stdout, child.stderr]) (s as net.Socket | null)?.unref()
      let stopped: Promise<void> | undefined
      const stop = () =>
        (stopped ??= (async () => {
          watchdog.kill("SIGKILL")
          child.kill(spec.stopSignal)
          await exited(child)
          fs.rmSync(dir, { recursive: true, force: true })
        })())
      return { port, pid: child.pid, dir, stop }
    }
    child.kill("SIGKILL")
    await exited(child)
    lastError = `${output}${spec.log?.(dir) ?? ""}`.trim()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  throw new Error(`${spec.name} did not start: ${lastError}`)
}
