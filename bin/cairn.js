#!/usr/bin/env node
// The cairn command line. Pipelines and stages are TypeScript, loaded at run time through tsx.
import { tryFastPath } from "../src/cli/fast-path.js"

// A reader that goes away (`cairn dag | head`) ends the process quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0)
    throw error
  })
}

const argv = process.argv.slice(2)
// A `cairn run` whose inputs, code and results are all as the last time is replayed from its stamp.
const fast = tryFastPath(argv)
if (fast !== undefined) {
  process.exitCode = fast
} else {
  // Dependencies are imported before tsx's loader is registered: loaded that way they skip its
  // per-module hooks, which halves the start-up time.
  await Promise.all([import("effect"), import("@effect/cli"), import("@effect/platform-node/NodeContext")])
  const { register } = await import("tsx/esm/api")
  register()
  // TypeScript from here on (a URL, so that tsc does not resolve it as a .js import).
  const { main } = await import(new URL("../src/cli/main.ts", import.meta.url).href)
  process.exitCode = await main(argv)
}
