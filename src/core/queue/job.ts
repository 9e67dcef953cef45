/**
 * A stage job: what a coordinator puts on the queue for one stage instance, and what the worker that
 * ran it answers. The job id is the cache key, so coordinators enqueueing the same stage share one
 * job (a forced rerun gets an id of its own). The worker recomputes the key from its own checkout
 * and compares it with `key` (and, when they differ, `record`/`codeFiles` field by field).
 */
import { Either, ParseResult, Schema } from "effect"
import type { StageKey } from "../hashes.js"
import type { KeyRecord } from "../key.js"
import { FIELD_MAX, printable } from "../printable.js"

/** Bumped when the job's shape changes: a worker refuses jobs of another format. */
export const JOB_FORMAT = 1

export interface StageJobData {
  readonly format: number
  /** The pipeline file, relative to the project root, with '/'. */
  readonly pipeline: string
  /** The coordinator's `--param` overrides, as given. */
  readonly params: ReadonlyArray<string>
  /** The stage instance id (`train/fold-0`). */
  readonly instance: string
  readonly key: StageKey
  readonly record: KeyRecord
  readonly codeFiles: Readonly<Record<string, string>>
  /** Each upstream instance id → the cache key of its result (a source's: its content hash). */
  readonly upstream: Readonly<Record<string, StageKey>>
  /** Compute it even when the remote cache holds its result (`--force`, or an uncached stage). */
  readonly force: boolean
  /** Who enqueued it (`host:pid`), for messages. */
  readonly coordinator: string
  /** HMAC-SHA256 of the rest, with the queue's secret (signature.ts); absent when none is set. */
  readonly signature?: string
}

/** What a worker answers for a job it completed. */
export interface StageJobResult {
  /** The worker (`host:pid`). */
  readonly worker: string
  /** True when the remote cache already held the result (nothing was computed). */
  readonly cached: boolean
  /** Seconds the stage ran on the worker (0 when cached). */
  readonly seconds: number
  /** The last step (epoch) of saved progress the worker continued from (a stage that works in steps). */
  readonly resumedFrom?: number
}

/** What a worker sends while it works on a job (BullMQ job progress): who took it, its log and progress. */
export type StageJobProgress =
  | { readonly kind: "taken"; readonly worker: string }
  | { readonly kind: "log"; readonly message: string }
  | { readonly kind: "progress"; readonly text: string; readonly fraction?: number; readonly task?: string }

const Strings = Schema.Record({ key: Schema.String, value: Schema.String })
/** A cache key: what the stores take as an entry name (anything else would reach them as a defect). */
const CacheKey = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/, { message: () => "not a cache key (64 hex digits)" }), Schema.brand("StageKey"))

/** A key record as instance-key.ts makes it: every field diffKeys reads is checked here. */
const KeyRecordSchema = Schema.Struct(
  {
    format: Schema.Number,
    stage: Schema.String,
    version: Schema.Number,
    code: Schema.String,
    params: Schema.Unknown,
    inputs: Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Array(Schema.String)) }),
    env: Schema.Record({ key: Schema.String, value: Schema.NullOr(Schema.String) }),
    reads: Strings,
    engine: Schema.Struct({ node: Schema.String, packages: Strings }, Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  },
  Schema.Record({ key: Schema.String, value: Schema.Unknown }),
)

const JobSchema = Schema.Struct({
  format: Schema.Literal(JOB_FORMAT),
  pipeline: Schema.String,
  params: Schema.Array(Schema.String),
  instance: Schema.String,
  key: CacheKey,
  record: KeyRecordSchema,
  codeFiles: Strings,
  upstream: Schema.Record({ key: Schema.String, value: CacheKey }),
  force: Schema.Boolean,
  coordinator: Schema.String,
  signature: Schema.optional(Schema.String),
})

/** Issues named by field (`upstream.clean: not a cache key`), at most a few, each bounded (the job's values are not echoed whole). */
const ISSUES_SHOWN = 3

/** The job's data checked, or why it is not a stage job of this format: the fields at fault. */
export const decodeJobData = (data: unknown): Either.Either<StageJobData, string> =>
  Either.mapBoth(Schema.decodeUnknownEither(JobSchema, { errors: "all" })(data), {
    onLeft: (e) => {
      const issues = ParseResult.ArrayFormatter.formatErrorSync(e)
      const shown = issues.slice(0, ISSUES_SHOWN).map((i) => printable(`${i.path.length ? i.path.map(String).join(".") : "the job"}: ${i.message}`, FIELD_MAX))
      return `${shown.join("; ")}${issues.length > ISSUES_SHOWN ? `; and ${issues.length - ISSUES_SHOWN} more` : ""}`
    },
    onRight: (d) => d as unknown as StageJobData,
  })

const ResultSchema = Schema.Struct({ worker: Schema.String, cached: Schema.Boolean, seconds: Schema.Number, resumedFrom: Schema.optional(Schema.Int) })

export const decodeJobResult = (value: unknown): StageJobResult | undefined => Either.getOrUndefined(Schema.decodeUnknownEither(ResultSchema)(value))

const ProgressSchema = Schema.Union(
  Schema.Struct({ kind: Schema.Literal("taken"), worker: Schema.String }),
  Schema.Struct({ kind: Schema.Literal("log"), message: Schema.String }),
  Schema.Struct({ kind: Schema.Literal("progress"), text: Schema.String, fraction: Schema.optional(Schema.Number), task: Schema.optional(Schema.String) }),
)

export const decodeJobProgress = (value: unknown): StageJobProgress | undefined => Either.getOrUndefined(Schema.decodeUnknownEither(ProgressSchema)(value))

/** The job id of a stage run: its key, or for a forced run a fresh id of its own (BullMQ ids have no ':'). */
export const jobIdOf = (key: string, force: boolean): string => (force ? `${key}-force-${Date.now().toString(36)}-${process.pid}` : key)
