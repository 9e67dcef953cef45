import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import { readJsonFileSync } from "../../core/fs-util.js"
import { cacheDirOpt, jobsOpt, memoryOpt, paramOpt, pipelineArg } from "../options.js"

/**
 * `cairn watch`: a supervisor that runs `cairn run` as a fresh process (so edited modules load
 * anew) whenever a file the last run depended on changes (its report lists them).
 */
const BIN = fileURLToPath(new URL("../../../bin/cairn.js", import.meta.url))

export const watchCommand = Command.make(
  "watch",
  {
    pipeline: pipelineArg,
    params: paramOpt,
    jobs: jobsOpt,
    memory: memoryOpt,
    cacheDir: cacheDirOpt,
    debounce: Options.integer("debounce").pipe(Options.withDefault(300), Options.withDescription("ms to wait for edits to settle")),
  },
  (o) =>
    Effect.async<void>(() => {
      const args = ["run", o.pipeline, ...o.params.flatMap((p) => ["--param", p])]
      if (Option.isSome(o.jobs)) args.push("--jobs", String(o.jobs.value))
      if (Option.isSome(o.memory)) args.push("--memory", o.memory.value)
      if (Option.isSome(o.cacheDir)) args.push("--cache-dir", o.cacheDir.value)
      let watcher: { close: () => Promise<void>; add: (p: Array<string>) => void; on: (e: string, f: (p: string) => void) => void } | undefined
      let timer: NodeJS.Timeout | undefined
      let running = false
      let again = false
      const reportFile = path.join(fs.mkdtempSync(path.join(process.env.TMPDIR ?? "/tmp", "cairn-watch-")), "report.json")
      const cycle = () => {
        if (running) {
          again = true
          return
        }
        running = true
        // Each run is a fresh process, so edited modules are loaded anew.
        const child = spawn(process.execPath, [BIN, ...args, "--json", reportFile], { stdio: "inherit" })
        child.on("exit", (code) => {
          const report = readJsonFileSync<{ watch?: { files?: Array<string> } }>(reportFile)
          const files = [path.resolve(o.pipeline), ...(report?.watch?.files ?? [])]
          void ensureWatcher(files).then(() => {
            running = false
            console.log(code === 0 ? "watch: run ok; waiting for changes" : `watch: run failed (exit ${code}); waiting for changes`)
            if (again) {
              again = false
              cycle()
            }
          })
        })
      }
      const ensureWatcher = async (files: Array<string>) => {
        if (watcher) {
          watcher.add(files)
          return
        }
        const chokidar = await import("chokidar")
        const w = chokidar.watch(files, { ignoreInitial: true })
        watcher = w as unknown as typeof watcher
        w.on("all", (_event: string, file?: string) => {
          if (timer) clearTimeout(timer)
          timer = setTimeout(() => {
            console.log(`watch: ${file ? path.relative(process.cwd(), file) : "a file"} changed`)
            cycle()
          }, o.debounce)
        })
        await new Promise<void>((resolve) => w.once("ready", () => resolve()))
      }
      cycle()
      return Effect.promise(async () => {
        if (timer) clearTimeout(timer)
        await watcher?.close()
        fs.rmSync(path.dirname(reportFile), { recursive: true, force: true })
      })
    }),
).pipe(Command.withDescription("rerun the pipeline whenever its code or input data changes"))
