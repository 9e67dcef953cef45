import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { Effect } from "effect"
import { ConfigError } from "../core/errors.js"
import type { Pipeline } from "../core/pipeline.js"

/** The nearest folder at or above `from` holding a package.json (else `from`). */
export const projectRootOf = (from: string): string => {
  let dir = path.resolve(from)
  for (;;) {
    if (fs.existsSync(path.join(dir, "package.json"))) return dir
    const parent = path.dirname(dir)
    if (parent === dir) return path.resolve(from)
    dir = parent
  }
}

/** `--cache-dir`, else $CAIRN_CACHE_DIR, else `<project>/cache`. */
export const cacheDirFor = (root: string, flag: string | undefined): string =>
  path.resolve(flag ?? process.env.CAIRN_CACHE_DIR ?? path.join(root, "cache"))

export const defaultJobs = (): number => (typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length)

const isPipeline = (value: unknown): value is Pipeline =>
  typeof value === "object" && value !== null && (value as { _tag?: unknown })._tag === "Pipeline"

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
