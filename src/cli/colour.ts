/**
 * Colour on the console only where it is wanted: @effect/cli renders its help and usage errors with
 * ANSI colour codes whatever the output is, which a pipe or a file receives as escape characters.
 */
import { Console, type Effect } from "effect"

/**
 * Whether text written to `stream` may carry colour codes: FORCE_COLOR (any value but `0` or
 * `false`) forces them, NO_COLOR (https://no-color.org, any non-empty value) turns them off, else
 * only a terminal gets them. The same precedence as Node's own colour detection.
 */
export const colourWanted = (stream: { readonly isTTY?: boolean }, env: Readonly<Record<string, string | undefined>>): boolean => {
  const force = env.FORCE_COLOR
  if (force !== undefined) return force !== "0" && force !== "false"
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false
  return stream.isTTY === true
}

/** SGR sequences (`ESC [ ... m`): the colour and style codes the help renderer writes. */
const SGR = /\x1b\[[0-9;]*m/g

/** `text` without colour and style codes. */
export const withoutColour = (text: string): string => text.replace(SGR, "")

const plainArgs = (args: ReadonlyArray<unknown>): ReadonlyArray<unknown> => args.map((a) => (typeof a === "string" ? withoutColour(a) : a))

/**
 * `base` with colour codes removed from what goes to stdout (log, info, debug) when `stdout` is
 * false, and from what goes to stderr (error, warn) when `stderr` is false.
 */
export const consoleWithColour = (base: Console.Console, colour: { readonly stdout: boolean; readonly stderr: boolean }): Console.Console => ({
  ...base,
  log: (...args) => base.log(...(colour.stdout ? args : plainArgs(args))),
  info: (...args) => base.info(...(colour.stdout ? args : plainArgs(args))),
  debug: (...args) => base.debug(...(colour.stdout ? args : plainArgs(args))),
  error: (...args) => base.error(...(colour.stderr ? args : plainArgs(args))),
  warn: (...args) => base.warn(...(colour.stderr ? args : plainArgs(args))),
})

/** Runs `effect` with colour codes kept only on the streams that want them (see `colourWanted`). */
export const withWantedColour = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  const colour = { stdout: colourWanted(process.stdout, process.env), stderr: colourWanted(process.stderr, process.env) }
  return colour.stdout && colour.stderr ? effect : Console.consoleWith((base) => Console.withConsole(effect, consoleWithColour(base, colour)))
}
