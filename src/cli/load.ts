/** From a pipeline file and `--param`s to a checked plan, its project root and its store. */
import * as path from "node:path"
import { Effect, Either, Layer, Option } from "effect"
import { ConfigError } from "../core/errors.js"
import { parseOverride, type ParamOverride, type Plan, planPipeline } from "../core/pipeline/index.js"
import { checkSources } from "../core/source.js"
import { Cache } from "../core/store/cache.js"
import { layerFromUrl } from "../core/store/remote/from-url.js"
import { storeLayer as storeServices } from "../core/store/store-layer.js"
import { cacheDirFor, loadPipeline, projectRootOf } from "./project.js"

export const parseParams = (raw: ReadonlyArray<string>) =>
  Effect.forEach(raw, (r) => {
    const e = parseOverride(r)
    return Either.isLeft(e) ? Effect.fail(e.left) : Effect.succeed(e.right)
  })

export interface Loaded {
  readonly plan: Plan
  readonly root: string
  readonly cacheDir: string
}

/** Loads and plans a pipeline; a source folder that does not exist is a configuration error here. */
export const load = (file: string, params: ReadonlyArray<string>, cacheDir: Option.Option<string>) =>
  Effect.gen(function* () {
    const pipeline = yield* loadPipeline(file)
    const overrides: ReadonlyArray<ParamOverride> = yield* parseParams(params)
    const plan = yield* planPipeline(pipeline, overrides)
    const root = projectRootOf(path.dirname(pipeline.file))
    yield* checkSources(plan, root)
    return { plan, root, cacheDir: cacheDirFor(root, Option.getOrUndefined(cacheDir)) } satisfies Loaded
  })

/** A shared remote cache behind the local store (`cairn run --remote-cache URL`). */
export interface RemoteSetting {
  readonly url: string
  readonly readonly: boolean
}

/**
 * The store a loaded pipeline uses (Cache, StoreAdmin, RunHistory): the local one, with the remote
 * cache behind its Cache when one is set.
 */
export const storeLayer = (l: Pick<Loaded, "cacheDir" | "root">, remote?: RemoteSetting) =>
  remote
    ? storeServices(
        l.cacheDir,
        l.root,
        Cache.layerRemote({ readonly: remote.readonly }).pipe(
          Layer.provide(Layer.catchAll(layerFromUrl(remote.url), (e) => Layer.fail(new ConfigError({ file: "--remote-cache", detail: e.message })))),
        ),
      )
    : storeServices(l.cacheDir, l.root)
