import { Context, Effect, Layer } from "effect"
import type { ProgressEvent } from "./stage.js"

export type StageStatus = "ran" | "cached" | "failed" | "skipped"

/** How one stage instance ended in a run. */
export interface StageOutcome {
  readonly id: string
  readonly status: StageStatus
  readonly key: string | undefined
  readonly seconds: number
  /** One line: why it failed or was skipped. */
  readonly error?: string
  /** The failure with its stack or Effect cause, for `--verbose`. */
  readonly cause?: unknown
  /** When its stored result was computed and how long that took (a cached stage: not this run). */
  readonly computed?: ComputedAt
  /** The worker that computed it in this run (`cairn run --queue`), when not this process. */
  readonly ranBy?: string
  /** The last step (epoch) of saved progress this run continued from (a stage that works in steps). */
  readonly resumedFromEpoch?: number
}

/** When and how long a stored result took to compute (its run record's start and duration). */
export interface ComputedAt {
  readonly at: string
  readonly seconds: number
}

/**
 * Where a run's human-facing output goes. Layers: `Reporter.layerPretty` (TTY), `layerPlain`
 * (logs), `layerAuto` (pretty on a terminal, plain otherwise); `collectingReporter` for tests.
 */
export interface Reporter {
  readonly started: (id: string) => Effect.Effect<void>
  readonly finished: (outcome: StageOutcome) => Effect.Effect<void>
  readonly log: (id: string, message: string) => Effect.Effect<void>
  readonly progress: (id: string, event: ProgressEvent) => Effect.Effect<void>
  readonly waiting: (id: string, detail: string) => Effect.Effect<void>
  /** Any other line (headers, summaries). */
  readonly line: (text: string) => Effect.Effect<void>
}

const STATUS_MARK: Record<StageStatus, string> = { ran: "ran   ", cached: "cached", failed: "FAILED", skipped: "skipped" }

export const formatOutcome = (o: StageOutcome): string => {
  const secs = `${o.seconds.toFixed(2)}s`.padStart(8)
  return `${STATUS_MARK[o.status]} ${secs}  ${o.id}${o.error ? `  — ${o.error}` : ""}`
}

/** A progress line is printed again after this long without one, even if nothing coarse changed. */
const PLAIN_PROGRESS_EVERY_MS = 10_000
/** ... or when the fraction done passes the next tenth. */
const PLAIN_PROGRESS_STEPS = 10

/**
 * Plain lines, for logs and pipes: one per stage, and progress only when it says something new
 * (a new epoch, the next tenth done, or ten seconds since the last one).
 */
export const plainReporter = (write: (text: string) => void): Reporter => {
  const last = new Map<string, { coarse: string; tenth: number; at: number }>()
  return {
    started: () => Effect.void,
    finished: (o) => Effect.sync(() => write(formatOutcome(o))),
    log: (id, message) => Effect.sync(() => write(`[${id}] ${message}`)),
    progress: (id, event) =>
      Effect.sync(() => {
        const coarse = event.text.split(" step ")[0] ?? event.text
        const tag = event.task ? `${id}:${event.task}` : id
        const tenth = event.fraction === undefined ? -1 : Math.floor(event.fraction * PLAIN_PROGRESS_STEPS)
        const prev = last.get(tag)
        const now = Date.now()
        const news = !prev || (event.fraction === undefined ? prev.coarse !== coarse : tenth > prev.tenth) || now - prev.at >= PLAIN_PROGRESS_EVERY_MS
        if (!news) return
        last.set(tag, { coarse, tenth, at: now })
        write(`[${tag}] ${event.text}`)
      }),
    waiting: (id, detail) => Effect.sync(() => write(`[${id}] waiting: ${detail}`)),
    line: (text) => Effect.sync(() => write(text)),
  }
}

const BAR_WIDTH = 24

const bar = (fraction: number | undefined) => {
  if (fraction === undefined) return ""
  const f = Math.max(0, Math.min(1, fraction))
  const filled = Math.round(f * BAR_WIDTH)
  return `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${(f * 100).toFixed(0).padStart(3)}% `
}

/**
 * A terminal display: finished stages scroll up as plain lines, and below them one live line per
 * running stage (or per task of a stage, e.g. per fold) with a progress bar, redrawn in place.
 */
export const prettyReporter = (stream: NodeJS.WriteStream): Reporter => {
  const live = new Map<string, string>()
  let drawn = 0
  const clear = () => {
    for (let i = 0; i < drawn; i++) stream.write("\x1b[1A\x1b[2K")
    drawn = 0
  }
  const draw = () => {
    const width = stream.columns ?? 100
    for (const [tag, text] of live) {
      stream.write(`${`▸ ${tag} ${text}`.slice(0, width - 1)}\n`)
    }
    drawn = live.size
  }
  const above = (text: string) => {
    clear()
    stream.write(`${text}\n`)
    draw()
  }
  return {
    started: (id) =>
      Effect.sync(() => {
        clear()
        live.set(id, "running")
        draw()
      }),
    finished: (o) =>
      Effect.sync(() => {
        for (const tag of [...live.keys()]) if (tag === o.id || tag.startsWith(`${o.id}:`)) live.delete(tag)
        above(formatOutcome(o))
      }),
    log: (id, message) => Effect.sync(() => above(`[${id}] ${message}`)),
    progress: (id, event) =>
      Effect.sync(() => {
        clear()
        live.set(event.task ? `${id}:${event.task}` : id, `${bar(event.fraction)}${event.text}`)
        draw()
      }),
    waiting: (id, detail) =>
      Effect.sync(() => {
        clear()
        live.set(id, `waiting: ${detail}`)
        draw()
      }),
    line: (text) => Effect.sync(() => above(text)),
  }
}

/** Collects everything in memory (tests). */
export const collectingReporter = () => {
  const lines: Array<string> = []
  const outcomes: Array<StageOutcome> = []
  const reporter: Reporter = {
    started: () => Effect.void,
    finished: (o) => Effect.sync(() => void outcomes.push(o)),
    log: (id, message) => Effect.sync(() => void lines.push(`[${id}] ${message}`)),
    progress: () => Effect.void,
    waiting: (id, detail) => Effect.sync(() => void lines.push(`[${id}] waiting: ${detail}`)),
    line: (text) => Effect.sync(() => void lines.push(text)),
  }
  return { reporter, lines, outcomes }
}

const tag = Context.GenericTag<Reporter>("cairn/Reporter")

export const Reporter = Object.assign(tag, {
  layerPretty: (stream: NodeJS.WriteStream) => Layer.succeed(tag, prettyReporter(stream)),
  layerPlain: (write: (text: string) => void) => Layer.succeed(tag, plainReporter(write)),
  /** Pretty on a terminal, plain otherwise. */
  layerAuto: (stream: NodeJS.WriteStream) => Layer.succeed(tag, stream.isTTY ? prettyReporter(stream) : plainReporter((t) => stream.write(`${t}\n`))),
})
