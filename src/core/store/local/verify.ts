/**
 * `cairn verify`: the local store's fsck. Every object is rehashed; every tree is checked against
 * its manifest (each file present, of its size, the object's own inode or of the right content, no
 * extra file); unreadable records and items, and those whose tree is gone, are removed so they
 * rerun. Corrupt objects are quarantined only after the trees holding them are gone, so a process
 * killed in between leaves no tree serving a bad blob.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { failpoint } from "../../failpoint.js"
import { hashFileContent } from "../../file-hash.js"
import { BlobHash, TreeHash } from "../../hashes.js"
import { readJsonFileSync } from "../../fs-util.js"
import { isNotFound } from "../../fs-primitives.js"
import type { MemoItemRecord, RunRecord, StoreError, VerifyReport } from "../records.js"
import type { LocalLayout } from "../layout.js"
import { inodeKey } from "./commit.js"
import { withMarkedStore } from "./gc.js"
import type { Leases } from "./leases.js"
import { ioError, listRelative, quarantineObject, readdirOrEmpty, readManifest, removeTree, storeTry } from "./trees.js"

const statOrUndefined = (file: string) => {
  try {
    return fs.statSync(file)
  } catch (error) {
    if (isNotFound(error)) return undefined
    throw error
  }
}

export const verify = (layout: LocalLayout, leases: Leases): Effect.Effect<VerifyReport, StoreError> =>
  withMarkedStore(
    layout,
    "verify",
    Effect.gen(function* () {
      // 1. Objects: rehash (slow part; runs go on meanwhile).
      const corrupt = new Map<string, BlobHash>() // inode key -> hash
      const objectInode = new Map<string, string>() // hash -> inode key
      let objects = 0
      let bytes = 0
      for (const s of readdirOrEmpty(layout.objectsDir)) {
        for (const name of readdirOrEmpty(path.join(layout.objectsDir, s))) {
          const file = path.join(layout.objectsDir, s, name)
          const st = yield* storeTry(file, "stat", () => statOrUndefined(file))
          if (!st) continue
          objects++
          bytes += st.size
          objectInode.set(name, inodeKey(st))
          const actual = yield* Effect.mapError(hashFileContent(file), (e) => ioError(file, "hash")(e))
          if (actual !== name) corrupt.set(inodeKey(st), BlobHash(name))
          failpoint("verify-hash")
        }
      }
      // 2. Trees against their manifests.
      const damaged: Array<TreeHash> = []
      for (const tree of readdirOrEmpty(layout.treesDir)) {
        const entries = readManifest(layout, tree)
        const dir = layout.tree(tree)
        let bad = !entries
        const listed = new Set<string>()
        for (const [rel, hash, size] of entries ?? []) {
          if (bad) break
          listed.add(rel)
          const file = path.join(dir, rel)
          const st = yield* storeTry(file, "stat", () => statOrUndefined(file))
          if (!st || st.size !== size || corrupt.has(inodeKey(st))) {
            bad = true
            break
          }
          if (objectInode.get(hash) !== inodeKey(st)) {
            // Not the object's inode (its object was replaced or removed): check the file itself.
            const actual = yield* Effect.mapError(hashFileContent(file), (e) => ioError(file, "hash")(e))
            if (actual !== hash) bad = true
          }
        }
        if (!bad) bad = (yield* storeTry(dir, "list", () => listRelative(dir))).some((rel) => !listed.has(rel))
        if (bad) damaged.push(TreeHash(tree))
      }
      // 3. Remove what is broken, with the gc marker up (no run registers meanwhile unseen).
      return yield* leases.withMarker(() =>
        Effect.gen(function* () {
          for (const tree of damaged) {
            yield* removeTree(layout, tree)
            yield* storeTry(layout.manifest(tree), "remove manifest", () => fs.rmSync(layout.manifest(tree), { force: true }))
            failpoint("verify-tree")
          }
          for (const hash of corrupt.values()) {
            yield* quarantineObject(layout, hash)
            failpoint("verify-object")
          }
          const treeExists = (tree: string) => fs.existsSync(layout.tree(tree)) && readManifest(layout, tree) !== undefined
          let removedRecords = 0
          for (const s of readdirOrEmpty(layout.runsDir)) {
            for (const f of readdirOrEmpty(path.join(layout.runsDir, s)).filter((n) => !n.includes(".tmp-"))) {
              const file = path.join(layout.runsDir, s, f)
              const record = readJsonFileSync<RunRecord>(file)
              if (!record || !treeExists(record.output.tree)) {
                yield* storeTry(file, "remove record", () => fs.rmSync(file, { force: true }))
                removedRecords++
              }
            }
          }
          let removedItems = 0
          for (const s of readdirOrEmpty(layout.itemsDir)) {
            for (const f of readdirOrEmpty(path.join(layout.itemsDir, s)).filter((n) => !n.includes(".tmp-"))) {
              const file = path.join(layout.itemsDir, s, f)
              const item = readJsonFileSync<MemoItemRecord>(file)
              if (!item || !treeExists(item.tree)) {
                yield* storeTry(file, "remove item", () => fs.rmSync(file, { force: true }))
                removedItems++
              }
            }
          }
          return { objects, bytes, corruptObjects: [...corrupt.values()].sort(), damagedTrees: damaged.sort(), removedRecords, removedItems }
        }),
      )
    }),
  )
