import * as fs from "node:fs"
import * as path from "node:path"
import { Cause, Deferred, Effect, Either, Exit, Option } from "effect"
import { canonicalJson, type Json, sha256 } from "./canonical.js"
import { describeError, FileError, StageFailed } from "./errors.js"
import { hashFileContent, listFiles, type ManifestEntry } from "./file-hash.js"
import { atomicWriteFileSync, fsTry } from "./fs-util.js"
import { computeKey, KEY_FORMAT, type KeyRecord } from "./key.js"
import type { Instance, Plan } from "./pipeline.js"
import { RunReporter, type StageOutcome } from "./reporter.js"
import type { Artifact, MemoSpec, ProgressEvent, StageContext } from "./stage.js"
import { CacheStore, inodeKey, type KnownFiles, type RunRecord, STORE_FORMAT, type Store, type StoredOutput } from "./store.js"

export const NODE_MAJOR = process.versions.node.split(".")[0] ?? "unknown"

/** A resolved artifact plus what produced it. */
export interface Resolved {
  readonly artifact: Artifact<unknown>
  readonly output: StoredOutput | undefined
  readonly record: RunRecord | undefined
}

/** The key of one instance given its resolved inputs. */
export interface InstanceKey {
  readonly key: string
  readonly record: KeyRecord
  readonly codeFiles: Readonly<Record<string, string>>
  readonly engine: Readonly<Record<string, string>>
}

/** Placeholder hash of an input whose upstream is not resolved (only `status` computes such keys). */
export const UNKNOWN_INPUT = "unknown"

