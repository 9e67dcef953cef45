// @ts-check
// Where the local store keeps each kind of entry under its cache folder: the only place that
// knows. Plain JavaScript (checked by tsc) so that the no-op fast path can find its stamps before
// TypeScript support is loaded.
import * as path from "node:path"

/** Bumped when the layout or the records change: entries of another format are misses. */
export const STORE_FORMAT = 2

/** The store marker's file name (see `storeMarker`). */
export const STORE_MARKER = "CAIRN-STORE.json"

/** The store's top-level folders, as named below. */
const STORE_ENTRIES = ["objects", "trees", "manifests", "runs", "items", "locks", "leases", "tmp", "quarantine", "state", "history", "meta", "fast", "progress"]

/** @param {string} hash */
const shard = (hash) => hash.slice(0, 2)

/**
 * The local store's folders:
 * `objects/ab/<sha256>` file blobs (deduplicated, read-only), `trees/<hash>/` artifact folders (hard
 * links to objects), `manifests/ab/<tree>.json` what each tree holds, `runs/ab/<key>.json` run
 * records, `items/ab/<key>.json` memo items, `locks/` per-key locks, `leases/` the runs using the
 * store, `tmp/` staging (swept when its process is dead), `quarantine/` objects found corrupt,
 * `state/` the last key per stage instance and pipeline, `history/` one report per `cairn run`,
 * `meta/` memos, `fast/` the no-op fast path's stamps, `progress/ab/<key>/` the progress records of a
 * stage that works in steps and has no result yet (`<step>.json`, naming files in its `blobs/<sha256>`).
 * @param {string} dir
 */
export const localLayout = (dir) => ({
  dir,
  /**
   * What makes a folder a cairn store: written when the store is created (or an older cairn's store
   * is first opened). `clean`, `gc` and `verify` act only on a folder holding it.
   */
  storeMarker: path.join(dir, STORE_MARKER),
  /** Every entry the store writes at its top level (the marker aside): `clean` removes no other. */
  ownEntries: STORE_ENTRIES.map((name) => path.join(dir, name)),
  objectsDir: path.join(dir, "objects"),
  /** @param {string} hash */
  object: (hash) => path.join(dir, "objects", shard(hash), hash),
  treesDir: path.join(dir, "trees"),
  /** @param {string} tree */
  tree: (tree) => path.join(dir, "trees", tree),
  /** @param {string} tree */
  manifest: (tree) => path.join(dir, "manifests", shard(tree), `${tree}.json`),
  manifestsDir: path.join(dir, "manifests"),
  runsDir: path.join(dir, "runs"),
  /** @param {string} key */
  record: (key) => path.join(dir, "runs", shard(key), `${key}.json`),
  itemsDir: path.join(dir, "items"),
  /** @param {string} key */
  item: (key) => path.join(dir, "items", shard(key), `${key}.json`),
  locksDir: path.join(dir, "locks"),
  /** @param {string} name */
  lock: (name) => path.join(dir, "locks", `${name}.lock`),
  leasesDir: path.join(dir, "leases"),
  /** Present while a gc, clean or verify removes entries. */
  gcMarker: path.join(dir, "leases", "gc.active"),
  tmpDir: path.join(dir, "tmp"),
  quarantineDir: path.join(dir, "quarantine"),
  stateDir: path.join(dir, "state"),
  /** @param {string} pipeline @param {string} id */
  state: (pipeline, id) => path.join(dir, "state", pipeline, `${encodeURIComponent(id)}.json`),
  historyRoot: path.join(dir, "history"),
  /** @param {string} pipeline */
  history: (pipeline) => path.join(dir, "history", pipeline),
  /** @param {string} name */
  meta: (name) => path.join(dir, "meta", name),
  progressDir: path.join(dir, "progress"),
  /** @param {string} key */
  progress: (key) => path.join(dir, "progress", shard(key), key),
  /** @param {string} key @param {number} step */
  progressRecord: (key, step) => path.join(dir, "progress", shard(key), key, `${String(step).padStart(6, "0")}.json`),
  /** @param {string} key @param {string} hash */
  progressBlob: (key, hash) => path.join(dir, "progress", shard(key), key, "blobs", hash),
  /** @param {string} invocation */
  fastStamp: (invocation) => path.join(dir, "fast", `${invocation}.json`),
  /** @param {string} invocation */
  fastReplay: (invocation) => path.join(dir, "fast", `${invocation}.replay`),
})

/** @typedef {ReturnType<typeof localLayout>} LocalLayout */
