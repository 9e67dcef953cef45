/**
 * Committing a stage's output to the local store, in crash-safe order: every file becomes (or is
 * deduplicated against) an object, each tree is built in `tmp/`, the staging area's own links are
 * dropped, the manifests are written (with each object's stamp after the store's last link to it,
 * so that a lookup checks them by `stat` alone) and the trees renamed into place, and the run record
 * is written last: the commit point. A process killed at any step leaves only unreferenced entries
 * (swept by gc), never a record naming missing files.
 *
 * The store copies, never adopts: a staged file with a hard link from outside the staging area (a
 * stage that linked a user's file into its output) is copied into the store, and the user's file
 * keeps its mode, links and content; a symbolic link is followed only inside the staged folder
 * (see output-files.ts).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Either, type Scope } from "effect"
import { type Json, canonicalJson, sha256 } from "../../canonical.js"
import { failpoint } from "../../failpoint.js"
import { type StageKey, TreeHash } from "../../hashes.js"
import { hashFileContent } from "../../file-hash.js"
import { isAlreadyExists } from "../../fs-util.js"
import { tempName, writeFileAtomicSync } from "../../fs-primitives.js"
import { type MemoItemRecord, type RunRecord, STORE_FORMAT, type Staging, StoreError, UnsafeOutputLink } from "../records.js"
import type { LocalLayout } from "../layout.js"
import type { Leases } from "./leases.js"
import { listOutputFiles } from "./output-files.js"
import {
  checkTree,
  entryOf,
  ioError,
  quarantineObject,
  readManifest,
  removeTree,
  restampTree,
  sameEntryStamp,
  statOrUndefined,
  storeTry,
  type TreeEntry,
  writeManifest,
} from "./trees.js"

/** Files whose hash is known without reading them, by (dev, inode). */
export type KnownFiles = Map<string, string>
export const inodeKey = (st: fs.Stats) => `${st.dev}:${st.ino}`

/** Hard links the staging area made itself (an item's file placed into the output), by inode. */
type OwnLinks = Map<string, number>

export interface CommitContext {
  readonly layout: LocalLayout
  readonly leases: Leases
  /** Change times this process gave input files by linking them (see `tamperedFiles`). */
  readonly expectedCtime: Map<number, number>
}

/** A file to store: its path in the tree, the staged file to make the object from, its hash and size. */
interface StagedFile {
  readonly rel: string
  readonly src: string
  readonly hash: string
  readonly size: number
}

/** Private copies of files linked from outside the staging area, one per inode, in `dir`. */
interface Copies {
  readonly dir: string
  readonly byInode: Map<string, StagedFile>
}

const newCopies = (ctx: CommitContext): Copies => ({
  dir: tempName(path.join(ctx.layout.tmpDir, `${process.pid}-copies`)),
  byInode: new Map(),
})

/** Whether `st` is the inode of the object `hash` already (a stored input's file placed in the output). */
const isObject = (ctx: CommitContext, hash: string, st: fs.Stats) =>
  storeTry(ctx.layout.object(hash), "stat object", () => {
    const obj = statOrUndefined(ctx.layout.object(hash))
    return obj !== undefined && obj.ino === st.ino && obj.dev === st.dev
  })

/**
 * A private copy of `real` (a file with links outside the staging area), hashed as copied: the
 * object is made from the copy, so a later write to the user's file cannot reach the store, and the
 * hash is the copy's own (not that of a file someone else may be writing).
 */
const copyIn = (copies: Copies, real: string, rel: string, ino: string) =>
  Effect.gen(function* () {
    const file = path.join(copies.dir, String(copies.byInode.size))
    const st = yield* storeTry(real, "copy into the store", () => {
      fs.mkdirSync(copies.dir, { recursive: true })
      fs.copyFileSync(real, file)
      return fs.statSync(file)
    })
    const hash = yield* Effect.mapError(hashFileContent(file), (e) => ioError(file, "hash")(e))
    const copy = { rel, src: file, hash, size: st.size }
    copies.byInode.set(ino, copy)
    return copy
  })