const inputHashes = (inst: Instance, resolved: ReadonlyMap<string, Resolved>) => {
  const inputs: Record<string, string | ReadonlyArray<string>> = {}
  const parents: Record<string, string | ReadonlyArray<string>> = {}
  const hashOf = (id: string) => resolved.get(id)?.artifact.hash ?? UNKNOWN_INPUT
  const keyOf = (id: string) => resolved.get(id)?.artifact.key ?? UNKNOWN_INPUT
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

/** Computes the cache key of a (non-source) instance whose inputs are resolved. */
export const instanceKey = (
  store: Store,
  inst: Instance,
  resolved: ReadonlyMap<string, Resolved>,
  stageModules: ReadonlyArray<string>,
): Effect.Effect<InstanceKey, StageFailed> =>
  Effect.gen(function* () {
    const stage = inst.stage
    const engine = stage.engine
      ? yield* Effect.mapError(stage.engine(inst.params), (e) => new StageFailed({ id: inst.id, detail: `engine: ${describeError(e)}` }))
      : {}
    const closure = yield* Effect.mapError(store.closures.closureOf(stage.module, stageModules), (e) => new StageFailed({ id: inst.id, detail: e.message }))
    const { inputs } = inputHashes(inst, resolved)
    const record: KeyRecord = {
      format: KEY_FORMAT,
      stage: stage.name,
      version: stage.version,
      code: closure.hash,
      params: inst.encodedParams,
      inputs,
      engine: { node: NODE_MAJOR, packages: closure.packages, ...engine },
    }
    const key = computeKey(record)
    if (Either.isLeft(key)) return yield* new StageFailed({ id: inst.id, detail: key.left.message })
    return { key: key.right, record, codeFiles: closure.files, engine }
  })

/** Hashes a source directory (stat-only when unchanged) into an artifact and its file manifest. */
export const resolveSource = (
  store: Store,
  inst: Instance,
): Effect.Effect<{ artifact: Artifact<unknown>; manifest: Record<string, string> }, StageFailed> =>
  Effect.gen(function* () {
    const param = inst.stage.source!.param
    // Relative paths are relative to the project (the folder of the pipeline's package.json).
    const dir = path.resolve(store.projectRoot, String((inst.params as Record<string, unknown>)[param]))
    const fail = (detail: string) => new StageFailed({ id: inst.id, detail })
    const st = yield* Effect.mapError(fsTry(dir, "stat", () => fs.statSync(dir)), (e) => fail(e.message))
    const entries: Array<ManifestEntry> = []
    const hashUnder = (rel: string) =>
      Effect.gen(function* () {
        const abs = path.join(dir, rel)
        const sub = yield* Effect.mapError(fsTry(abs, "stat", () => fs.statSync(abs)), (e) => fail(e.message))
        const files = sub.isDirectory() ? (yield* Effect.mapError(listFiles(abs), (e) => fail(e.message))).map((f) => (rel ? `${rel}/${f}` : f)) : [rel]
        for (const f of files) {
          const h = yield* Effect.mapError(store.fileHashes.hashFile(path.join(dir, f)), (e) => fail(e.message))
          entries.push({ path: f, hash: h.hash, size: h.stamp.size })
        }
      })
    if (!st.isDirectory()) {
      const h = yield* Effect.mapError(store.fileHashes.hashFile(dir), (e) => fail(e.message))
      entries.push({ path: path.basename(dir), hash: h.hash, size: h.stamp.size })
    } else {
      for (const rel of inst.stage.source!.include ?? [""]) yield* hashUnder(rel)
    }
    const hash = sha256(JSON.stringify(entries.map((e) => [e.path, e.hash, e.size])))
    return {
      artifact: { id: inst.id, dir, value: { path: dir }, hash, key: hash },
      manifest: Object.fromEntries(entries.map((e) => [e.path, e.hash])),
    }
  })

/** Runs one instance's `run` in a staging dir and commits its output. */
const execute = (
  store: Store,
  plan: Plan,
  inst: Instance,
  key: InstanceKey,
  resolved: ReadonlyMap<string, Resolved>,
): Effect.Effect<RunRecord, StageFailed, RunReporter> =>
  Effect.scoped(
    Effect.gen(function* () {
      const reporter = yield* RunReporter
      const fail = (detail: string) => new StageFailed({ id: inst.id, detail })
      const staging = yield* Effect.mapError(store.staging(inst.id), (e) => fail(e.message))
      const outDir = path.join(staging, "out")
      fs.mkdirSync(outDir)
      const known: KnownFiles = new Map()
      const items: Array<string> = []
      let metrics: Record<string, Json> = {}
      const manifests = new Map<string, Map<string, string>>()
      const treesRoot = path.join(store.dir, "trees") + path.sep

      // Memo items computed by this run: kept in staging and committed with the stage's output, so a
      // failed or interrupted stage leaves nothing in the cache.
      const itemsRoot = path.join(staging, "items") + path.sep
      const pendingItems: Array<{ key: string; dir: string; value: Json }> = []

      const linkFile = (storeFile: string, rel: string) =>
        fsTry(storeFile, "link", () => {
          const abs = path.resolve(storeFile)
          const dest = path.join(outDir, rel)
          fs.mkdirSync(path.dirname(dest), { recursive: true })
          if (abs.startsWith(itemsRoot)) {
            // A pending item's file: its hash was recorded when the item was computed.
            fs.linkSync(abs, dest)
            return
          }
          if (!abs.startsWith(treesRoot)) throw new Error("linkFile takes a file inside the store (an input or a memo item)")
          const [tree, ...restParts] = abs.slice(treesRoot.length).split(path.sep)
          const rest = restParts.join("/")
          if (!manifests.has(tree!)) manifests.set(tree!, store.treeManifest(tree!))
          const hash = manifests.get(tree!)!.get(rest)
          fs.linkSync(abs, dest)
          if (hash) known.set(inodeKey(fs.statSync(dest)), hash)
        })

      const memo: StageContext<unknown, {}>["memo"] = <A extends Json, E, R>(spec: MemoSpec, compute: (dir: string) => Effect.Effect<A, E, R>) =>
        Effect.gen(function* () {
          const itemKeyE = Either.map(
            canonicalJson({ format: KEY_FORMAT, stage: inst.stage.name, code: key.record.code, engine: key.record.engine, item: spec.name, key: spec.key }),
            sha256,
          )
          if (Either.isLeft(itemKeyE)) {
            return yield* new FileError({ file: spec.name, operation: "memo key", detail: itemKeyE.left.message })
          }
          const itemKey = itemKeyE.right
          items.push(itemKey)
          const hit = yield* store.readItem(itemKey)
          if (hit) return { dir: store.treeDir(hit.tree), value: hit.value as A, cached: true }
          const dir = path.join(itemsRoot, itemKey)
          yield* fsTry(dir, "create item dir", () => fs.mkdirSync(dir, { recursive: true }))
          const value = yield* compute(dir)
          const canon = canonicalJson(value)
          if (Either.isLeft(canon)) {
            return yield* new FileError({ file: spec.name, operation: "memo value", detail: canon.left.message })
          }
          // Hash the item's files now (they were just written): linking them costs no reread later.
          for (const rel of yield* listFiles(dir)) {
            const file = path.join(dir, rel)
            known.set(inodeKey(fs.statSync(file)), yield* hashFileContent(file))
          }
          pendingItems.push({ key: itemKey, dir, value })
          return { dir, value, cached: false }
        })

      const inputs: Record<string, unknown> = {}
      for (const [name, ref] of Object.entries(inst.inputs)) {
        inputs[name] = ref.kind === "one" ? resolved.get(ref.id)!.artifact : ref.ids.map((id) => resolved.get(id)!.artifact)
      }
      const ctx: StageContext<unknown, any> = {
        id: inst.id,
        params: inst.params,
        inputs: inputs as never,
        outDir,
        engine: key.engine,
        log: (message) => reporter.log(inst.id, message),
        progress: (event: ProgressEvent) => reporter.progress(inst.id, event),
        metrics: (values) =>
          Effect.sync(() => {
            metrics = { ...metrics, ...values }
          }),
        memo,
        linkFile,
        hashFile: (file) => Effect.map(store.fileHashes.hashFile(file), (h) => h.hash),
      }
      const startedAt = new Date()
      let effect = inst.stage.run(ctx) as Effect.Effect<unknown, unknown, any>
      if (inst.stage.layer) effect = Effect.provide(effect, inst.stage.layer)
      const value = yield* Effect.scoped(effect).pipe(
        Effect.catchAllCause((cause) => {
          if (Cause.isInterruptedOnly(cause)) return Effect.interrupt
          const failure = Cause.failureOption(cause)
          const detail = Option.isSome(failure) ? describeError(failure.value) : Cause.pretty(cause).split("\n")[0] ?? "defect"
          return Effect.fail(fail(detail))
        }),
      ) as Effect.Effect<unknown, StageFailed, never>
      for (const item of pendingItems) {
        const tree = yield* Effect.mapError(store.commitTree(item.dir, known), (e) => fail(e.message))
        yield* Effect.mapError(store.writeItem({ format: STORE_FORMAT, key: item.key, tree: tree.tree, value: item.value }), (e) => fail(e.message))
      }
      const committed = yield* Effect.mapError(store.commitTree(outDir, known), (e) => fail(e.message))
      const outHash = store.outputHash(committed.tree, value ?? null, metrics)
      if (Either.isLeft(outHash)) return yield* fail(`its output value cannot be cached: ${outHash.left.message}`)
      const record: RunRecord = {
        format: STORE_FORMAT,
        key: key.key,
        id: inst.id,
        pipeline: plan.pipeline.name,
        fields: key.record,
        codeFiles: key.codeFiles,
        parents: inputHashes(inst, resolved).parents,
        output: { hash: outHash.right, tree: committed.tree, value: (value ?? null) as Json, metrics, files: committed.files, bytes: committed.bytes },
        items,
        startedAt: startedAt.toISOString(),
        seconds: (Date.now() - startedAt.getTime()) / 1000,
      }
      yield* Effect.mapError(store.writeRecord(record), (e) => fail(e.message))
      return record
    }),
  )

export interface RunOptions {
  readonly jobs: number
  /** Stage names or instance ids to rerun even when cached. */
  readonly force: ReadonlyArray<string>
}

export interface RunReport {
  readonly pipeline: string
  readonly stages: ReadonlyArray<StageOutcome>
  readonly metrics: Readonly<Record<string, Json>>
  readonly params: Readonly<Record<string, unknown>>
  readonly ok: boolean
  readonly startedAt: string
  readonly seconds: number
  /** Each instance's artifact, for the CLI (export) and reports. */
  readonly artifacts: ReadonlyMap<string, Resolved>
  /** Absolute paths whose change can change the result: code closures and source data (for `watch`). */
  readonly watchFiles: ReadonlyArray<string>
}

/**
 * Executes a plan: instances run as soon as their inputs are ready, at most `jobs` at a time. A
 * failure skips its dependents; every other instance still runs, and every failure is reported.
 */
export const runPlan = (plan: Plan, options: RunOptions): Effect.Effect<RunReport, never, CacheStore | RunReporter> =>
  Effect.gen(function* () {
    const store = yield* CacheStore
    const reporter = yield* RunReporter
    const startedAt = new Date()
    const semaphore = yield* Effect.makeSemaphore(Math.max(1, options.jobs))
    const done = new Map<string, Deferred.Deferred<StageOutcome & { resolved?: Resolved }>>()
    for (const inst of plan.instances) done.set(inst.id, yield* Deferred.make<StageOutcome & { resolved?: Resolved }>())
    const resolved = new Map<string, Resolved>()
    const stageModules = planModules(plan)
    const forced = (inst: Instance) => options.force.some((f) => f === inst.id || f === inst.stage.name)

    const runOne = (inst: Instance): Effect.Effect<StageOutcome & { resolved?: Resolved }, never, RunReporter> =>
      Effect.gen(function* () {
        // A stage's time is its own work: from when its inputs are ready (hashing, key, lookup) and,
        // when it runs, from when it gets a job slot and its lock.
        let t0 = Date.now()
        const seconds = () => (Date.now() - t0) / 1000
        // Wait for inputs.
        const upIds = Object.values(inst.inputs).flatMap((r) => (r.kind === "one" ? [r.id] : r.ids))
        for (const up of upIds) {
          const o = yield* Deferred.await(done.get(up)!)
          if (o.status === "failed" || o.status === "skipped") {
            return { id: inst.id, status: "skipped" as const, key: undefined, seconds: 0, error: `upstream ${up} ${o.status}` }
          }
        }
        t0 = Date.now()
        if (inst.stage.source) {
          const src = yield* resolveSource(store, inst)
          const before = yield* store.readState(plan.pipeline.name, inst.id)
          yield* store.writeState(plan.pipeline.name, inst.id, {
            key: src.artifact.key,
            fields: undefined,
            codeFiles: {},
            manifest: src.manifest,
            at: new Date().toISOString(),
          })
          const r: Resolved = { artifact: src.artifact, output: undefined, record: undefined }
          resolved.set(inst.id, r)
          const status = before?.key === src.artifact.key ? ("cached" as const) : ("ran" as const)
          return { id: inst.id, status, key: src.artifact.key, seconds: seconds(), resolved: r }
        }
        const k = yield* instanceKey(store, inst, resolved, stageModules)
        const toResolved = (record: RunRecord): Resolved => ({
          artifact: { id: inst.id, dir: store.treeDir(record.output.tree), value: record.output.value, hash: record.output.hash, key: record.key },
          output: record.output,
          record,
        })
        const finish = (record: RunRecord, status: "ran" | "cached") =>
          Effect.gen(function* () {
            yield* store.writeState(plan.pipeline.name, inst.id, { key: k.key, fields: k.record, codeFiles: k.codeFiles, at: new Date().toISOString() })
            const r = toResolved(record)
            resolved.set(inst.id, r)
            return { id: inst.id, status, key: k.key, seconds: seconds(), resolved: r }
          })
        const skipCache = forced(inst) || !inst.stage.cache
        if (!skipCache) {
          const hit = yield* store.lookup(k.key)
          if (hit) {
            yield* store.touch(k.key)
            return yield* finish(hit, "cached")
          }
        }
        return yield* semaphore.withPermits(1)(
          Effect.scoped(
            Effect.gen(function* () {
              yield* store.lock(k.key, () => reporter.waiting(inst.id, "another process is computing the same key"))
              if (!skipCache) {
                const hit = yield* store.lookup(k.key)
                if (hit) return yield* finish(hit, "cached")
              }
              yield* reporter.started(inst.id)
              t0 = Date.now()
              const record = yield* execute(store, plan, inst, k, resolved)
              return yield* finish(record, "ran")
            }),
          ),
        )
      }).pipe(
        Effect.catchAll((error) =>
          Effect.succeed({
            id: inst.id,
            status: "failed" as const,
            key: undefined,
            seconds: 0,
            error: error instanceof StageFailed ? error.detail : describeError(error),
          }),
        ),
        Effect.tap((o) => (o.status === "skipped" ? reporter.finished(o) : reporter.finished(o))),
      )

    yield* Effect.forEach(
      plan.instances,
      (inst) =>
        Effect.onExit(runOne(inst), (exit) =>
          Deferred.done(
            done.get(inst.id)!,
            Exit.isSuccess(exit)
              ? Exit.succeed(exit.value)
              : Exit.succeed({ id: inst.id, status: "failed" as const, key: undefined, seconds: 0, error: "interrupted" }),
          ),
        ),
      { concurrency: "unbounded", discard: true },
    )
    yield* Effect.orElse(store.saveMemos(), () => Effect.void)

    const outcomes: Array<StageOutcome> = []
    for (const inst of plan.instances) {
      const o = yield* Deferred.await(done.get(inst.id)!)
      const { resolved: _r, ...outcome } = o
      outcomes.push(outcome)
    }
    const metrics = mergeMetrics(plan, resolved)
    const watch = new Set<string>()
    for (const inst of plan.instances) {
      const r = resolved.get(inst.id)
      if (inst.stage.source && r) for (const rel of inst.stage.source.include ?? [""]) watch.add(path.join(r.artifact.dir, rel))
      for (const f of Object.keys(r?.record?.fields ? r.record.codeFiles : {})) watch.add(path.resolve(store.projectRoot, f))
      if (!inst.stage.source) watch.add(inst.stage.module)
    }
    const report: RunReport = {
      pipeline: plan.pipeline.name,
      stages: outcomes,
      metrics,
      params: plan.globals,
      ok: outcomes.every((o) => o.status === "ran" || o.status === "cached"),
      startedAt: startedAt.toISOString(),
      seconds: (Date.now() - startedAt.getTime()) / 1000,
      artifacts: resolved,
      watchFiles: [...watch].sort(),
    }
    yield* Effect.orElse(writeHistory(store, report), () => Effect.void)
    return report
  })

/** The modules defining the plan's stages (each stage's closure stops at the others). */
export const planModules = (plan: Plan): ReadonlyArray<string> => [...new Set(plan.instances.map((i) => i.stage.module))].sort()

/** A metric name is used as is when only one stage reports it, else prefixed with the stage id. */
const mergeMetrics = (plan: Plan, resolved: ReadonlyMap<string, Resolved>): Record<string, Json> => {
  const counts = new Map<string, number>()
  for (const inst of plan.instances) {
    for (const k of Object.keys(resolved.get(inst.id)?.output?.metrics ?? {})) counts.set(k, (counts.get(k) ?? 0) + 1)
  }
  const out: Record<string, Json> = {}
  for (const inst of plan.instances) {
    for (const [k, v] of Object.entries(resolved.get(inst.id)?.output?.metrics ?? {})) {
      out[counts.get(k)! > 1 ? `${inst.id}.${k}` : k] = v
    }
  }
  return out
}

/** The serialisable part of a run report (what `--json` writes and `cairn runs` reads). */
export const reportJson = (report: RunReport) => ({
  pipeline: report.pipeline,
  stages: report.stages.map((s) => ({ id: s.id, status: s.status, key: s.key ?? null, seconds: Number(s.seconds.toFixed(3)), ...(s.error ? { error: s.error } : {}) })),
  metrics: report.metrics,
  params: report.params,
  ok: report.ok,
  startedAt: report.startedAt,
  seconds: Number(report.seconds.toFixed(3)),
  watch: { files: report.watchFiles },
})

const writeHistory = (store: Store, report: RunReport) => {
  const stamp = report.startedAt.replace(/[:.]/g, "-")
  return atomicWriteFileSync(path.join(store.historyDir(report.pipeline), `${stamp}-${process.pid}.json`), JSON.stringify(reportJson(report), null, 1))
}
