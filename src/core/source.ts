/**
 * Sources: folders read in place (a Kaggle download), named by a param. A source is hashed file by
 * file (stat-only when a file's stamp is remembered); the stamps taken then are checked again after
 * every stage that reads the source, so a file edited meanwhile fails that stage instead of storing
 * a result under the key of the old content.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Either } from "effect"
import { sha256 } from "./canonical.js"
import { describeError, InputChanged, SourceMissing, StageFailed } from "./errors.js"
import { StageKey } from "./hashes.js"
import { listFilesSync } from "./file-hash.js"
import { readPaths } from "./instance-key.js"
import type { Instance, Plan } from "./pipeline/index.js"
import type { ReadStamp, Resolved } from "./instance-output.js"
import { sameStamp, statStamp } from "./stamp.js"
import { isNotFound } from "./fs-primitives.js"
import type { Cache } from "./store/cache.js"

/** The folder a source instance names, as given and resolved against the project root. */
export const sourcePath = (inst: Instance, projectRoot: string) => {
  const param = inst.stage.source!.param
  const given = String((inst.params as Record<string, unknown>)[param])
  return { param, given, resolved: path.resolve(projectRoot, given) }
}

/**
 * Fails with `SourceMissing` (a configuration error, before anything runs) for a source whose
 * folder does not exist, or a file a stage declares in `reads` (by param or computed) that does not.
 */
export const checkSources = (plan: Plan, projectRoot: string): Effect.Effect<void, SourceMissing> =>
  Effect.forEach(
    plan.instances,
    (inst) =>
      Effect.suspend(() => {
        if (inst.stage.source) {
          const p = sourcePath(inst, projectRoot)
          return fs.existsSync(p.resolved)
            ? Effect.void
            : Effect.fail(new SourceMissing({ stage: inst.id, param: p.param, value: p.given, resolved: p.resolved, role: "source" }))
        }
        const params = (inst.params ?? {}) as Record<string, unknown>
        const reads = Either.try(() => readPaths(inst, projectRoot))
        // A `reads` function that throws fails its stage when the key is computed, with the cause.
        if (Either.isLeft(reads)) return Effect.void
        for (const { label, file } of reads.right) {
          if (label.startsWith("path:") || fs.existsSync(file)) continue
          const param = label.startsWith("param:") ? label.slice("param:".length) : undefined
          const value = param === undefined ? path.relative(projectRoot, file) : String(params[param])
          return Effect.fail(new SourceMissing({ stage: inst.id, param, value, resolved: file, role: "read" }))
        }
        return Effect.void
      }),
    { discard: true },
  )

/** Hashes a source folder into its resolved output and its file manifest (path → hash). */
export const resolveSource = (store: Cache, inst: Instance): Effect.Effect<{ resolved: Resolved; manifest: Record<string, string> }, StageFailed> =>
  Effect.gen(function* () {
    const { given, resolved: dir } = sourcePath(inst, store.projectRoot)
    const fail = (e: unknown) => new StageFailed({ id: inst.id, detail: describeError(e), cause: e })
    const entries: Array<[string, string, number]> = []
    const stamps: Array<ReadStamp> = []
    const hashOne = (rel: string, abs: string) =>
      Effect.gen(function* () {
        const h = yield* Effect.mapError(store.fileHashes.hashFile(abs), fail)
        entries.push([rel, h.hash, h.stamp.size])
        stamps.push({ file: abs, stamp: h.stamp })
      })
    const listed = (abs: string) =>
      Effect.try({
        try: () => {
          try {
            const st = fs.statSync(abs)
            return st.isDirectory() ? listFilesSync(abs) : [""]
          } catch (error) {
            if (isNotFound(error)) return undefined
            throw error
          }
        },
        catch: fail,
      })
    const top = yield* listed(dir)
    if (top === undefined)
      return yield* fail(new SourceMissing({ stage: inst.id, param: inst.stage.source!.param, value: given, resolved: dir, role: "source" }))
    if (top.length === 1 && top[0] === "") {
      yield* hashOne(path.basename(dir), dir)
    } else {
      for (const rel of inst.stage.source!.include ?? [""]) {
        const abs = path.join(dir, rel)
        const files = yield* listed(abs)
        if (files === undefined) {
          // An included path that is absent is part of the content (and must stay absent).
          stamps.push({ file: abs, stamp: undefined })
          continue
        }
        for (const f of files) yield* hashOne(f === "" ? rel : rel ? `${rel}/${f}` : f, f === "" ? abs : path.join(abs, f))
        if (files.length !== 1 || files[0] !== "") stamps.push({ file: abs, stamp: statStamp(abs) })
      }
    }
    const hash = sha256(JSON.stringify(entries))
    return {
      resolved: { id: inst.id, hash, key: StageKey(hash), value: { path: given }, record: undefined, source: { dir, stamps } },
      manifest: Object.fromEntries(entries.map(([p, h]) => [p, h])),
    }
  })

/**
 * The first file read in place whose stamp changed since it was hashed. A folder's own stamp counts
 * for its listing: a file added or removed changes it.
 */
export const changedRead = (stamps: ReadonlyArray<ReadStamp>): InputChanged | undefined => {
  for (const { file, stamp } of stamps) {
    const now = statStamp(file)
    if (now === undefined && stamp === undefined) continue
    if (now === undefined) return new InputChanged({ file, change: "removed" })
    if (stamp === undefined) return new InputChanged({ file, change: "added" })
    if (sameStamp(now, stamp)) continue
    // A folder's times change with its listing; a file's with its content.
    if (fs.statSync(file).isDirectory() && now.ino === stamp.ino && now.mtimeMs === stamp.mtimeMs) continue
    return new InputChanged({ file, change: "modified" })
  }
  return undefined
}
