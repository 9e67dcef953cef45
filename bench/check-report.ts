/**
 * Opens an HTML report in headless Chromium and fails on any console error, uncaught page error or
 * failed request (a Content-Security-Policy violation is logged as an error, so a report that tries
 * to fetch anything fails too). Prints one JSON object:
 *
 *   { ok, consoleErrors, pageErrors, failedRequests, title, svgCount, requests, file, chromium, ms }
 *
 * and exits 1 when `ok` is false.
 *
 *   npx tsx bench/check-report.ts REPORT.html [--json OUT] [--chromium PATH]
 *   npx tsx bench/check-report.ts --demo [DIR] [--json OUT]   # writes the fake HMS report first
 *
 * Chromium is not a project dependency: install it for this check (`apt-get install -y chromium`).
 * It is driven over the DevTools protocol on `--remote-debugging-pipe` (fd 3: commands in, fd 4:
 * replies and events out, JSON messages separated by NUL), so no WebSocket client is needed.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import type { Readable, Writable } from "node:stream"
import { pathToFileURL } from "node:url"
import { Data } from "effect"

export const DEFAULT_CHROMIUM = "/usr/bin/chromium"
/** Whole-check limit, and the quiet time after the load event for late errors. */
const DEFAULT_TIMEOUT_MS = 60_000
const SETTLE_MS = 500
/** Kept from Chromium's stderr for error messages. */
const STDERR_TAIL_CHARS = 2_000
const RM_RETRIES = 5
const RM_RETRY_DELAY_MS = 100
/** How long Chromium's processes get to exit after `Browser.close` (then they are killed), and the poll period. */
const GROUP_GRACE_MS = 5_000
const GROUP_POLL_MS = 50

/** Chromium could not be started or driven, or the page did not load in time. */
export class ChromiumCheckFailed extends Data.TaggedError("ChromiumCheckFailed")<{
  readonly file: string
  readonly chromium: string
  readonly reason: string
}> {
  override get message(): string {
    return `checking ${this.file} with ${this.chromium}: ${this.reason}`
  }
}

export interface ReportCheck {
  readonly ok: boolean
  readonly consoleErrors: ReadonlyArray<string>
  readonly pageErrors: ReadonlyArray<string>
  readonly failedRequests: ReadonlyArray<string>
  readonly title: string
  readonly svgCount: number
  /** Every URL the page requested (the page itself included). */
  readonly requests: ReadonlyArray<string>
  readonly file: string
  readonly chromium: string
  readonly ms: number
}

export interface CheckOptions {
  readonly chromium?: string
  readonly timeoutMs?: number
}

/** Flags for a throwaway headless browser that talks to nothing but the page. */
const chromiumFlags = (userDataDir: string): Array<string> => [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--no-default-browser-check",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-extensions",
  "--disable-dev-shm-usage",
  "--mute-audio",
  `--user-data-dir=${userDataDir}`,
  "--remote-debugging-pipe",
  "about:blank",
]

type Json = Record<string, unknown>

interface CdpMessage {
  readonly id?: number
  readonly method?: string
  readonly params?: Json
  readonly result?: Json
  readonly error?: { readonly message: string }
  readonly sessionId?: string
}

/** A DevTools-protocol client over Chromium's pipe. */
class CdpPipe {
  private nextId = 1
  private buffer = ""
  private readonly pending = new Map<number, { resolve: (r: Json) => void; reject: (e: Error) => void; method: string }>()
  private readonly listeners: Array<(m: CdpMessage) => void> = []

  constructor(
    private readonly input: Writable,
    output: Readable,
  ) {
    output.setEncoding("utf8")
    output.on("data", (chunk: string) => this.receive(chunk))
  }

  private receive(chunk: string): void {
    this.buffer += chunk
    let end = this.buffer.indexOf("\0")
    while (end >= 0) {
      const text = this.buffer.slice(0, end)
      this.buffer = this.buffer.slice(end + 1)
      end = this.buffer.indexOf("\0")
      const msg = JSON.parse(text) as CdpMessage
      if (msg.id !== undefined) {
        const p = this.pending.get(msg.id)
        if (p === undefined) continue
        this.pending.delete(msg.id)
        if (msg.error !== undefined) p.reject(new Error(`${p.method}: ${msg.error.message}`))
        else p.resolve(msg.result ?? {})
      } else {
        for (const l of this.listeners) l(msg)
      }
    }
  }

  send(method: string, params: Json = {}, sessionId?: string): Promise<Json> {
    const id = this.nextId++
    return new Promise((resolvePromise, reject) => {
      this.pending.set(id, { resolve: resolvePromise, reject, method })
      this.input.write(`${JSON.stringify({ id, method, params, ...(sessionId === undefined ? {} : { sessionId }) })}\0`)
    })
  }

