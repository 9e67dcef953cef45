/** From a pipeline file and `--param`s to a checked plan, its project root and its store. */
import * as path from "node:path"
import { Effect, Either, Option } from "effect"
import { parseOverride, type ParamOverride, type Plan, planPipeline } from "../core/pipeline.js"
import { checkSources } from "../core/source.js"
import { LocalStore } from "../core/store/local/local-store.js"
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

/** The store a loaded pipeline uses. */
export const storeLayer = (l: Pick<Loaded, "cacheDir" | "root">) => LocalStore.layer(l.cacheDir, l.root)
