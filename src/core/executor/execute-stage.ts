/**
 * Runs one stage instance: its inputs materialized (and sealed), its `run` in a staging area, then
 * the checks that make its result trustworthy (no input read in place changed, no stored input
 * written into, a hashable and portable value), then the commit.
 */
import * as os from "node:os"
import * as path from "node:path"
import { Cause, Effect, Either, Option } from "effect"
import { canonicalJson, type Json, sha256 } from "../canonical.js"
import { describeError, FileError, InputWritten, StageFailed, UnportableValue } from "../errors.js"
import { StageKey } from "../hashes.js"
import { inputHashes, type InstanceKey } from "../instance-key.js"
import { KEY_FORMAT } from "../key.js"
import type { Instance, Plan } from "../pipeline/index.js"
import { Reporter } from "../reporter.js"
import type { ReadStamp, Resolved } from "../instance-output.js"
import { changedRead } from "../source.js"
import type { Artifact, MemoSpec, ProgressEvent, StageContext } from "../stage.js"
import type { Cache } from "../store/cache.js"
import type { RunRecord, TreeSeal } from "../store/records.js"
import { type StepsOptions, stepsContext } from "./stage-steps.js"

/** A committed record, and the step it resumed from when the stage works in steps. */
export interface StageRun {
  readonly record: RunRecord
  readonly resumedFrom?: number
}

/** The first string in a value that is an absolute path under one of `roots`, with where it is. */
export const absolutePathIn = (value: unknown, roots: ReadonlyArray<string>, at = ""): { path: string; value: string } | undefined => {
  if (typeof value === "string") {
    return path.isAbsolute(value) && roots.some((r) => value === r || value.startsWith(r + path.sep)) ? { path: at, value } : undefined
  }
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const found = absolutePathIn(v, roots, `${at}[${i}]`)
      if (found) return found
    }
    return undefined
  }
  if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      const found = absolutePathIn(v, roots, at ? `${at}.${k}` : k)
      if (found) return found
    }
  }
  return undefined
}