  on(listener: (m: CdpMessage) => void): void {
    this.listeners.push(listener)
  }

  failAll(error: Error): void {
    for (const p of this.pending.values()) p.reject(error)
    this.pending.clear()
  }
}

const str = (v: unknown): string => (typeof v === "string" ? v : v === undefined ? "" : JSON.stringify(v))

/** One console argument as text (a RemoteObject's value or description). */
const remoteText = (arg: unknown): string => {
  const a = (arg ?? {}) as Json
  if ("value" in a) return str(a.value)
  return str(a.description ?? a.unserializableValue ?? a.type)
}

/** Opens `file` in headless Chromium and collects what went wrong. */
export const checkReport = async (file: string, options: CheckOptions = {}): Promise<ReportCheck> => {
  const chromium = options.chromium ?? DEFAULT_CHROMIUM
  const path = resolve(file)
  const fail = (reason: string) => new ChromiumCheckFailed({ file: path, chromium, reason })
  if (!existsSync(path)) throw fail("the report file does not exist")
  if (!existsSync(chromium)) throw fail("Chromium is not installed (apt-get install -y chromium)")
  const url = pathToFileURL(path).href
  const t0 = performance.now()
  const userDataDir = mkdtempSync(join(tmpdir(), "cairn-chromium-"))
  let child: ChildProcess | undefined
  let timer: NodeJS.Timeout | undefined
  let stderr = ""
  try {
    const proc = spawn(chromium, chromiumFlags(userDataDir), {
      stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"],
      // Its own process group, so that its helper processes can be waited for and ended together.
      detached: true,
    })
    child = proc
    proc.stderr!.setEncoding("utf8")
    proc.stderr!.on("data", (s: string) => {
      stderr = (stderr + s).slice(-STDERR_TAIL_CHARS)
    })
    const cdp = new CdpPipe(proc.stdio[3] as Writable, proc.stdio[4] as Readable)
    const exited = new Promise<never>((_, reject) => {
      proc.on("error", (e) => reject(fail(`cannot start: ${e.message}`)))
      proc.on("exit", (code, signal) => reject(fail(`exited early (code ${code}, signal ${signal}); stderr: ${stderr.trim()}`)))
    })
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(fail(`no result within ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`)), options.timeoutMs ?? DEFAULT_TIMEOUT_MS)
    })
    const guard = <A>(p: Promise<A>): Promise<A> => Promise.race([p, exited, timedOut])
    exited.catch((e: unknown) => cdp.failAll(e as Error))
    timedOut.catch((e: unknown) => cdp.failAll(e as Error))

    const consoleErrors: Array<string> = []
    const pageErrors: Array<string> = []
    const failedRequests: Array<string> = []
    const requests: Array<string> = []
    const requestUrls = new Map<string, string>()
    let sessionId = ""
    let loaded: () => void = () => undefined
    const loadFired = new Promise<void>((r) => {
      loaded = r
    })
    cdp.on((m) => {
      if (m.sessionId !== sessionId || m.params === undefined) return
      const p = m.params
      switch (m.method) {
        case "Runtime.consoleAPICalled":
          if (p.type === "error" || p.type === "assert")
            consoleErrors.push(`console.${str(p.type)}: ${((p.args as Array<unknown>) ?? []).map(remoteText).join(" ")}`)
          break
        case "Runtime.exceptionThrown": {
          const d = (p.exceptionDetails ?? {}) as Json
          const ex = (d.exception ?? {}) as Json
          pageErrors.push(str(ex.description ?? d.text))
          break
        }
        case "Log.entryAdded": {
          const e = (p.entry ?? {}) as Json
          if (e.level === "error") consoleErrors.push(`${str(e.source)}: ${str(e.text)}${e.url === undefined ? "" : ` (${str(e.url)})`}`)
          break
        }
        case "Network.requestWillBeSent": {
          const u = str((p.request as Json | undefined)?.url)
          requestUrls.set(str(p.requestId), u)
          requests.push(u)
          break
        }
        case "Network.loadingFailed": {
          const reason = [p.errorText, p.blockedReason, p.corsErrorStatus === undefined ? undefined : "CORS"]
            .filter((x) => x !== undefined && x !== "")
            .map(str)
          failedRequests.push(`${requestUrls.get(str(p.requestId)) ?? str(p.requestId)}: ${reason.join(", ")}`)
          break
        }
        case "Network.responseReceived": {
          const r = (p.response ?? {}) as Json
          if (typeof r.status === "number" && r.status >= 400) failedRequests.push(`${str(r.url)}: HTTP ${r.status}`)
          break
        }
        case "Page.loadEventFired":
          loaded()
          break
      }
    })

    const target = await guard(cdp.send("Target.createTarget", { url: "about:blank" }))
    const attached = await guard(cdp.send("Target.attachToTarget", { targetId: target.targetId, flatten: true }))
    sessionId = str(attached.sessionId)
    for (const domain of ["Runtime", "Log", "Network", "Page"]) await guard(cdp.send(`${domain}.enable`, {}, sessionId))
    const nav = await guard(cdp.send("Page.navigate", { url }, sessionId))
    if (typeof nav.errorText === "string" && nav.errorText !== "") failedRequests.push(`${url}: ${nav.errorText}`)
    else await guard(loadFired)
    await guard(new Promise((r) => setTimeout(r, SETTLE_MS)))
    const evaluated = await guard(
      cdp.send(
        "Runtime.evaluate",
        { expression: "JSON.stringify({ title: document.title, svgCount: document.querySelectorAll('svg').length })", returnByValue: true },
        sessionId,
      ),
    )
    const page = JSON.parse(str((evaluated.result as Json | undefined)?.value) || "{}") as { title?: string; svgCount?: number }
    // Chromium may exit before it answers (the pending command then fails with "exited early"):
    // either way it is closing, and the process-group wait below is what makes sure it is gone.
    await cdp.send("Browser.close").catch((e: unknown) => (e instanceof ChromiumCheckFailed ? undefined : Promise.reject(e)))
    return {
      ok: consoleErrors.length === 0 && pageErrors.length === 0 && failedRequests.length === 0,
      consoleErrors,
      pageErrors,
      failedRequests,
      title: page.title ?? "",
      svgCount: page.svgCount ?? 0,
      requests,
      file: path,
      chromium,
      ms: Math.round(performance.now() - t0),
    }
  } finally {
    if (timer !== undefined) clearTimeout(timer)
    if (child?.pid !== undefined) await stopProcessGroup(child.pid)
    rmSync(userDataDir, { recursive: true, force: true, maxRetries: RM_RETRIES, retryDelay: RM_RETRY_DELAY_MS })
  }
}

