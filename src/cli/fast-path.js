// @ts-check
// The no-op fast path of `cairn run`, in plain JavaScript (checked by tsc) that imports only the
// core's stamp and store-layout modules and written-files.js, so that it runs before TypeScript,
// Effect or the pipeline are loaded.
//
// After a successful full `cairn run`, the CLI writes a stamp: the state of every path whose change
// could change any key of the run or its lookup (each stage's code closure and the resolution
// candidates that must stay absent, cairn itself, the lockfiles, every source file and declared
// read, the engine inputs, every stored result's files, the published outputs), the declared
// environment variables, and the stored results the run ended with. It is written only for a plan
// it can stamp fully: never for one with `cache: false` stages or an engine hook that does not
// declare what it inspects. When the same command is run again and nothing in the stamp changed,
// every stage would be a cache hit by construction, so the stamp's report is printed as is (all
// cached), without loading anything. Any difference, or any doubt, falls through to the full path.
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { envKeyValue } from "../core/credentials.js"
import { collectPathStates, firstChangedPath } from "../core/stamp.js"
import { isNotFound, writeFileAtomicSync } from "../core/fs-primitives.js"
import { localLayout } from "../core/store/layout.js"
import { parseRunArgv } from "./run-argv.js"
import { PUBLISH_POLICY, REPORT_ORIGIN, writeFilesInto } from "./written-files.js"

export const STAMP_FORMAT = 2

/**
 * The nearest folder at or above `from` holding a package.json (else `from`).
 * @param {string} from
 */
export const projectRootOf = (from) => {
  let dir = path.resolve(from)
  for (;;) {
    if (fs.existsSync(path.join(dir, "package.json"))) return dir
    const parent = path.dirname(dir)
    if (parent === dir) return path.resolve(from)
    dir = parent
  }
}

/**
 * `--cache-dir`, else $CAIRN_CACHE_DIR, else `<project>/cache`.
 * @param {string} root
 * @param {string | undefined} flag
 */
export const cacheDirFor = (root, flag) => path.resolve(flag ?? process.env.CAIRN_CACHE_DIR ?? path.join(root, "cache"))

/**
 * What identifies an invocation: same command line, same folder, same Node, same cache setting.
 * @param {ReadonlyArray<string>} argv
 */
const invocationKey = (argv) =>
  createHash("sha256")
    .update(JSON.stringify({ argv, cwd: process.cwd(), node: process.version, cache: process.env.CAIRN_CACHE_DIR ?? null }))
    .digest("hex")

/**
 * The local store layout and invocation of a `run`, or undefined when it cannot take the fast path.
 * @param {ReadonlyArray<string>} argv
 */
const invocationOf = (argv) => {
  const run = parseRunArgv(argv)
  if (!run || run.values.target || run.values.force) return undefined
  const root = projectRootOf(path.dirname(path.resolve(run.pipeline)))
  return { layout: localLayout(cacheDirFor(root, run.values["cache-dir"]?.at(-1))), key: invocationKey(argv), run }
}

/**
 * Where the stamp of a `run` invocation lives, or undefined when it cannot take the fast path.
 * @param {ReadonlyArray<string>} argv
 */
export const stampFileFor = (argv) => {
  const inv = invocationOf(argv)
  return inv ? inv.layout.fastStamp(inv.key) : undefined
}

/**
 * A folder next to the stamp for files rendered for replays (see `copies`).
 * @param {ReadonlyArray<string>} argv
 */
export const replayDirFor = (argv) => {
  const inv = invocationOf(argv)
  return inv ? inv.layout.fastReplay(inv.key) : undefined
}

/**
 * What the full path hands over to make a stamp.
 * @typedef {{
 *   readonly watch: ReadonlyArray<string>,
 *   readonly env: Readonly<Record<string, string | null>>,
 *   readonly exists: ReadonlyArray<string>,
 *   readonly touch: ReadonlyArray<string>,
 *   readonly lines: ReadonlyArray<string>,
 *   readonly report: unknown,
 *   readonly history: string,
 *   readonly copies: ReadonlyArray<readonly [string, string]>,
 * }} Stamp
 */

/**
 * Writes the stamp after a successful full run.
 * @param {ReadonlyArray<string>} argv
 * @param {Stamp} stamp
 */
