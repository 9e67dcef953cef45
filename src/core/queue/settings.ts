/**
 * The queue's timings and retry policy, defined once: BullMQ's lock and stalled-job check (how soon
 * a job whose worker died is given to another), how long a coordinator goes on without Redis, and
 * how often a failed job is tried. Each can be set by an environment variable (read by the CLI,
 * never at import): short values make the fault tests fast.
 */

export interface QueueSettings {
  /** A job's lock lasts this long; its worker renews it at half of it (BullMQ `lockDuration`). */
  readonly lockMs: number
  /** How often workers look for jobs whose lock expired, and hand them to another (`stalledInterval`). */
  readonly stalledMs: number
  /** How many times a job may stall before it fails (`maxStalledCount`). */
  readonly maxStalled: number
  /** Tries of a job that fails (`attempts`); a refused job is never tried again. */
  readonly attempts: number
  /** First delay before a failed job is tried again, doubling each time (`backoff`). */
  readonly backoffMs: number
  /** A coordinator that cannot reach Redis for this long fails its queued stages. */
  readonly lostMs: number
  /** Connecting to Redis (and each command of the coordinator) gives up after this long. */
  readonly connectMs: number
  /** A coordinator checks each job's state at least this often (events wake it sooner). */
  readonly pollMs: number
}

export const DEFAULT_QUEUE_SETTINGS: QueueSettings = {
  lockMs: 60_000,
  stalledMs: 30_000,
  maxStalled: 2,
  attempts: 2,
  backoffMs: 2_000,
  lostMs: 30_000,
  connectMs: 5_000,
  pollMs: 1_000,
}

/** The environment variable of each setting. */
export const QUEUE_SETTINGS_ENV: Readonly<Record<keyof QueueSettings, string>> = {
  lockMs: "CAIRN_QUEUE_LOCK_MS",
  stalledMs: "CAIRN_QUEUE_STALLED_MS",
  maxStalled: "CAIRN_QUEUE_MAX_STALLED",
  attempts: "CAIRN_QUEUE_ATTEMPTS",
  backoffMs: "CAIRN_QUEUE_BACKOFF_MS",
  lostMs: "CAIRN_QUEUE_LOST_MS",
  connectMs: "CAIRN_QUEUE_CONNECT_MS",
  pollMs: "CAIRN_QUEUE_POLL_MS",
}

/** The settings with those the environment sets; a value that is not a positive integer is named in the error. */
export const queueSettingsFrom = (env: Readonly<Record<string, string | undefined>>): { settings: QueueSettings } | { error: string } => {
  const out: Record<string, number> = { ...DEFAULT_QUEUE_SETTINGS }
  for (const [field, name] of Object.entries(QUEUE_SETTINGS_ENV)) {
    const raw = env[name]
    if (raw === undefined || raw === "") continue
    const n = Number(raw)
    if (!Number.isSafeInteger(n) || n < 1) return { error: `${name}=${raw}: must be a positive integer` }
    out[field] = n
  }
  return { settings: out as unknown as QueueSettings }
}