/** Whether any process of the group `pgid` is still alive. */
const groupAlive = (pgid: number): boolean => {
  try {
    process.kill(-pgid, 0)
    return true
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return false
    throw e
  }
}

const waitGroupGone = async (pgid: number, ms: number): Promise<boolean> => {
  const until = performance.now() + ms
  while (groupAlive(pgid)) {
    if (performance.now() > until) return false
    await new Promise((r) => setTimeout(r, GROUP_POLL_MS))
  }
  return true
}

/**
 * Ends the Chromium we started, helpers included: it runs in its own process group (spawned
 * detached), so after `Browser.close` we wait for the whole group to go (its helpers write to the
 * profile folder while they shut down), and kill that group, by its id, if it lingers.
 */
const stopProcessGroup = async (pgid: number): Promise<void> => {
  if (await waitGroupGone(pgid, GROUP_GRACE_MS)) return
  process.kill(-pgid, "SIGKILL")
  await waitGroupGone(pgid, GROUP_GRACE_MS)
}

const argValue = (argv: ReadonlyArray<string>, flag: string): string | undefined => {
  const i = argv.indexOf(flag)
  const v = i >= 0 ? argv[i + 1] : undefined
  return v === undefined || v.startsWith("--") ? undefined : v
}

const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  const json = argValue(argv, "--json")
  const chromium = argValue(argv, "--chromium")
  let file = argv.find((a, i) => !a.startsWith("--") && !["--json", "--chromium", "--demo"].includes(argv[i - 1] ?? ""))
  if (argv.includes("--demo")) {
    // The fake record lives with the report tests; imported only for --demo.
    const { fakeHmsReportData } = await import("../test/report/fake-hms.js")
    const { writeHmsReport } = await import("../stages/hms/report/index.js")
    const dir = argValue(argv, "--demo") ?? mkdtempSync(join(tmpdir(), "cairn-report-demo-"))
    const written = await writeHmsReport(fakeHmsReportData(), dir)
    file = written[0]
  }
  if (file === undefined) {
    process.stderr.write("usage: npx tsx bench/check-report.ts REPORT.html | --demo [DIR]  [--json OUT] [--chromium PATH]\n")
    return 2
  }
  const result = await checkReport(file, chromium === undefined ? {} : { chromium })
  const text = JSON.stringify(result, null, 2)
  process.stdout.write(`${text}\n`)
  if (json !== undefined) writeFileSync(json, `${text}\n`)
  return result.ok ? 0 : 1
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
      process.exitCode = 1
    },
  )
}
