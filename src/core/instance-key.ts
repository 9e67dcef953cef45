/**
 * The cache key of a stage instance: one typed record (stage name and version, the hash of its code
 * closure, its params, its inputs' content hashes, the declared env and reads, the engine) hashed as
 * canonical JSON.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { Effect, Either } from "effect"
import { sha256 } from "./canonical.js"
import type { StageExports } from "./closure/code-closure.js"
import { envKeyRecord } from "./credentials.js"
import { ClosureError, describeError, StageFailed } from "./errors.js"
import { listFilesSync } from "./file-hash.js"
import type { StageKey } from "./hashes.js"
import { computeKey, KEY_FORMAT, type KeyRecord } from "./key.js"
import { type Instance, paramNames, type Plan } from "./pipeline/index.js"
import { ENGINE_NOTICE } from "./stage.js"
import type { ReadStamp, Resolved } from "./instance-output.js"
import { statStamp } from "./stamp.js"
import { isNotFound } from "./fs-primitives.js"
import type { Cache } from "./store/cache.js"

export const NODE_MAJOR = process.versions.node.split(".")[0] ?? "unknown"

/** Placeholder hash of an input whose upstream is not resolved (only `status` computes such keys). */
export const UNKNOWN_INPUT = "unknown"

/** A read that names nothing (absent file). */
export const ABSENT = "absent"

/** The key of one instance given its resolved inputs. */
export interface InstanceKey {
  readonly key: StageKey
  readonly record: KeyRecord
  readonly codeFiles: Readonly<Record<string, string>>
  readonly engine: Readonly<Record<string, string>>
  /** The declared reads' files with their stamps when hashed: checked unchanged after the run. */
  readonly readStamps: ReadonlyArray<ReadStamp>
  /** Everything the key depends on that the fast path must stamp (closure, reads, engine inputs). */
  readonly watch: ReadonlyArray<string>
}

export const inputHashes = (inst: Instance, resolved: ReadonlyMap<string, Resolved>) => {
  const inputs: Record<string, string | ReadonlyArray<string>> = {}
  const parents: Record<string, string | ReadonlyArray<string>> = {}
  const hashOf = (id: string) => resolved.get(id)?.hash ?? UNKNOWN_INPUT
  const keyOf = (id: string) => resolved.get(id)?.key ?? UNKNOWN_INPUT
  for (const [name, ref] of Object.entries(inst.inputs)) {
    if (ref.kind === "one") {
      inputs[name] = hashOf(ref.id)
      parents[name] = keyOf(ref.id)
    } else {
      inputs[name] = ref.ids.map(hashOf)
      parents[name] = ref.ids.map(keyOf)
    }
  }
  return { inputs, parents }
}

/**
 * For every module that defines stages of the plan, the names it exports them under: what tells an
 * import of stage definitions (not followed by closures) from an import of helper code.
 */
export const stageExportsOf = (plan: Plan): Effect.Effect<StageExports, ClosureError> =>
  Effect.gen(function* () {
    const modules = new Set(plan.instances.flatMap((i) => i.stage.definedIn).filter((m) => m.startsWith("/")))
    const out = new Map<string, ReadonlySet<string>>()
    for (const file of modules) {
      const ns = yield* Effect.tryPromise({
        // Already loaded by the pipeline: this returns the same module, running nothing.
        try: () => import(pathToFileURL(file).href) as Promise<Record<string, unknown>>,
        catch: (error) => new ClosureError({ file, detail: `cannot load: ${describeError(error)}`, cause: error }),
      })
      const names = Object.entries(ns)
        .filter(([, v]) => typeof v === "object" && v !== null && (v as { _tag?: unknown })._tag === "Stage")
        .map(([k]) => k)
      if (names.length > 0) out.set(file, new Set(names))
    }
    return out
  })

