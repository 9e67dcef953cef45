/**
 * The store's marker (layout.js `storeMarker`): what tells a cairn store from any other folder. A
 * store writes it when it creates its folder; `clean`, `gc` and `verify` act only on a folder that
 * holds it, and a run never writes its cache into a folder of someone else's files (a mistyped
 * `--cache-dir ~` must not become a store, nor be emptied by `cairn clean`).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { readJsonFileSync } from "../../fs-util.js"
import { isNotFound, writeFileAtomicSync } from "../../fs-primitives.js"
import { STORE_FORMAT, StoreError } from "../records.js"
import { localLayout, type LocalLayout, STORE_MARKER } from "../layout.js"
import { storeTry } from "./trees.js"

/** What a cache folder is, to the store. */
export type StoreFolder =
  | { readonly kind: "missing" | "empty" | "marked" }
  /** A store of an older cairn (no marker): only the store's own folders, one of them made by every run. */
  | { readonly kind: "legacy" }
  /** Anything else: `entries` are the names that are not the store's. */
  | { readonly kind: "foreign"; readonly entries: ReadonlyArray<string> }

interface Marker {
  readonly store: "cairn"
  readonly format: number
  readonly created: string
}

const isMarker = (value: unknown): value is Marker => typeof value === "object" && value !== null && (value as { store?: unknown }).store === "cairn"

/** What the folder of `layout` holds: a store (marked or of an older cairn), nothing, or other files. */
export const inspectStoreFolder = (layout: LocalLayout): StoreFolder => {
  let names: Array<string>
  try {
    names = fs.readdirSync(layout.dir)
  } catch (error) {
    if (isNotFound(error)) return { kind: "missing" }
    throw error
  }
  // A marker another process is writing (writeFileAtomicSync's temp file) is the store's own.
  names = names.filter((n) => !n.startsWith(`${STORE_MARKER}.tmp-`))
  if (names.length === 0) return { kind: "empty" }
  if (names.includes(STORE_MARKER) && isMarker(readJsonFileSync<unknown>(layout.storeMarker))) return { kind: "marked" }
  const own = new Set(layout.ownEntries.map((p) => path.basename(p)))
  const foreign = names.filter((n) => !own.has(n))
  // Every run of an older cairn made leases/ (which its `clean` kept), and every result runs/ and objects/.
  const made = [layout.runsDir, layout.objectsDir, layout.leasesDir].some((d) => names.includes(path.basename(d)))
  if (foreign.length === 0 && made) return { kind: "legacy" }
  return { kind: "foreign", entries: (foreign.length > 0 ? foreign : names).sort() }
}

/** `a, b, c, +4 more`: the names a message shows. */
export const showEntries = (entries: ReadonlyArray<string>): string =>
  entries.slice(0, 3).join(", ") + (entries.length > 3 ? `, +${entries.length - 3} more` : "")

const writeMarker = (layout: LocalLayout) =>
  storeTry(layout.storeMarker, "mark the cache folder", () =>
    writeFileAtomicSync(
      layout.storeMarker,
      `${JSON.stringify({ store: "cairn", format: STORE_FORMAT, created: new Date().toISOString() } satisfies Marker)}\n`,
    ),
  )

/**
 * Opens the folder of `layout` as a store for a run: a new or empty folder becomes one (marker
 * first, before any other entry, so that a second process never sees an unmarked store of ours), an
 * older cairn's store gets its marker, a folder of other files is refused and left as it is.
 */
export const claimStoreFolder = (layout: LocalLayout): Effect.Effect<void, StoreError> =>
  Effect.gen(function* () {
    const folder = yield* storeTry(layout.dir, "open the cache", () => inspectStoreFolder(layout))
    if (folder.kind === "marked") return
    if (folder.kind === "foreign") {
      return yield* new StoreError({
        reason: "not-a-store",
        path: layout.dir,
        operation: "open the cache",
        detail: `it is not a cairn store (no ${STORE_MARKER}) and holds other files (${showEntries(folder.entries)}): cairn writes its cache only into a new or empty folder or a store of its own; choose one with --cache-dir or CAIRN_CACHE_DIR`,
      })
    }
    yield* storeTry(layout.dir, "create cache folder", () => fs.mkdirSync(layout.dir, { recursive: true }))
    yield* writeMarker(layout)
  })

/** Fails unless the folder of `layout` carries the marker: `operation` (gc, clean, verify) then touches nothing. */
export const requireStoreMarker = (layout: LocalLayout, operation: string): Effect.Effect<void, StoreError> =>
  Effect.gen(function* () {
    const folder = yield* storeTry(layout.dir, operation, () => inspectStoreFolder(layout))
    if (folder.kind === "marked") return
    return yield* new StoreError({ reason: "not-a-store", path: layout.dir, operation, detail: `not a cairn store (no ${STORE_MARKER}): nothing removed` })
  })

/** `inspectStoreFolder` of a cache folder named on the command line. */
export const inspectCacheDir = (dir: string): StoreFolder => inspectStoreFolder(localLayout(path.resolve(dir)))