export const writeStamp = (argv, stamp) => {
  const file = stampFileFor(argv)
  if (!file) return
  const { watch, ...rest } = stamp
  writeFileAtomicSync(file, JSON.stringify({ format: STAMP_FORMAT, paths: collectPathStates(watch), ...rest }))
}

/**
 * Drops the stamp (a run that did not end well must not be replayed).
 * @param {ReadonlyArray<string>} argv
 */
export const removeStamp = (argv) => {
  const file = stampFileFor(argv)
  if (file) fs.rmSync(file, { force: true })
}

/**
 * What no longer holds of the stamp, or undefined when everything still does.
 * @param {{ paths: Record<string, import("../core/stamp.js").PathState>, env: Record<string, string | null>, exists: ReadonlyArray<string> }} stamp
 * @returns {string | undefined}
 */
const brokenBy = (stamp) => {
  const env = Object.entries(stamp.env).find(([k, v]) => envKeyValue(k, process.env[k] ?? null) !== v)
  if (env) return `environment variable ${env[0]} changed`
  const gone = stamp.exists.find((p) => !fs.existsSync(p))
  if (gone) return `${gone} is gone`
  const changed = firstChangedPath(stamp.paths)
  return changed === undefined ? undefined : `${changed} changed`
}

/**
 * With CAIRN_EXPLAIN_FAST_PATH set, says on stderr why a run takes the full path.
 * @param {string} why
 */
const explain = (why) => {
  if (process.env.CAIRN_EXPLAIN_FAST_PATH) process.stderr.write(`cairn: fast path not taken: ${why}\n`)
}

/**
 * Replays a no-op run when its stamp still holds. Returns the exit code, or undefined to take the
 * normal path.
 * @param {ReadonlyArray<string>} argv
 * @returns {number | undefined}
 */
export const tryFastPath = (argv) => {
  if (process.env.CAIRN_NO_FAST_PATH) return undefined
  const inv = invocationOf(argv)
  if (!inv) return undefined
  const file = inv.layout.fastStamp(inv.key)
  let stamp
  try {
    stamp = JSON.parse(fs.readFileSync(file, "utf8"))
  } catch (error) {
    if (isNotFound(error) || error instanceof SyntaxError) {
      explain("no stamp of this command (first run, a failed or partial run, or a plan the fast path cannot replay)")
      return undefined
    }
    throw error
  }
  if (stamp.format !== STAMP_FORMAT) {
    explain("stamp of another format")
    return undefined
  }
  const why = brokenBy(stamp)
  if (why !== undefined) {
    explain(why)
    return undefined
  }
  const started = new Date()
  const t0 = performance.now()
  // Files an after-run hook wrote, rendered for this replay when the stamp was made, copied as the
  // full path copies them (only files of earlier reports are replaced). A refusal (a report file
  // the user changed) is the full path's to report.
  for (const [from, to] of stamp.copies) {
    const r = writeFilesInto(from, to, REPORT_ORIGIN, PUBLISH_POLICY)
    if (r.refused) {
      explain(`${r.refused.file} is in the way of the report (${r.refused.reason})`)
      return undefined
    }
  }
  for (const line of stamp.lines) process.stdout.write(`${line}\n`)
  const seconds = Number(((performance.now() - t0) / 1000).toFixed(3))
  const report = { ...stamp.report, startedAt: started.toISOString(), seconds, replayed: true }
  const json = inv.run.values.json?.at(-1)
  if (json) {
    fs.mkdirSync(path.dirname(path.resolve(json)), { recursive: true })
    fs.writeFileSync(path.resolve(json), `${JSON.stringify(report, null, 2)}\n`)
  }
  // Keep `cairn runs` and the least-recently-used order of `gc --max-size` as a full run would.
  const now = new Date()
  for (const record of stamp.touch) {
    try {
      fs.utimesSync(record, now, now)
    } catch (error) {
      if (!isNotFound(error)) throw error
    }
  }
  writeFileAtomicSync(path.join(stamp.history, `${started.toISOString().replace(/[:.]/g, "-")}-${process.pid}.json`), JSON.stringify(report, null, 1))
  return 0
}
