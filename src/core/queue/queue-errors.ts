/** The errors of the stage queue (coordinator and workers), each naming the queue or stage at fault. */
import { Data } from "effect"

/** A queue URL (or its settings) that cairn cannot use. */
export class QueueUrlError extends Data.TaggedError("QueueUrlError")<{
  readonly url: string
  readonly detail: string
}> {
  override get message(): string {
    return `queue ${this.url}: ${this.detail}`
  }
}

/** Redis did not answer: at start, or for longer than the run waits for it. */
export class QueueUnavailable extends Data.TaggedError("QueueUnavailable")<{
  readonly url: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `queue ${this.url}: ${this.detail}`
  }
}

/**
 * A job a worker refused rather than compute under a wrong key: its key there is not the
 * coordinator's (`differences`: one line per differing field, `code: stages/x.ts (modified)`), or
 * its checkout cannot make the stage at all (`detail`).
 */
export class JobRefused extends Data.TaggedError("JobRefused")<{
  readonly worker: string
  readonly stage: string
  readonly pipeline: string
  readonly differences: ReadonlyArray<string>
  readonly detail?: string
}> {
  override get message(): string {
    const why =
      this.detail ??
      `its key there differs from the coordinator's: ${this.differences.join("; ") || "no field named"}; run the worker at the coordinator's commit`
    return `worker ${this.worker} refused stage ${this.stage} of ${this.pipeline}: ${why}`
  }
}

/** A job whose data this worker cannot read (another cairn version, or not a cairn job). */
export class JobMalformed extends Data.TaggedError("JobMalformed")<{
  readonly worker: string
  readonly job: string
  readonly detail: string
}> {
  override get message(): string {
    return `worker ${this.worker}: job ${this.job} is not a stage job it can read: ${this.detail}`
  }
}

/**
 * A job refused before anything else of it was read: this worker has the queue's secret
 * (CAIRN_QUEUE_SECRET), and the job carries no signature, or one the secret does not give.
 */
export class JobNotSigned extends Data.TaggedError("JobNotSigned")<{
  readonly worker: string
  readonly job: string
  readonly problem: "unsigned" | "mis-signed"
  readonly secretEnv: string
}> {
  override get message(): string {
    const why =
      this.problem === "unsigned"
        ? `it is not signed, and this worker takes only jobs signed with ${this.secretEnv}: set the same ${this.secretEnv} where cairn run --queue runs`
        : `its signature is not valid under this worker's ${this.secretEnv}: the coordinator's secret differs, or the job was forged or changed in Redis`
    return `worker ${this.worker} refused job ${this.job}: ${why}`
  }
}
