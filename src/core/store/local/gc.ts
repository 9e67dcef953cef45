/**
 * `cairn gc` and `cairn clean` on the local store. Both run under the store's gc lock (two at once
 * take turns) and with the gc marker up, and never remove what a live run's lease names (see
 * leases.ts). Removal order keeps the store consistent if the process is killed at any point: run
 * records first (a result disappears whole), then memo items, then trees (renamed away, then
 * deleted), then objects no remaining tree links.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { failpoint } from "../../failpoint.js"
import { readJsonFileSync } from "../../fs-util.js"
import { withFileLock } from "../../lock.js"
import { isNotFound } from "../../fs-primitives.js"
import { type GcReport, type MemoItemRecord, type RunRecord, type StateEntry, StoreError } from "../records.js"
import type { LocalLayout } from "../layout.js"
import { inodeKey } from "./commit.js"
import type { LeaseRefs, Leases } from "./leases.js"
import { requireStoreMarker } from "./store-marker.js"
import { listRelative, readdirOrEmpty, removeTree, storeTry } from "./trees.js"
import { progressKeys } from "./progress.js"

/** A file written by `writeFileAtomicSync` that is not yet renamed into place. */
const isTemp = (name: string) => name.includes(".tmp-")

/** Every `<shard>/<name>.json` under a folder of shards. */
const shardedFiles = (dir: string): Array<{ file: string; name: string }> =>
  readdirOrEmpty(dir).flatMap((s) =>
    readdirOrEmpty(path.join(dir, s))
      .filter((f) => !isTemp(f))
      .map((f) => ({ file: path.join(dir, s, f), name: f.replace(/\.json$/, "") })),
  )

/** Total bytes of objects (trees are hard links to them). */
export const storeSize = (layout: LocalLayout): number => {
  let total = 0
  for (const s of readdirOrEmpty(layout.objectsDir)) {
    for (const o of readdirOrEmpty(path.join(layout.objectsDir, s))) {
      try {
        total += fs.statSync(path.join(layout.objectsDir, s, o)).size
      } catch (error) {
        if (!isNotFound(error)) throw error
      }
    }
  }
  return total
}

/** Runs `f` holding the store's gc lock (shared by gc, clean and verify). */
export const withGcLock = <A, E>(layout: LocalLayout, f: Effect.Effect<A, E>) =>
  Effect.scoped(
    Effect.zipRight(
      Effect.mapError(withFileLock(layout.lock("gc")), (e) => new StoreError({ reason: "io", path: e.file, operation: "lock", detail: e.detail, cause: e })),
      f,
    ),
  )

/**
 * Runs `f` under the gc lock, on a folder that carries the store marker only: a folder that is not
 * a store (a mistyped --cache-dir) is left as it is.
 */
export const withMarkedStore = <A, E>(layout: LocalLayout, operation: string, f: Effect.Effect<A, E>) =>
  Effect.zipRight(requireStoreMarker(layout, operation), withGcLock(layout, f))

interface Sweep {
  items: number
  trees: number
  objects: number
}

/** Removes items, trees and objects that neither `records` nor a live lease reference. */
const sweepUnreferenced = (layout: LocalLayout, records: Map<string, { record: RunRecord }>, live: LeaseRefs): Sweep => {
  const liveItems = new Set(live.items)
  const liveTrees = new Set(live.trees)
  for (const { record } of records.values()) {
    liveTrees.add(record.output.tree)
    for (const i of record.items) liveItems.add(i)
  }
  let items = 0
  for (const { file, name } of shardedFiles(layout.itemsDir)) {
    if (!liveItems.has(name)) {
      fs.rmSync(file, { force: true })
      items++
    } else {
      const item = readJsonFileSync<MemoItemRecord>(file)
      if (item) liveTrees.add(item.tree)
    }
  }
  failpoint("gc-items")
  let trees = 0
  const liveObjects = new Set<string>()
  for (const t of readdirOrEmpty(layout.treesDir)) {
    if (!liveTrees.has(t)) {
      Effect.runSync(removeTree(layout, t))
      fs.rmSync(layout.manifest(t), { force: true })
      trees++
      failpoint("gc-tree")
      continue
    }
    const dir = layout.tree(t)
    for (const rel of listRelative(dir)) {
      try {
        liveObjects.add(inodeKey(fs.statSync(path.join(dir, rel))))
      } catch (error) {
        if (!isNotFound(error)) throw error
      }
    }
  }
  let objects = 0
  for (const s of readdirOrEmpty(layout.objectsDir)) {
    for (const o of readdirOrEmpty(path.join(layout.objectsDir, s))) {
      const file = path.join(layout.objectsDir, s, o)
      if (live.objects.has(o)) continue
      let st: fs.Stats
      try {
        st = fs.statSync(file)
      } catch (error) {
        if (isNotFound(error)) continue
        throw error
      }
      if (!liveObjects.has(inodeKey(st))) {
        fs.rmSync(file, { force: true })
        objects++
        failpoint("gc-object")
      }
    }
  }
  return { items, trees, objects }
}

