/** The commands that maintain the store: gc, clean, verify. */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { formatBytes, parseSize } from "../../core/fs-util.js"
import { StoreAdmin } from "../../core/store/store-admin.js"
import { STORE_MARKER } from "../../core/store/layout.js"
import { inspectCacheDir } from "../../core/store/local/store-marker.js"
import { EXIT_STAGE_FAILED, NotAStore, UsageError } from "../cli-errors.js"
import { storeLayer } from "../load.js"
import { cacheDirOpt } from "../options.js"
import { cacheDirFor, projectRootOf } from "../project.js"

/**
 * The store of the project around the current folder: `exists` false when there is none yet; a
 * folder without the store marker (not a store, or one of an older cairn) fails `operation` here,
 * before anything in it is touched.
 */
const existingStore = (cacheDir: Option.Option<string>, operation: string) =>
  Effect.gen(function* () {
    const root = projectRootOf(process.cwd())
    const dir = cacheDirFor(root, Option.getOrUndefined(cacheDir))
    const folder = inspectCacheDir(dir)
    if (folder.kind === "legacy" || folder.kind === "foreign") {
      return yield* new NotAStore({ dir, operation, marker: STORE_MARKER, entries: folder.kind === "foreign" ? folder.entries : undefined })
    }
    return { dir, exists: folder.kind === "marked", layer: storeLayer({ cacheDir: dir, root }) }
  })

export const gcCommand = Command.make(
  "gc",
  {
    cacheDir: cacheDirOpt,
    maxSize: Options.text("max-size").pipe(
      Options.optional,
      Options.withDescription("evict least recently used results until the store is this small (e.g. 5G)"),
    ),
    keepLast: Options.integer("keep-last").pipe(
      Options.optional,
      Options.withDescription("keep only results used by the last N runs of each pipeline and the current state"),
    ),
  },
  (o) =>
    Effect.gen(function* () {
      const maxBytes = Option.isSome(o.maxSize) ? parseSize(o.maxSize.value) : undefined
      if (Option.isSome(o.maxSize) && maxBytes === undefined) return yield* new UsageError({ detail: `--max-size: cannot read "${o.maxSize.value}"` })
      if (Option.isSome(o.keepLast) && o.keepLast.value < 1) {
        return yield* new UsageError({
          detail: `--keep-last must be at least 1 (got ${o.keepLast.value}): it is how many of each pipeline's last runs keep their results`,
        })
      }
      const s = yield* existingStore(o.cacheDir, "gc")
      if (!s.exists) return yield* Console.log(`no cache at ${s.dir}`)
      const store = yield* StoreAdmin.pipe(Effect.provide(s.layer))
      const r = yield* store.gc({ keepLast: Option.getOrUndefined(o.keepLast), maxBytes })
      const kept = r.keptForRuns > 0 ? `; kept ${r.keptForRuns} results a running pipeline uses` : ""
      yield* Console.log(
        `gc: removed ${r.removedRuns} results, ${r.removedItems} items, ${r.removedTrees} trees, ${r.removedObjects} objects${r.removedProgress ? `, progress of ${r.removedProgress} finished keys` : ""}; ${formatBytes(r.bytesBefore)} -> ${formatBytes(r.bytesAfter)}${kept}`,
      )
    }),
).pipe(Command.withDescription("remove cached results no longer needed (never those of a running pipeline)"))

export const cleanCommand = Command.make("clean", { cacheDir: cacheDirOpt }, (o) =>
  Effect.gen(function* () {
    const s = yield* existingStore(o.cacheDir, "clean")
    if (!s.exists) return yield* Console.log(`no cache at ${s.dir}`)
    const store = yield* StoreAdmin.pipe(Effect.provide(s.layer))
    yield* store.clean()
    yield* Console.log(`removed every result in ${s.dir}`)
  }),
).pipe(Command.withDescription("remove the whole cache (refused while a pipeline runs)"))

export const verifyCommand = Command.make("verify", { cacheDir: cacheDirOpt }, (o) =>
  Effect.gen(function* () {
    const s = yield* existingStore(o.cacheDir, "verify")
    if (!s.exists) return yield* Console.log(`no cache at ${s.dir}`)
    const store = yield* StoreAdmin.pipe(Effect.provide(s.layer))
    const r = yield* store.verify()
    yield* Console.log(`verify: ${r.objects} objects (${formatBytes(r.bytes)}) rehashed`)
    for (const h of r.corruptObjects) yield* Console.log(`  corrupt object ${h}: quarantined`)
    for (const t of r.damagedTrees) yield* Console.log(`  damaged tree ${t}: removed`)
    if (r.removedRecords + r.removedItems > 0)
      yield* Console.log(`  ${r.removedRecords} results and ${r.removedItems} memo items without their files: removed (they rerun)`)
    if (r.corruptObjects.length + r.damagedTrees.length === 0) {
      yield* Console.log("store is consistent")
      return
    }
    yield* Console.log("the results that used them will rerun")
    process.exitCode = EXIT_STAGE_FAILED
  }),
).pipe(Command.withDescription("rehash the store; quarantine corrupt objects so the results using them rerun"))
