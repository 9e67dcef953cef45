/**
 * Project commands: `"cairn": { "commands": { "synth": "stages/my-task/synth-command.ts" } }` in the
 * project's package.json adds `cairn synth ...`, implemented by that module's default export
 * `(argv) => Promise<number>`. The framework stays generic; projects bring their own tools.
 */
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { readJsonFileSync } from "../core/fs-util.js"
import { EXIT_USAGE } from "./cli-errors.js"
import { projectRootOf } from "./project.js"

/** Runs the project command named by argv[0], or answers undefined when there is none. */
export const runProjectCommand = async (argv: ReadonlyArray<string>, builtin: ReadonlySet<string>): Promise<number | undefined> => {
  const name = argv[0]
  if (!name || name.startsWith("-") || builtin.has(name)) return undefined
  const root = projectRootOf(process.cwd())
  const pkg = readJsonFileSync<{ cairn?: { commands?: Record<string, string> } }>(path.join(root, "package.json"))
  const file = pkg?.cairn?.commands?.[name]
  if (!file) return undefined
  const mod = (await import(pathToFileURL(path.resolve(root, file)).href)) as { default?: (argv: ReadonlyArray<string>) => Promise<number> }
  if (typeof mod.default !== "function") {
    console.error(`cairn: ${file} must export a default function (argv) => Promise<number>`)
    return EXIT_USAGE
  }
  return mod.default(argv.slice(1))
}
