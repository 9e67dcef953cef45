/**
 * Downloads a URL to a file, resumably: bytes already in `<dest>.part` are kept and the rest asked
 * for with a Range request (a server that ignores it restarts the file); the file appears at
 * `dest` only when complete (renamed from the part file). Redirects are followed (the Hugging Face
 * hub answers with one to its CDN).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Data, Effect } from "effect"

/** A download that did not complete: what was asked, what came back, how to do without. */
export class DownloadFailed extends Data.TaggedError("DownloadFailed")<{
  readonly url: string
  readonly detail: string
  /** What the user can do instead (pass the file by hand, say). */
  readonly hint?: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `download of ${this.url} failed: ${this.detail}${this.hint ? `; ${this.hint}` : ""}`
  }
}

export interface DownloadOptions {
  readonly headers?: Readonly<Record<string, string>>
  /** Bytes written so far and the total when the server says it. */
  readonly onProgress?: (bytes: number, total: number | undefined) => void
  readonly hint?: string
}

/** The part file a download of `dest` writes into until it completes. */
export const partFileOf = (dest: string): string => `${dest}.part`

const HTTP_PARTIAL = 206
const HTTP_RANGE_NOT_SATISFIABLE = 416

export const downloadFile = (
  url: string,
  dest: string,
  options: DownloadOptions = {},
): Effect.Effect<{ readonly bytes: number; readonly resumedFrom: number }, DownloadFailed> =>
  Effect.tryPromise({
    try: async (signal) => {
      fs.mkdirSync(path.dirname(dest), { recursive: true })
      const part = partFileOf(dest)
      const have = fs.existsSync(part) ? fs.statSync(part).size : 0
      const headers: Record<string, string> = { ...options.headers }
      if (have > 0) headers.Range = `bytes=${have}-`
      const res = await fetch(url, { headers, redirect: "follow", signal })
      if (res.status === HTTP_RANGE_NOT_SATISFIABLE && have > 0) {
        // Asked past the end: what we have is the whole file (the server says how long it is).
        const total = Number(/\/(\d+)$/.exec(res.headers.get("content-range") ?? "")?.[1])
        if (total === have) {
          fs.renameSync(part, dest)
          return { bytes: have, resumedFrom: have }
        }
        fs.rmSync(part, { force: true })
        throw new Error(`the server refused to resume at byte ${have}; the partial file was removed, run again`)
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status} ${res.statusText}`)
      const resumed = res.status === HTTP_PARTIAL && have > 0
      const start = resumed ? have : 0
      const length = Number(res.headers.get("content-length"))
      const total = Number.isFinite(length) && length > 0 ? start + length : undefined
      const fd = fs.openSync(part, resumed ? "a" : "w")
      let bytes = start
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          fs.writeSync(fd, chunk)
          bytes += chunk.byteLength
          options.onProgress?.(bytes, total)
        }
      } finally {
        fs.closeSync(fd)
      }
      if (total !== undefined && bytes !== total) throw new Error(`the connection ended after ${bytes} of ${total} bytes; run again to resume`)
      fs.renameSync(part, dest)
      return { bytes, resumedFrom: start }
    },
    catch: (error) => {
      const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : ""
      return new DownloadFailed({ url, detail: `${error instanceof Error ? error.message : String(error)}${cause}`, hint: options.hint, cause: error })
    },
  })