/**
 * Keeps the runs referenced by each stage instance's current state, by the last `keepLast` runs of
 * every pipeline (all when undefined) and by live leases; then, while the store is larger than
 * `maxBytes`, drops the least recently used of the rest and then of the kept ones (never those of a
 * live run); finally removes items, trees and objects nothing references.
 */
export const gc = (layout: LocalLayout, leases: Leases, options: { readonly keepLast?: number; readonly maxBytes?: number }) =>
  withMarkedStore(
    layout,
    "gc",
    leases.withMarker((live) =>
      storeTry(layout.dir, "gc", (): GcReport => {
        const bytesBefore = storeSize(layout)
        const records = new Map<string, { record: RunRecord; file: string; used: number }>()
        for (const { file } of shardedFiles(layout.runsDir)) {
          const record = readJsonFileSync<RunRecord>(file)
          if (record) records.set(record.key, { record, file, used: fs.statSync(file).mtimeMs })
          else fs.rmSync(file, { force: true })
        }
        // Progress records serve a key until its result is committed: kept while it has none.
        let removedProgress = 0
        for (const key of progressKeys(layout)) {
          if (!records.has(key)) continue
          fs.rmSync(layout.progress(key), { recursive: true, force: true })
          removedProgress++
        }
        const roots = new Set<string>()
        for (const p of readdirOrEmpty(layout.stateDir)) {
          for (const f of readdirOrEmpty(path.join(layout.stateDir, p))) {
            const entry = readJsonFileSync<StateEntry>(path.join(layout.stateDir, p, f))
            if (entry) roots.add(entry.key)
          }
        }
        const keepLast = options.keepLast
        for (const p of readdirOrEmpty(layout.historyRoot)) {
          const files = readdirOrEmpty(path.join(layout.historyRoot, p))
            .filter((f) => !isTemp(f))
            .sort()
          const kept = keepLast === undefined ? files : files.slice(Math.max(0, files.length - keepLast))
          for (const f of files) if (!kept.includes(f)) fs.rmSync(path.join(layout.historyRoot, p, f), { force: true })
          for (const f of kept) {
            const h = readJsonFileSync<{ stages?: Array<{ key?: string }> }>(path.join(layout.historyRoot, p, f))
            for (const s of h?.stages ?? []) if (s.key) roots.add(s.key)
          }
        }
        let removedRuns = 0
        let keptForRuns = 0
        const drop = (key: string) => {
          const r = records.get(key)
          if (!r) return
          if (live.records.has(key)) {
            keptForRuns++
            return
          }
          fs.rmSync(r.file, { force: true })
          records.delete(key)
          removedRuns++
          failpoint("gc-record")
        }
        if (keepLast !== undefined) for (const key of [...records.keys()]) if (!roots.has(key)) drop(key)
        let swept = sweepUnreferenced(layout, records, live)
        if (options.maxBytes !== undefined) {
          const order = [...records.values()].sort((a, b) => {
            const ra = roots.has(a.record.key) ? 1 : 0
            const rb = roots.has(b.record.key) ? 1 : 0
            return ra - rb || a.used - b.used
          })
          for (const r of order) {
            if (storeSize(layout) <= options.maxBytes) break
            drop(r.record.key)
            const more = sweepUnreferenced(layout, records, live)
            swept = { items: swept.items + more.items, trees: swept.trees + more.trees, objects: swept.objects + more.objects }
          }
        }
        return {
          removedRuns,
          removedItems: swept.items,
          removedTrees: swept.trees,
          removedObjects: swept.objects,
          removedProgress,
          keptForRuns,
          bytesBefore,
          bytesAfter: storeSize(layout),
        }
      }),
    ),
  )

/** Folders of the store that `clean` keeps: the coordination files of other processes. */
const KEPT_BY_CLEAN = (layout: LocalLayout) => new Set([layout.leasesDir, layout.locksDir])

/**
 * Removes every result, memo, history and stamp; refused while a run holds a lease. Only the
 * store's own entries go: a file someone put beside them stays.
 */
export const clean = (layout: LocalLayout, leases: Leases) =>
  withMarkedStore(
    layout,
    "clean",
    leases.withMarker((_live, liveLeases) =>
      Effect.gen(function* () {
        if (liveLeases > 0) {
          return yield* new StoreError({
            reason: "in-use",
            path: layout.dir,
            operation: "clean",
            detail: `${liveLeases} running pipeline${liveLeases > 1 ? "s use" : " uses"} the cache; wait for ${liveLeases > 1 ? "them" : "it"} to finish (or stop ${liveLeases > 1 ? "them" : "it"}) and clean again`,
          })
        }
        const kept = KEPT_BY_CLEAN(layout)
        yield* storeTry(layout.dir, "clean", () => {
          for (const p of layout.ownEntries) if (!kept.has(p)) fs.rmSync(p, { recursive: true, force: true })
        })
      }),
    ),
  )
