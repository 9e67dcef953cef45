/** The `cairn` command line: its commands, exit codes and signal handling. */
import { Command, ValidationError } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Cause, Effect, Exit, Fiber } from "effect"
import pkg from "../../package.json" with { type: "json" }
import { ConfigError, describeError, ParamError, SourceMissing } from "../core/errors.js"
import { MemoryOverBudget, ResourcesRefused } from "../core/resources.js"
import { doctorCommand } from "./commands/doctor.js"
import { dagCommand, statusCommand } from "./commands/status.js"
import { exportCommand } from "./commands/export.js"
import { withWantedColour } from "./colour.js"
import { diffCommand, runsCommand } from "./commands/history.js"
import { runCommand } from "./commands/run.js"
import { cleanCommand, gcCommand, verifyCommand } from "./commands/store.js"
import { watchCommand } from "./commands/watch.js"
import { workerCommand } from "./commands/worker.js"
import { StoreError } from "../core/store/records.js"
import { EXIT_INTERRUPTED, EXIT_OK, EXIT_STAGE_FAILED, EXIT_USAGE, NotAStore, UsageError, WriteRefused } from "./cli-errors.js"
import { runProjectCommand } from "./plugins.js"

export { EXIT_INTERRUPTED, EXIT_OK, EXIT_STAGE_FAILED, EXIT_USAGE }

/** The command line of this process (the fast path's stamp is keyed by it). */
let cliArgv: ReadonlyArray<string> = []

const commands = [
  runCommand(() => cliArgv),
  statusCommand,
  dagCommand,
  watchCommand,
  exportCommand,
  gcCommand,
  cleanCommand,
  verifyCommand,
  runsCommand,
  diffCommand,
  doctorCommand,
  workerCommand,
] as const

const cli = Command.make("cairn").pipe(Command.withSubcommands(commands))

const BUILTIN = new Set(["run", "status", "dag", "watch", "export", "gc", "clean", "verify", "runs", "diff", "doctor", "worker"])

/** A usage or configuration error exits 2; anything else that stops a command exits 1. */
const exitCodeOf = (error: unknown): number =>
  error instanceof ConfigError ||
  error instanceof ParamError ||
  error instanceof UsageError ||
  error instanceof SourceMissing ||
  error instanceof ResourcesRefused ||
  error instanceof MemoryOverBudget ||
  error instanceof NotAStore ||
  error instanceof WriteRefused ||
  (error instanceof StoreError && error.reason === "not-a-store")
    ? EXIT_USAGE
    : EXIT_STAGE_FAILED

/** Runs the CLI on `argv` (without node and script) and resolves to the exit code. */
export const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  cliArgv = argv
  const custom = await runProjectCommand(argv, BUILTIN)
  if (custom !== undefined) return custom
  const app = Command.run(cli, { name: "cairn", version: pkg.version })
  const fiber = Effect.runFork(
    app(["node", "cairn", ...argv]).pipe(
      // The help and usage errors are rendered in colour: none into a pipe or file, or with NO_COLOR.
      withWantedColour,
      Effect.provide(NodeContext.layer),
      Effect.map(() => (typeof process.exitCode === "number" ? process.exitCode : EXIT_OK)),
      Effect.catchAll((error) =>
        Effect.sync(() => {
          if (ValidationError.isValidationError(error)) return EXIT_USAGE
          console.error(`cairn: ${describeError(error)}`)
          return exitCodeOf(error)
        }),
      ),
    ),
  )
  // Ctrl-C / SIGTERM interrupt the run: finalizers release locks and leases and remove staging.
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`cairn: ${signal}, stopping`)
    Effect.runFork(Fiber.interrupt(fiber))
  }
  process.once("SIGINT", onSignal)
  process.once("SIGTERM", onSignal)
  const exit = await Effect.runPromise(Fiber.await(fiber))
  process.off("SIGINT", onSignal)
  process.off("SIGTERM", onSignal)
  if (Exit.isSuccess(exit)) return exit.value
  // A defect (a bug, not a failure): say so with its cause, never as an interrupt.
  if (!Exit.isInterrupted(exit)) {
    console.error(`cairn: internal error: ${Cause.pretty(exit.cause)}`)
    return EXIT_STAGE_FAILED
  }
  return EXIT_INTERRUPTED
}