/** The files of a staged folder, each with the file to store it from and its hash (from `known` where possible). */
const stageFiles = (ctx: CommitContext, dir: string, known: KnownFiles, own: OwnLinks, copies: Copies) =>
  Effect.gen(function* () {
    const listed = yield* storeTry(dir, "list", () => listOutputFiles(dir))
    if (listed instanceof UnsafeOutputLink) return yield* Effect.fail(listed)
    const files: Array<StagedFile> = []
    for (const { rel, real } of listed) {
      const st = yield* storeTry(real, "stat", () => fs.statSync(real))
      const ino = inodeKey(st)
      const knownHash = known.get(ino)
      if (knownHash !== undefined && (yield* isObject(ctx, knownHash, st))) {
        files.push({ rel, src: real, hash: knownHash, size: st.size })
        continue
      }
      const copied = copies.byInode.get(ino)
      if (copied) {
        files.push({ ...copied, rel })
        continue
      }
      if (st.nlink - (own.get(ino) ?? 0) > 1) {
        // Linked from outside the staging area (a user's file): storing this inode would make the
        // user's file a read-only store object that their next edit corrupts.
        files.push(yield* copyIn(copies, real, rel, ino))
        continue
      }
      const hash = knownHash ?? (yield* Effect.mapError(hashFileContent(real), (e) => ioError(real, "hash")(e)))
      files.push({ rel, src: real, hash, size: st.size })
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
      const existing = yield* storeTry(obj, "stat object", () => statOrUndefined(obj))
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
          // A hard link: the staged file (only the staging area's: see stageFiles) becomes the object atomically.
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

/** A tree whose objects are stored: built in `tmp` (not yet in place), or already in the store whole. */
interface PreparedTree {
  readonly tree: TreeHash
  readonly files: ReadonlyArray<StagedFile>
  readonly tmp: string | undefined
}

/** Stores the files of `dir` as objects and builds their tree in `tmp/` (see `finishTree`). */
const prepareTree = (ctx: CommitContext, dir: string, known: KnownFiles, own: OwnLinks, copies: Copies) =>
  Effect.gen(function* () {
    const files = yield* stageFiles(ctx, dir, known, own, copies)
    const tree = TreeHash(sha256(JSON.stringify(files.map((f) => [f.rel, f.hash, f.size]))))
    yield* ctx.leases.register([["t", tree], ...files.map((f) => ["o", f.hash] as const)])
    for (const f of files) yield* storeObject(ctx, f.src, f.hash, f.size)
    failpoint("commit-objects")
    const target = ctx.layout.tree(tree)
    if (fs.existsSync(target)) {
      // Someone made this tree before: keep it if it is whole, else rebuild it.
      const check = yield* checkTree(ctx.layout, tree)
      if (check.ok) return { tree, files, tmp: undefined } satisfies PreparedTree
      yield* removeTree(ctx.layout, tree)
    }
    const tmp = tempName(path.join(ctx.layout.tmpDir, `${process.pid}-tree-${tree.slice(0, 16)}`))
    yield* storeTry(tmp, "build tree", () => {
      fs.mkdirSync(tmp, { recursive: true })
      for (const f of files) {
        const dest = path.join(tmp, f.rel)
        fs.mkdirSync(path.dirname(dest), { recursive: true })
        fs.linkSync(ctx.layout.object(f.hash), dest)
      }
    })
    return { tree, files, tmp } satisfies PreparedTree
  })

/**
 * Puts a prepared tree in place with its manifest, once the staging area's links are dropped: each
 * entry's stamp is then the object's after the store's last link to it. A tree found whole has its
 * stamps brought up to date the same way (its content was checked by `prepareTree`).
 */
const finishTree = (ctx: CommitContext, prepared: PreparedTree) =>
  Effect.gen(function* () {
    const { tree, files, tmp } = prepared
    if (tmp === undefined) return yield* restampTree(ctx.layout, tree)
    const entries = yield* storeTry(tmp, "stat tree", () => files.map((f) => entryOf(f.rel, f.hash, fs.statSync(path.join(tmp, f.rel)))))
    yield* writeManifest(ctx.layout, tree, entries)
    failpoint("commit-manifest")
    yield* storeTry(tmp, "build tree", () => {
      failpoint("commit-tree")
      const target = ctx.layout.tree(tree)
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
  })

/** Removes staged folders (the staging area's links to objects, the private copies). */
const dropStaged = (dirs: ReadonlyArray<string>) =>
  Effect.forEach(dirs, (dir) => storeTry(dir, "remove staging", () => fs.rmSync(dir, { recursive: true, force: true })), { discard: true })

const summary = (p: PreparedTree) => ({ tree: p.tree, files: p.files.length, bytes: p.files.reduce((a, f) => a + f.size, 0) })

/**
 * Stores the files of `dir` (a staging folder, emptied on the way) as a tree and returns its hash,
 * file count and size; when `expected` is given and they make another tree, nothing is put in place.
 */
const commitTree = (ctx: CommitContext, dir: string, known: KnownFiles, expected?: string) =>
  Effect.gen(function* () {
    const copies = newCopies(ctx)
    const prepared = yield* prepareTree(ctx, dir, known, new Map(), copies)
    if (expected !== undefined && prepared.tree !== expected) {
      yield* dropStaged([copies.dir, ...(prepared.tmp ? [prepared.tmp] : [])])
      return undefined
    }
    yield* dropStaged([dir, copies.dir])
    yield* finishTree(ctx, prepared)
    return summary(prepared)
  })

/** A fetched folder never holds links (the remote store writes plain files); one that does is an I/O error of the store. */
const linkAsStoreError = (dir: string) => (e: StoreError | UnsafeOutputLink) =>
  e instanceof UnsafeOutputLink
    ? new StoreError({ reason: "io", path: path.join(dir, e.file), operation: "store fetched files", detail: e.message, cause: e })
    : e

/** The content hash of a result (what consumers' keys see): its tree, value and metrics. */
export const outputHashOf = (tree: string, value: Json, metrics: Readonly<Record<string, Json>>) => Either.map(canonicalJson({ tree, value, metrics }), sha256)

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
    const committed = yield* Effect.mapError(commitTree(ctx, dir, known, record.output.tree), linkAsStoreError(dir))
    if (!committed) return false
    yield* writeRecord(ctx, record)
    return true
  })

/** Installs a memo item made elsewhere, as `importRecord` does a result. */
export const importItem = (ctx: CommitContext, item: MemoItemRecord, dir: string, known: KnownFiles) =>
  Effect.gen(function* () {
    const committed = yield* Effect.mapError(commitTree(ctx, dir, known, item.tree), linkAsStoreError(dir))
    if (!committed) return false
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
    const itemsDir = path.join(base, "items")
    const itemsRoot = itemsDir + path.sep
    const treesRoot = ctx.layout.treesDir + path.sep
    const known: KnownFiles = new Map()
    const own: OwnLinks = new Map()
    const manifests = new Map<string, Map<string, TreeEntry>>()
    // Stored files placed here whose stamp was the recorded one: restamped after our links are gone.
    const placed = new Map<string, Set<string>>()
    const pending: Array<{ key: StageKey; dir: string; value: Json }> = []

    const place = (file: string, rel: string) =>
      storeTry(file, "link", () => {
        const abs = path.resolve(file)
        const dest = path.join(outDir, rel)
        fs.mkdirSync(path.dirname(dest), { recursive: true })
        if (abs.startsWith(itemsRoot)) {
          // A pending item's file: its hash was recorded when the item was added; this link is ours.
          fs.linkSync(abs, dest)
          const ino = inodeKey(fs.statSync(dest))
          own.set(ino, (own.get(ino) ?? 0) + 1)
          return
        }
        if (!abs.startsWith(treesRoot)) throw new Error("place takes a file of a stored input or memo item")
        const [tree, ...restParts] = abs.slice(treesRoot.length).split(path.sep)
        const treeRel = restParts.join("/")
        if (!manifests.has(tree!)) manifests.set(tree!, new Map((readManifest(ctx.layout, tree!) ?? []).map((e) => [e[0], e] as const)))
        const entry = manifests.get(tree!)!.get(treeRel)
        const before = fs.statSync(abs)
        fs.linkSync(abs, dest)
        const st = fs.statSync(dest)
        // Linking changed the file's ctime: the input's seal must not take that for a write.
        ctx.expectedCtime.set(st.ino, st.ctimeMs)
        if (entry) known.set(inodeKey(st), entry[1])
        if (entry && sameEntryStamp(entry, before)) placed.set(tree!, (placed.get(tree!) ?? new Set()).add(treeRel))
      })

    const itemDir = (key: StageKey) =>
      storeTry(path.join(itemsRoot, key), "create item folder", () => {
        const dir = path.join(itemsRoot, key)
        fs.mkdirSync(dir, { recursive: true })
        return dir
      })

    const addItem = (key: StageKey, value: Json) =>
      Effect.gen(function* () {
        const dir = path.join(itemsRoot, key)
        // Hash the item's files now (they were just written): linking them costs no reread later.
        const listed = yield* storeTry(dir, "list", () => listOutputFiles(dir))
        if (listed instanceof UnsafeOutputLink) {
          return yield* new StoreError({ reason: "io", path: path.join(dir, listed.file), operation: "add memo item", detail: listed.message, cause: listed })
        }
        for (const { real } of listed) {
          const st = yield* storeTry(real, "stat", () => fs.statSync(real))
          if (!known.has(inodeKey(st))) known.set(inodeKey(st), yield* Effect.mapError(hashFileContent(real), (e) => ioError(real, "hash")(e)))
        }
        pending.push({ key, dir, value })
      })

    const commit: Staging["commit"] = (record, value, metrics) =>
      Effect.gen(function* () {
        const copies = newCopies(ctx)
        const items: Array<{ item: (typeof pending)[number]; prepared: PreparedTree }> = []
        for (const item of pending) items.push({ item, prepared: yield* prepareTree(ctx, item.dir, known, own, copies) })
        const out = yield* prepareTree(ctx, outDir, known, own, copies)
        // Our own links go before the stamps are taken: they would change every object's ctime.
        yield* dropStaged([outDir, itemsDir, copies.dir])
        for (const { prepared } of items) yield* finishTree(ctx, prepared)
        yield* finishTree(ctx, out)
        for (const [tree, rels] of placed) yield* restampTree(ctx.layout, tree, rels)
        for (const { item, prepared } of items) yield* writeItem(ctx, { format: STORE_FORMAT, key: item.key, tree: prepared.tree, value: item.value })
        const committed = summary(out)
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
