/**
 * `npx cairn synth --out DIR [--spectrograms N] [--test-spectrograms N] [--seed S]`: writes the
 * synthetic dataset (the competition's layout) into DIR, outside any pipeline. Registered in
 * package.json under "cairn.commands".
 */
import { parseArgs } from "node:util"
import { Effect } from "effect"
import { SEED } from "../constants.js"
import { writeSynthDataset } from "./files.js"

const USAGE = "usage: cairn synth --out DIR [--spectrograms N] [--test-spectrograms N] [--seed S]"
const DEFAULTS = { spectrograms: 300, testSpectrograms: 20 }

const positiveInt = (name: string, text: string | undefined, fallback: number, min: number): number | string => {
  if (text === undefined) return fallback
  const n = Number(text)
  return Number.isInteger(n) && n >= min ? n : `--${name} must be an integer >= ${min}, got "${text}"`
}

export default async (argv: ReadonlyArray<string>): Promise<number> => {
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        out: { type: "string" },
        spectrograms: { type: "string" },
        "test-spectrograms": { type: "string" },
        seed: { type: "string" },
        help: { type: "boolean" },
      },
      strict: true,
    }).values
  } catch (error) {
    console.error(`cairn synth: ${(error as Error).message}\n${USAGE}`)
    return 2
  }
  if (values.help) {
    console.log(USAGE)
    return 0
  }
  const out = values.out
  const spectrograms = positiveInt("spectrograms", values.spectrograms as string | undefined, DEFAULTS.spectrograms, 1)
  const testSpectrograms = positiveInt("test-spectrograms", values["test-spectrograms"] as string | undefined, DEFAULTS.testSpectrograms, 1)
  const seed = positiveInt("seed", values.seed as string | undefined, SEED, 0)
  const problem = [
    typeof out === "string" ? undefined : "--out is required",
    ...[spectrograms, testSpectrograms, seed].filter((v) => typeof v === "string"),
  ].find(Boolean)
  if (problem) {
    console.error(`cairn synth: ${problem}\n${USAGE}`)
    return 2
  }
  const exit = await Effect.runPromiseExit(
    writeSynthDataset(out as string, { trainSpectrograms: spectrograms as number, testSpectrograms: testSpectrograms as number, seed: seed as number }),
  )
  if (exit._tag === "Failure") {
    console.error(`cairn synth: ${exit.cause.toString()}`)
    return 1
  }
  const s = exit.value
  console.log(`wrote ${s.dir}: ${s.trainRows} label rows over ${s.trainSpectrograms} train spectrograms, ${s.testSpectrograms} test spectrograms`)
  return 0
}
