/** The run's memory budget: `--memory`, else `CAIRN_MEMORY`, else the machine's memory less a reserve. */
import { Effect, Either, Option } from "effect"
import { defaultMemoryBudget, MEMORY_ENV, type MemoryBudget, parseMemorySize } from "../core/resources.js"
import { UsageError } from "./cli-errors.js"

export const memoryBudget = (flag: Option.Option<string>, env: NodeJS.ProcessEnv = process.env): Effect.Effect<MemoryBudget, UsageError> => {
  const given = Option.isSome(flag)
    ? { text: flag.value, origin: `--memory ${flag.value}` }
    : env[MEMORY_ENV]
      ? { text: env[MEMORY_ENV], origin: `${MEMORY_ENV}=${env[MEMORY_ENV]}` }
      : undefined
  if (given === undefined) return Effect.succeed(defaultMemoryBudget())
  return Either.match(parseMemorySize(given.text), {
    onLeft: (why) => Effect.fail(new UsageError({ detail: `${given.origin}: ${why}` })),
    onRight: (bytes) => Effect.succeed({ bytes, origin: given.origin }),
  })
}
