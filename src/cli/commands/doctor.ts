/** `cairn doctor`: the engines found here, their versions, and why any is missing. */
import * as os from "node:os"
import { Command, Options } from "@effect/cli"
import { Console, Effect } from "effect"
import { backendStatuses, probeBackend } from "../../ml/engines/tfjs/backend-probe.js"

export const doctorCommand = Command.make("doctor", { json: Options.boolean("json").pipe(Options.withDescription("print the findings as JSON")) }, (o) =>
  Effect.gen(function* () {
    const backends = backendStatuses()
    const auto = probeBackend()
    const machine = { node: process.version, platform: `${process.platform}-${process.arch}`, cores: os.availableParallelism() }
    if (o.json) {
      yield* Console.log(JSON.stringify({ machine, auto, backends }, null, 2))
      return
    }
    yield* Console.log(`node ${machine.node} on ${machine.platform}, ${machine.cores} cores`)
    yield* Console.log(`TF.js backends (backend=auto picks ${auto}):`)
    const width = Math.max(...backends.map((b) => b.backend.length))
    for (const b of backends) yield* Console.log(`  ${b.available ? "ok     " : "missing"} ${b.backend.padEnd(width)}  ${b.detail}`)
  }),
).pipe(Command.withDescription("list the engines found here, their versions and why any is missing"))