/** Runs `inst` (whose key is `key`) and commits its output; the record is the commit point. */
export const executeStage = (
  store: Cache,
  plan: Plan,
  inst: Instance,
  key: InstanceKey,
  resolved: ReadonlyMap<string, Resolved>,
  options: StepsOptions = { resume: true },
): Effect.Effect<StageRun, StageFailed, Reporter> =>
  Effect.scoped(
    Effect.gen(function* () {
      const reporter = yield* Reporter
      const fail = (e: unknown) => new StageFailed({ id: inst.id, detail: describeError(e), cause: e })
      const staging = yield* Effect.mapError(store.staging(inst.id), fail)
      const seals: Array<{ input: string; seal: TreeSeal }> = []
      const readStamps: Array<ReadStamp> = [...key.readStamps]
      const inPlaceDirs: Array<string> = []
      const items: Array<StageKey> = []
      let metrics: Record<string, Json> = {}

      const artifactOf = (id: string) =>
        Effect.gen(function* () {
          const r = resolved.get(id)!
          if (r.source) {
            readStamps.push(...r.source.stamps)
            inPlaceDirs.push(r.source.dir)
            return { id, dir: r.source.dir, value: r.value, hash: r.hash, key: r.key } satisfies Artifact<unknown>
          }
          const m = yield* Effect.mapError(store.materialize(r.record!.output.tree), fail)
          seals.push({ input: id, seal: m.seal })
          return { id, dir: m.dir, value: r.value, hash: r.hash, key: r.key } satisfies Artifact<unknown>
        })
      const inputs: Record<string, unknown> = {}
      for (const [name, ref] of Object.entries(inst.inputs)) {
        inputs[name] = ref.kind === "one" ? yield* artifactOf(ref.id) : yield* Effect.forEach(ref.ids, artifactOf)
      }

      const memo: StageContext<unknown, {}>["memo"] = <A extends Json, E, R>(spec: MemoSpec, compute: (dir: string) => Effect.Effect<A, E, R>) =>
        Effect.gen(function* () {
          const itemKeyE = Either.map(
            canonicalJson({
              format: KEY_FORMAT,
              stage: inst.stage.name,
              code: key.record.code,
              engine: key.record.engine,
              env: key.record.env,
              item: spec.name,
              key: spec.key,
            }),
            (json) => StageKey(sha256(json)),
          )
          if (Either.isLeft(itemKeyE))
            return yield* new FileError({ file: spec.name, operation: "memo key", detail: itemKeyE.left.message, cause: itemKeyE.left })
          const itemKey = itemKeyE.right
          items.push(itemKey)
          const toFileError = (e: { path: string; operation: string; detail: string }) =>
            new FileError({ file: e.path, operation: e.operation, detail: e.detail, cause: e })
          const hit = yield* Effect.mapError(store.lookupItem(itemKey), toFileError)
          if (hit) {
            seals.push({ input: `memo item ${spec.name}`, seal: hit.files.seal })
            return { dir: hit.files.dir, value: hit.record.value as A, cached: true }
          }
          const dir = yield* Effect.mapError(staging.itemDir(itemKey), toFileError)
          const value = yield* compute(dir)
          const canon = canonicalJson(value)
          if (Either.isLeft(canon)) return yield* new FileError({ file: spec.name, operation: "memo value", detail: canon.left.message, cause: canon.left })
          yield* Effect.mapError(staging.addItem(itemKey, value), toFileError)
          return { dir, value, cached: false }
        })

      const log = (message: string) => reporter.log(inst.id, message)
      const steps = stepsContext(store, inst, key.key, options, log)
      const ctx: StageContext<unknown, any> = {
        id: inst.id,
        params: inst.params,
        inputs: inputs as never,
        outDir: staging.outDir,
        engine: key.engine,
        log,
        progress: (event: ProgressEvent) => reporter.progress(inst.id, event),
        metrics: (values) =>
          Effect.sync(() => {
            metrics = { ...metrics, ...values }
          }),
        memo,
        linkFile: (file, rel) =>
          Effect.mapError(staging.place(file, rel), (e) => new FileError({ file: e.path, operation: e.operation, detail: e.detail, cause: e })),
        hashFile: (file) =>
          Effect.map(store.fileHashes.hashFile(file), (h) => {
            readStamps.push({ file: path.resolve(file), stamp: h.stamp })
            return h.hash
          }),
        steps: steps.ctx,
      }
      const startedAt = new Date()
      let effect = inst.stage.run(ctx) as Effect.Effect<unknown, unknown, any>
      if (inst.stage.layer) effect = Effect.provide(effect, inst.stage.layer)
      const value = yield* Effect.scoped(effect).pipe(
        Effect.catchAllCause((cause) => {
          if (Cause.isInterruptedOnly(cause)) return Effect.interrupt
          const failure = Cause.failureOption(cause)
          const detail = Option.isSome(failure) ? describeError(failure.value) : (Cause.pretty(cause).split("\n")[0] ?? "defect")
          return Effect.fail(new StageFailed({ id: inst.id, detail, cause: Option.isSome(failure) ? failure.value : cause }))
        }),
      ) as Effect.Effect<unknown, StageFailed, never>

      // What the stage read must be what its key was computed from.
      const changed = changedRead(readStamps)
      if (changed) return yield* fail(changed)
      for (const { input, seal } of seals) {
        const tampered = yield* Effect.mapError(store.checkSeal(seal), fail)
        if (tampered.length > 0) return yield* fail(new InputWritten({ input, files: tampered }))
      }
      const out = (value ?? null) as Json
      const canon = canonicalJson({ value: out, metrics })
      if (Either.isLeft(canon)) return yield* fail(`its output value cannot be cached: ${canon.left.message}`)
      const machinePath = absolutePathIn({ value: out, metrics }, [store.projectRoot, store.location, os.tmpdir(), ...inPlaceDirs])
      if (machinePath) return yield* fail(new UnportableValue({ path: machinePath.path.replace(/^value\.?/, ""), value: machinePath.value }))
      const record = yield* Effect.mapError(
        staging.commit(
          {
            key: key.key,
            id: inst.id,
            pipeline: plan.pipeline.name,
            fields: key.record,
            codeFiles: key.codeFiles,
            parents: inputHashes(inst, resolved).parents,
            items,
            startedAt: startedAt.toISOString(),
            seconds: (Date.now() - startedAt.getTime()) / 1000,
          },
          out,
          metrics,
        ),
        fail,
      )
      // Committed: the progress that led here is no longer needed (gc would drop it too).
      if (steps.ctx) yield* Effect.catchAll(store.progress.drop(key.key), (e) => reporter.log(inst.id, `progress records not removed: ${e.message}`))
      const resumedFrom = steps.resumedFrom()
      return resumedFrom === undefined ? { record } : { record, resumedFrom }
    }),
  )
