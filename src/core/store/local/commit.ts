/**
 * Committing a stage's output to the local store, in crash-safe order: every file becomes (or is
 * deduplicated against) an object, the tree's manifest is written, the tree is built in `tmp/` and
 * renamed into place, and the run record is written last: the commit point. A process killed at
 * any step leaves only unreferenced entries (swept by gc), never a record naming missing files.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Either, type Scope } from "effect"
import { type Json, canonicalJson, sha256 } from "../../canonical.js"
import { failpoint } from "../../failpoint.js"
import { hashFileContent, listFilesSync } from "../../file-hash.js"
import { isAlreadyExists } from "../../fs-util.js"
import { isNotFound, tempName, writeFileAtomicSync } from "../../stamp.js"
import { type MemoItemRecord, type RunRecord, STORE_FORMAT, type Staging, StoreError } from "../artifact-store.js"
import type { LocalLayout } from "../layout.js"
import type { Leases } from "./leases.js"
import { checkTree, ioError, quarantineObject, readManifest, removeTree, storeTry, type TreeEntry, writeManifest } from "./trees.js"

/** Files whose hash is known without reading them, by (dev, inode). */
export type KnownFiles = Map<string, string>
export const inodeKey = (st: fs.Stats) => `${st.dev}:${st.ino}`

export interface CommitContext {
  readonly layout: LocalLayout
  readonly leases: Leases
  /** Change times this process gave input files by linking them (see `tamperedFiles`). */
  readonly expectedCtime: Map<number, number>
}

/** Hashes of a folder's files, from `known` where possible. */
const hashFiles = (dir: string, known: KnownFiles) =>
  Effect.gen(function* () {
    const rels = yield* storeTry(dir, "list", () => listFilesSync(dir))
    const files: Array<{ rel: string; abs: string; hash: string; size: number }> = []
    for (const rel of rels) {
      const abs = path.join(dir, rel)
      const st = yield* storeTry(abs, "stat", () => fs.statSync(abs))
      const hash = known.get(inodeKey(st)) ?? (yield* Effect.mapError(hashFileContent(abs), (e) => ioError(abs, "hash")(e)))
      files.push({ rel, abs, hash, size: st.size })
    }
    return files
  })

/**
 * Makes `staged` (a file of hash `hash`) available as the object `hash`. An existing object of
 * another inode is reused only after its content is checked: a corrupt one is quarantined and
 * replaced, so a rerun never builds a new tree on a bad blob.
 */
const storeObject = (ctx: CommitContext, staged: string, hash: string, size: number) =>
  Effect.gen(function* () {
    const obj = ctx.layout.object(hash)
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = yield* storeTry(obj, "stat object", () => {
        try {
          return fs.statSync(obj)
        } catch (error) {
          if (isNotFound(error)) return undefined
          throw error
        }
      })
      if (existing) {
        const st = yield* storeTry(staged, "stat", () => fs.statSync(staged))
        if (existing.ino === st.ino && existing.dev === st.dev) return
        if (existing.size === size && (yield* Effect.mapError(hashFileContent(obj), (e) => ioError(obj, "hash")(e))) === hash) return
        yield* quarantineObject(ctx.layout, hash)
        continue
      }
      const made = yield* storeTry(obj, "store object", () => {
        fs.mkdirSync(path.dirname(obj), { recursive: true })
        try {
          // A hard link: the staged file stays intact for the tree; the object appears atomically.
          fs.linkSync(staged, obj)
        } catch (error) {
          if (isAlreadyExists(error)) return false
          throw error
        }
        fs.chmodSync(obj, 0o444)
        return true
      })
      if (made) return
    }
    return yield* new StoreError({ reason: "io", path: obj, operation: "store object", detail: "it keeps changing under us" })
  })

