/**
 * The store's three services over one cache folder: `Cache` (the folder's own, or `cache` given:
 * `Cache.layerRemote` puts a shared remote cache behind it), `StoreAdmin` and `RunHistory`, all
 * served by one `LocalStore` (one set of leases and memos per process).
 */
import { Layer } from "effect"
import { Cache } from "./cache.js"
import { LocalStore } from "./local/local-store.js"
import { RunHistory } from "./run-history.js"
import { StoreAdmin } from "./store-admin.js"

export const storeLayer = <E = never, R = never>(dir: string, projectRoot: string, cache: Layer.Layer<Cache, E, LocalStore | R> = Cache.layerLocal) =>
  Layer.mergeAll(cache, StoreAdmin.layerLocal, RunHistory.layerLocal).pipe(Layer.provide(LocalStore.layer(dir, projectRoot)))
