/** `cairn run --queue URL`: the settings checked (a configuration error names the flag) and the run's queue layer. */
import * as path from "node:path"
import { Effect, type Layer } from "effect"
import { ConfigError } from "../errors.js"
import type { Reporter } from "../reporter.js"
import { type QueueTarget, queueTargetFrom } from "./redis-connection.js"
import type { QueueUnavailable } from "./queue-errors.js"
import { QueueUrlError } from "./queue-errors.js"
import { queueRunLayer } from "./queue-executor.js"
import { type QueueSettings, queueSettingsFrom } from "./settings.js"
import { QUEUE_SECRET_ENV, queueSecretFrom } from "./job-signature.js"
import type { Executor } from "../executor/executor.js"

/**
 * The queue a `--queue` URL names, the settings the environment gives it and the queue's secret
 * (undefined when none is set), or the ConfigError naming the flag or variable.
 */
export const queueConfigFrom = (
  url: string,
  env: Readonly<Record<string, string | undefined>>,
): Effect.Effect<{ target: QueueTarget; settings: QueueSettings; secret: string | undefined }, ConfigError> =>
  Effect.gen(function* () {
    const target = queueTargetFrom(url)
    if (target instanceof QueueUrlError) return yield* new ConfigError({ file: "--queue", detail: target.message })
    const settings = queueSettingsFrom(env)
    if ("error" in settings) return yield* new ConfigError({ file: "--queue", detail: settings.error })
    const secret = queueSecretFrom(env)
    if ("error" in secret) return yield* new ConfigError({ file: QUEUE_SECRET_ENV, detail: secret.error })
    return { target, settings: settings.settings, secret: secret.secret }
  })

export interface QueueRunSetting {
  /** The queue URL (no credentials) and name, for the run's header. */
  readonly shown: string
  readonly layer: Layer.Layer<Executor | Reporter, QueueUnavailable, Reporter>
}

export const queueRunSetting = (options: {
  readonly url: string
  /** The run's remote cache URL ("" when none): required. */
  readonly remoteUrl: string
  readonly root: string
  /** The pipeline file (absolute). */
  readonly pipelineFile: string
  readonly params: ReadonlyArray<string>
  readonly remoteReadonly: boolean
  readonly env: Readonly<Record<string, string | undefined>>
}): Effect.Effect<QueueRunSetting, ConfigError> =>
  Effect.gen(function* () {
    const { target, settings, secret } = yield* queueConfigFrom(options.url, options.env)
    if (!options.remoteUrl)
      return yield* new ConfigError({
        file: "--queue",
        detail: "needs --remote-cache URL (or $CAIRN_REMOTE_CACHE): results travel from the workers through it",
      })
    const pipelineFile = path.relative(options.root, options.pipelineFile).split(path.sep).join("/")
    if (pipelineFile.startsWith("../") || path.isAbsolute(pipelineFile)) {
      return yield* new ConfigError({
        file: "--queue",
        detail: `the pipeline file ${options.pipelineFile} is outside the project ${options.root}: a worker could not find it in its checkout`,
      })
    }
    return {
      shown: `${target.url} (${target.name})${secret === undefined ? "" : ", jobs signed"}`,
      layer: queueRunLayer({ target, settings, pipelineFile, params: options.params, remoteReadonly: options.remoteReadonly, secret }),
    }
  })