/** Stores the files of `dir` as a tree; returns its hash, file count and size. */
export const commitTree = (ctx: CommitContext, dir: string, known: KnownFiles) =>
  Effect.gen(function* () {
    const files = yield* hashFiles(dir, known)
    const tree = sha256(JSON.stringify(files.map((f) => [f.rel, f.hash, f.size])))
    yield* ctx.leases.register([["t", tree], ...files.map((f) => ["o", f.hash] as const)])
    for (const f of files) yield* storeObject(ctx, f.abs, f.hash, f.size)
    failpoint("commit-objects")
    const entries: Array<TreeEntry> = []
    for (const f of files) {
      const st = yield* storeTry(ctx.layout.object(f.hash), "stat object", () => fs.statSync(ctx.layout.object(f.hash)))
      entries.push([f.rel, f.hash, f.size, st.mtimeMs])
    }
    const target = ctx.layout.tree(tree)
    if (fs.existsSync(target)) {
      // Someone made this tree before: keep it if it is whole, else rebuild it.
      const check = yield* checkTree(ctx.layout, tree)
      if (check.ok) return { tree, files: files.length, bytes: files.reduce((a, f) => a + f.size, 0) }
      yield* removeTree(ctx.layout, tree)
    }
    yield* writeManifest(ctx.layout, tree, entries)
    failpoint("commit-manifest")
    const tmp = tempName(path.join(ctx.layout.tmpDir, `${process.pid}-tree-${tree.slice(0, 16)}`))
    yield* storeTry(tmp, "build tree", () => {
      fs.mkdirSync(tmp, { recursive: true })
      for (const [rel, hash] of entries) {
        const dest = path.join(tmp, rel)
        fs.mkdirSync(path.dirname(dest), { recursive: true })
        fs.linkSync(ctx.layout.object(hash), dest)
      }
      failpoint("commit-tree")
      fs.mkdirSync(path.dirname(target), { recursive: true })
      try {
        fs.renameSync(tmp, target)
      } catch (error) {
        // Another process made the same tree first: theirs is identical.
        const code = (error as NodeJS.ErrnoException).code
        if (code !== "ENOTEMPTY" && code !== "EEXIST") throw error
        fs.rmSync(tmp, { recursive: true, force: true })
      }
    })
    return { tree, files: files.length, bytes: files.reduce((a, f) => a + f.size, 0) }
  })

/** The content hash of a result (what consumers' keys see): its tree, value and metrics. */
export const outputHashOf = (tree: string, value: Json, metrics: Readonly<Record<string, Json>>) =>
  Either.map(canonicalJson({ tree, value, metrics }), sha256)

/** Writes a run record: the commit point of a result. */
const writeRecord = (ctx: CommitContext, record: RunRecord) =>
  Effect.zipRight(
    ctx.leases.register([["r", record.key]]),
    storeTry(ctx.layout.record(record.key), "write record", () => writeFileAtomicSync(ctx.layout.record(record.key), JSON.stringify(record))),
  )

/** Writes a memo item's record: the commit point of an item. */
const writeItem = (ctx: CommitContext, item: MemoItemRecord) =>
  Effect.zipRight(
    ctx.leases.register([["i", item.key]]),
    storeTry(ctx.layout.item(item.key), "write item", () => writeFileAtomicSync(ctx.layout.item(item.key), JSON.stringify(item))),
  )

/**
 * Installs a result made elsewhere (fetched from a remote cache): the files of `dir` (their hashes in
 * `known` by inode, else read) are committed as a tree the way a stage's output is, and the record is
 * written last, only when they make the tree it names. False, and no record, when they do not.
 */
export const importRecord = (ctx: CommitContext, record: RunRecord, dir: string, known: KnownFiles) =>
  Effect.gen(function* () {
    const committed = yield* commitTree(ctx, dir, known)
    if (committed.tree !== record.output.tree) return false
    yield* writeRecord(ctx, record)
    return true
  })

/** Installs a memo item made elsewhere, as `importRecord` does a result. */
export const importItem = (ctx: CommitContext, item: MemoItemRecord, dir: string, known: KnownFiles) =>
  Effect.gen(function* () {
    const committed = yield* commitTree(ctx, dir, known)
    if (committed.tree !== item.tree) return false
    yield* writeItem(ctx, item)
    return true
  })

