/** Options several commands share. */
import { Args, Options } from "@effect/cli"
import { RUN_OPTIONS, type RunOptionName, type RunOptionSpec } from "./run-argv.js"

/**
 * An option of `cairn run` (some also serve other commands) as RUN_OPTIONS declares it (run-argv.js,
 * the table the fast path parses argv with): its name must be one there, and its alias is taken from there.
 */
export const runOption = <A>(name: RunOptionName, make: (name: string) => Options.Options<A>): Options.Options<A> => {
  const spec: RunOptionSpec = RUN_OPTIONS[name]
  return spec.alias === undefined ? make(name) : Options.withAlias(make(name), spec.alias)
}

export const pipelineArg = Args.text({ name: "pipeline" }).pipe(Args.withDescription("a pipeline file, e.g. pipelines/quick.ts"))
export const paramOpt = runOption("param", Options.text).pipe(
  Options.repeated,
  Options.withDescription("k=v (every stage declaring k) or stage.k=v; repeatable"),
)
export const cacheDirOpt = runOption("cache-dir", Options.text).pipe(
  Options.optional,
  Options.withDescription("cache folder (default: <project>/cache or $CAIRN_CACHE_DIR)"),
)
export const memoryOpt = runOption("memory", Options.text).pipe(
  Options.optional,
  Options.withDescription("memory the stages running at once may declare together, e.g. 16G (default: $CAIRN_MEMORY, else the machine's memory less 4G)"),
)
export const jobsOpt = runOption("jobs", Options.integer).pipe(Options.optional, Options.withDescription("stages run at once (default: cores)"))
export const remoteCacheOpt = runOption("remote-cache", Options.text).pipe(
  Options.optional,
  Options.withDescription("a shared cache behind the local one: http(s)://host/prefix or s3://bucket/prefix (default: $CAIRN_REMOTE_CACHE)"),
)
export const remoteCacheReadonlyOpt = runOption("remote-cache-readonly", Options.boolean).pipe(
  Options.withDescription("read from the remote cache, never write to it"),
)
export const pipelinesDirOpt = Options.directory("pipelines").pipe(
  Options.repeated,
  Options.withDescription("a folder whose pipeline files this worker runs jobs of (default: pipelines/ of its checkout); repeatable"),
)
export const queueOpt = runOption("queue", Options.text).pipe(
  Options.optional,
  Options.withDescription("run stages on workers (cairn worker) through this queue: redis://host:port[/db][?queue=NAME]; needs --remote-cache"),
)