/** The paths a stage's `reads` name for these params, each with the label it has in the key. */
export const readPaths = (inst: Instance, projectRoot: string): Array<{ label: string; file: string }> => {
  const stage = inst.stage
  const params = (inst.params ?? {}) as Record<string, unknown>
  const declared = paramNames(stage)
  const out: Array<{ label: string; file: string }> = []
  stage.reads.forEach((spec, i) => {
    if (typeof spec === "string") {
      if (declared.includes(spec)) {
        const value = params[spec]
        if (typeof value === "string" && value !== "") out.push({ label: `param:${spec}`, file: path.resolve(projectRoot, value) })
      } else out.push({ label: `path:${spec}`, file: path.resolve(projectRoot, spec) })
      return
    }
    const got = spec(params as never)
    const list = got === undefined ? [] : typeof got === "string" ? [got] : got
    list.filter((p) => p !== "").forEach((p, j) => out.push({ label: `fn${i}:${j}`, file: path.resolve(projectRoot, p) }))
  })
  return out
}

/** Content hash of a read path: a file's bytes, a folder's manifest, or "absent"; with the stamps. */
const hashRead = (store: Cache, file: string, stamps: Array<ReadStamp>): Effect.Effect<string, StageFailed | import("./errors.js").FileError> =>
  Effect.gen(function* () {
    let st: fs.Stats
    try {
      st = fs.statSync(file)
    } catch (error) {
      if (!isNotFound(error)) throw error
      stamps.push({ file, stamp: undefined })
      return ABSENT
    }
    if (!st.isDirectory()) {
      const h = yield* store.fileHashes.hashFile(file)
      stamps.push({ file, stamp: h.stamp })
      return h.hash
    }
    const entries: Array<[string, string, number]> = []
    for (const rel of listFilesSync(file)) {
      const h = yield* store.fileHashes.hashFile(path.join(file, rel))
      stamps.push({ file: path.join(file, rel), stamp: h.stamp })
      entries.push([rel, h.hash, h.stamp.size])
    }
    stamps.push({ file, stamp: statStamp(file) })
    return sha256(JSON.stringify(entries))
  })

/** Computes the cache key of a (non-source) instance whose inputs are resolved. */
export const instanceKey = (
  store: Cache,
  inst: Instance,
  resolved: ReadonlyMap<string, Resolved>,
  stageExports: StageExports,
): Effect.Effect<InstanceKey, StageFailed> =>
  Effect.gen(function* () {
    const stage = inst.stage
    const fail = (what: string) => (e: unknown) => new StageFailed({ id: inst.id, detail: `${what}: ${describeError(e)}`, cause: e })
    const { [ENGINE_NOTICE]: _notice, ...engine } = stage.engine ? yield* Effect.mapError(stage.engine(inst.params), fail("engine")) : {}
    const closure = yield* Effect.mapError(store.closures.closureOf(stage.definedIn, stageExports), fail("code"))
    const { inputs } = inputHashes(inst, resolved)
    // A credential (a token, a URL with a password) enters the key hashed, never in clear.
    const env = envKeyRecord(stage.env, process.env)
    const readStamps: Array<ReadStamp> = []
    const reads: Record<string, string> = {}
    const paths = yield* Effect.try({ try: () => readPaths(inst, store.projectRoot), catch: fail("reads") })
    for (const { label, file } of paths) {
      if (!label.startsWith("path:") && !fs.existsSync(file)) {
        // A path the params name must exist (a literal path may be optional).
        const what = label.startsWith("param:") ? `param ${label.slice(6)}=${file}` : `reads: ${file}`
        return yield* new StageFailed({ id: inst.id, detail: `${what}: no such file or folder` })
      }
      reads[label] = yield* Effect.mapError(
        Effect.catchAllDefect(hashRead(store, file, readStamps), (d) => Effect.fail(new StageFailed({ id: inst.id, detail: describeError(d), cause: d }))),
        fail(`read ${file}`),
      )
    }
    const record: KeyRecord = {
      format: KEY_FORMAT,
      stage: stage.name,
      version: stage.version,
      code: closure.hash,
      params: inst.encodedParams,
      inputs,
      env,
      reads,
      engine: { node: NODE_MAJOR, packages: closure.packages, ...engine },
    }
    const key = computeKey(record)
    if (Either.isLeft(key)) return yield* new StageFailed({ id: inst.id, detail: key.left.message, cause: key.left })
    return {
      key: key.right,
      record,
      codeFiles: closure.files,
      engine,
      readStamps,
      watch: [...closure.watch, ...paths.map((p) => p.file), ...(stage.engineInputs ?? [])],
    }
  })