/** A staging area under `tmp/` (removed when the scope closes; swept if its process dies). */
export const openStaging = (ctx: CommitContext, label: string): Effect.Effect<Staging, StoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const base = yield* Effect.acquireRelease(
      storeTry(ctx.layout.tmpDir, "create staging folder", () => {
        fs.mkdirSync(ctx.layout.tmpDir, { recursive: true })
        const dir = fs.mkdtempSync(path.join(ctx.layout.tmpDir, `${process.pid}-${label.replace(/[^a-zA-Z0-9-]/g, "_")}-`))
        fs.mkdirSync(path.join(dir, "out"))
        fs.mkdirSync(path.join(dir, "items"))
        return dir
      }),
      (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })),
    )
    const outDir = path.join(base, "out")
    const itemsRoot = path.join(base, "items") + path.sep
    const treesRoot = ctx.layout.treesDir + path.sep
    const known: KnownFiles = new Map()
    const manifests = new Map<string, Map<string, string>>()
    const pending: Array<{ key: string; dir: string; value: Json }> = []

    const place = (file: string, rel: string) =>
      storeTry(file, "link", () => {
        const abs = path.resolve(file)
        const dest = path.join(outDir, rel)
        fs.mkdirSync(path.dirname(dest), { recursive: true })
        if (abs.startsWith(itemsRoot)) {
          // A pending item's file: its hash was recorded when the item was added.
          fs.linkSync(abs, dest)
          return
        }
        if (!abs.startsWith(treesRoot)) throw new Error("place takes a file of a stored input or memo item")
        const [tree, ...restParts] = abs.slice(treesRoot.length).split(path.sep)
        if (!manifests.has(tree!)) manifests.set(tree!, new Map((readManifest(ctx.layout, tree!) ?? []).map(([r, h]) => [r, h])))
        const hash = manifests.get(tree!)!.get(restParts.join("/"))
        fs.linkSync(abs, dest)
        const st = fs.statSync(dest)
        // Linking changed the file's ctime: the input's seal must not take that for a write.
        ctx.expectedCtime.set(st.ino, st.ctimeMs)
        if (hash) known.set(inodeKey(st), hash)
      })

    const itemDir = (key: string) =>
      storeTry(path.join(itemsRoot, key), "create item folder", () => {
        const dir = path.join(itemsRoot, key)
        fs.mkdirSync(dir, { recursive: true })
        return dir
      })

    const addItem = (key: string, value: Json) =>
      Effect.gen(function* () {
        const dir = path.join(itemsRoot, key)
        // Hash the item's files now (they were just written): linking them costs no reread later.
        for (const f of yield* hashFiles(dir, known)) known.set(inodeKey(fs.statSync(f.abs)), f.hash)
        pending.push({ key, dir, value })
      })

    const commit: Staging["commit"] = (record, value, metrics) =>
      Effect.gen(function* () {
        for (const item of pending) {
          const t = yield* commitTree(ctx, item.dir, known)
          yield* writeItem(ctx, { format: STORE_FORMAT, key: item.key, tree: t.tree, value: item.value })
        }
        const committed = yield* commitTree(ctx, outDir, known)
        const outHash = outputHashOf(committed.tree, value, metrics)
        if (Either.isLeft(outHash)) {
          return yield* new StoreError({ reason: "io", path: outDir, operation: "hash output", detail: outHash.left.message, cause: outHash.left })
        }
        const full: RunRecord = {
          ...record,
          format: STORE_FORMAT,
          output: { hash: outHash.right, tree: committed.tree, value, metrics, files: committed.files, bytes: committed.bytes },
        }
        failpoint("commit-record")
        yield* writeRecord(ctx, full)
        return full
      })

    return { outDir, place, itemDir, addItem, commit } satisfies Staging
  })
