// @ts-check
// `cairn run`'s options, in one table: the one declaration of their names and aliases. The fast
// path (fast-path.js, before anything else loads) parses argv with it; the full CLI's options
// (options.ts, @effect/cli) are made from it by name, and test/cli/run-argv.test.ts checks that
// `cairn run --help` shows exactly these, with their arity, so the two can never disagree about argv.

/** @typedef {{ readonly value: boolean, readonly alias?: string }} RunOptionSpec */

/**
 * Each option of `cairn run`: whether it takes a value, and its one-letter alias.
 * @satisfies {Readonly<Record<string, RunOptionSpec>>}
 */
export const RUN_OPTIONS = {
  param: { value: true, alias: "p" },
  target: { value: true },
  jobs: { value: true, alias: "j" },
  memory: { value: true },
  "cache-dir": { value: true },
  force: { value: true },
  json: { value: true },
  out: { value: true },
  verbose: { value: false },
  "remote-cache": { value: true },
  "remote-cache-readonly": { value: false },
  queue: { value: true },
  sweep: { value: true },
  "sweep-file": { value: true },
  "no-resume": { value: false },
}

/** @typedef {keyof typeof RUN_OPTIONS} RunOptionName */

/** The table by any name (undefined: not an option of `cairn run`). */
const BY_NAME = /** @type {Readonly<Record<string, RunOptionSpec | undefined>>} */ (RUN_OPTIONS)

/**
 * @typedef {{ readonly pipeline: string, readonly values: Readonly<Record<string, ReadonlyArray<string>>>, readonly flags: ReadonlySet<string> }} RunArgv
 */

/** @param {string} token */
const optionNamed = (token) => {
  if (token.startsWith("--")) return token.slice(2)
  const alias = token.slice(1)
  return Object.keys(BY_NAME).find((name) => BY_NAME[name]?.alias === alias)
}

/**
 * `cairn run` argv (after the program name: `["run", ...]`) as the pipeline and its options, or
 * undefined when it is not a run or holds anything this table does not know (the full CLI then
 * parses it and reports what is wrong).
 * @param {ReadonlyArray<string>} argv
 * @returns {RunArgv | undefined}
 */
export const parseRunArgv = (argv) => {
  if (argv[0] !== "run") return undefined
  /** @type {Record<string, Array<string>>} */
  const values = {}
  const flags = new Set()
  let pipeline
  for (let i = 1; i < argv.length; i++) {
    const token = /** @type {string} */ (argv[i])
    if (!token.startsWith("-") || token === "-") {
      if (pipeline !== undefined) return undefined
      pipeline = token
      continue
    }
    const eq = token.indexOf("=")
    const name = optionNamed(eq > 0 && token.startsWith("--") ? token.slice(0, eq) : token)
    const spec = name === undefined ? undefined : BY_NAME[name]
    if (name === undefined || spec === undefined) return undefined
    if (!spec.value) {
      if (eq > 0) return undefined
      flags.add(name)
      continue
    }
    const value = eq > 0 && token.startsWith("--") ? token.slice(eq + 1) : argv[++i]
    if (value === undefined) return undefined
    ;(values[name] ??= []).push(value)
  }
  return pipeline === undefined ? undefined : { pipeline, values, flags }
}
