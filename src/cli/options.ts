/** Options several commands share. */
import { Args, Options } from "@effect/cli"

export const pipelineArg = Args.text({ name: "pipeline" }).pipe(Args.withDescription("a pipeline file, e.g. pipelines/quick.ts"))
export const paramOpt = Options.text("param").pipe(
  Options.withAlias("p"),
  Options.repeated,
  Options.withDescription("k=v (every stage declaring k) or stage.k=v; repeatable"),
)
export const cacheDirOpt = Options.text("cache-dir").pipe(Options.optional, Options.withDescription("cache folder (default: <project>/cache or $CAIRN_CACHE_DIR)"))
export const memoryOpt = Options.text("memory").pipe(
  Options.optional,
  Options.withDescription("memory the stages running at once may declare together, e.g. 16G (default: $CAIRN_MEMORY, else the machine's memory less 4G)"),
)
export const jobsOpt = Options.integer("jobs").pipe(Options.withAlias("j"), Options.optional, Options.withDescription("stages run at once (default: cores)"))
export const remoteCacheOpt = Options.text("remote-cache").pipe(
  Options.optional,
  Options.withDescription("a shared cache behind the local one: http(s)://host/prefix or s3://bucket/prefix (default: $CAIRN_REMOTE_CACHE)"),
)
export const remoteCacheReadonlyOpt = Options.boolean("remote-cache-readonly").pipe(Options.withDescription("read from the remote cache, never write to it"))
export const pipelinesDirOpt = Options.directory("pipelines").pipe(
  Options.repeated,
  Options.withDescription("a folder whose pipeline files this worker runs jobs of (default: pipelines/ of its checkout); repeatable"),
)
export const queueOpt = Options.text("queue").pipe(
  Options.optional,
  Options.withDescription("run stages on workers (cairn worker) through this queue: redis://host:port[/db][?queue=NAME]; needs --remote-cache"),
)
