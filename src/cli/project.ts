import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { Effect } from "effect"
import { ConfigError } from "../core/errors.js"
import type { Pipeline } from "../core/pipeline/index.js"

export { cacheDirFor, projectRootOf } from "./fast-path.js"

export const defaultJobs = (): number => (typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length)

const isPipeline = (value: unknown): value is Pipeline => typeof value === "object" && value !== null && (value as { _tag?: unknown })._tag === "Pipeline"

/** Imports a pipeline file (TypeScript through tsx) and returns its default-exported pipeline. */
export const loadPipeline = (file: string): Effect.Effect<Pipeline, ConfigError> =>
  Effect.gen(function* () {
    const abs = path.resolve(file)
    if (!fs.existsSync(abs)) return yield* new ConfigError({ file: abs, detail: "no such pipeline file" })
    const mod = yield* Effect.tryPromise({
      try: () => import(pathToFileURL(abs).href) as Promise<Record<string, unknown>>,
      catch: (error) => new ConfigError({ file: abs, detail: `cannot load: ${error instanceof Error ? error.message : String(error)}` }),
    })
    const pipeline = mod.default
    if (!isPipeline(pipeline)) {
      return yield* new ConfigError({ file: abs, detail: "must `export default definePipeline({...})`" })
    }
    return { ...pipeline, file: abs }
  })
