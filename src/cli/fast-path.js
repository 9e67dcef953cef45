// The no-op fast path of `cairn run`, in plain JavaScript with no dependencies so that it runs
// before TypeScript, Effect or the pipeline are loaded.
//
// After a successful full `cairn run`, the CLI writes a stamp: every file whose change could change
// the run (the pipeline's code closure, cairn itself, the lockfile, every input data file and
// folder, the published outputs) with its (size, mtime, inode), and the stored results the run
// ended with. When the same command is run again and nothing in the stamp changed, every stage
// would be a cache hit by construction, so the stamp's report is printed as is (all cached),
// without loading anything. Any difference, or any doubt, falls through to the normal path.
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"

export const STAMP_FORMAT = 1

/** The nearest folder at or above `from` holding a package.json (else `from`). */
export const projectRootOf = (from) => {
  let dir = path.resolve(from)
  for (;;) {
    if (fs.existsSync(path.join(dir, "package.json"))) return dir
    const parent = path.dirname(dir)
    if (parent === dir) return path.resolve(from)
    dir = parent
  }
}

/** `--cache-dir`, else $CAIRN_CACHE_DIR, else `<project>/cache`. */
export const cacheDirFor = (root, flag) => path.resolve(flag ?? process.env.CAIRN_CACHE_DIR ?? path.join(root, "cache"))

/** The value of `--name v` or `--name=v` in argv, if any. */
const optionValue = (argv, name) => {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) return argv[i + 1]
    if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3)
  }
  return undefined
}

/** What identifies an invocation: same command line, same folder, same Node, same cache setting. */
const invocationKey = (argv) =>
  createHash("sha256")
    .update(JSON.stringify({ argv, cwd: process.cwd(), node: process.version, cache: process.env.CAIRN_CACHE_DIR ?? null }))
    .digest("hex")

/** Where the stamp of a `run` invocation lives, or undefined when it cannot take the fast path. */
export const stampFileFor = (argv) => {
  if (argv[0] !== "run") return undefined
  if (argv.some((a) => a === "--target" || a.startsWith("--target=") || a === "--force" || a.startsWith("--force="))) return undefined
  // Every option of `run` takes a value: skip options and their values to find the pipeline.
  let pipeline
  for (let i = 1; i < argv.length; i++) {
    if (argv[i].startsWith("-")) {
      if (!argv[i].includes("=")) i++
      continue
    }
    pipeline = argv[i]
    break
  }
  if (!pipeline) return undefined
  const root = projectRootOf(path.dirname(path.resolve(pipeline)))
  return path.join(cacheDirFor(root, optionValue(argv, "cache-dir")), "fast", `${invocationKey(argv)}.json`)
}

const stampOf = (file) => {
  const st = fs.statSync(file)
  return [st.size, st.mtimeMs, st.ino]
}

/** Files whose stamps are taken: regular files listed directly, folders walked (files and folders). */
export const collectStamps = (paths) => {
  const files = {}
  const dirs = {}
  const visit = (p) => {
    let st
    try {
      st = fs.statSync(p)
    } catch (error) {
      if (error.code === "ENOENT") {
        files[p] = null
        return
      }
      throw error
    }
    if (st.isDirectory()) {
      dirs[p] = [st.mtimeMs, st.ino]
      for (const name of fs.readdirSync(p).sort()) visit(path.join(p, name))
    } else files[p] = [st.size, st.mtimeMs, st.ino]
  }
  for (const p of [...new Set(paths)].sort()) visit(p)
  return { files, dirs }
}

/** Writes the stamp after a successful full run. */
export const writeStamp = (argv, stamp) => {
  const file = stampFileFor(argv)
  if (!file) return
  const { files, dirs } = collectStamps(stamp.watch)
  const body = {
    format: STAMP_FORMAT,
    files,
    dirs,
    exists: stamp.exists,
    lines: stamp.lines,
    report: stamp.report,
    history: stamp.history,
    touch: stamp.touch,
    copies: stamp.copies,
  }
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const tmp = `${file}.tmp-${process.pid}`
  fs.writeFileSync(tmp, JSON.stringify(body))
  fs.renameSync(tmp, file)
}

/** A folder next to the stamp for files rendered for replays (see `copies`). */
export const replayDirFor = (argv) => {
  const file = stampFileFor(argv)
  return file ? file.replace(/\.json$/, ".replay") : undefined
}

/** Drops the stamp (a run that did not end well must not be replayed). */
export const removeStamp = (argv) => {
  const file = stampFileFor(argv)
  if (file) fs.rmSync(file, { force: true })
}

const unchanged = (stamp) => {
  for (const [file, want] of Object.entries(stamp.files)) {
    let have = null
    try {
      have = stampOf(file)
    } catch (error) {
      if (error.code !== "ENOENT") throw error
    }
    if (JSON.stringify(have) !== JSON.stringify(want)) return false
  }
  for (const [dir, want] of Object.entries(stamp.dirs)) {
    let st
    try {
      st = fs.statSync(dir)
    } catch (error) {
      if (error.code === "ENOENT") return false
      throw error
    }
    if (st.mtimeMs !== want[0] || st.ino !== want[1]) return false
  }
  return stamp.exists.every((p) => fs.existsSync(p))
}

/**
 * Replays a no-op run when its stamp still holds. Returns the exit code, or undefined to take the
 * normal path.
 */
export const tryFastPath = (argv) => {
  if (process.env.CAIRN_NO_FAST_PATH) return undefined
  const file = stampFileFor(argv)
  if (!file || !fs.existsSync(file)) return undefined
  let stamp
  try {
    stamp = JSON.parse(fs.readFileSync(file, "utf8"))
  } catch (error) {
    if (error instanceof SyntaxError) return undefined
    throw error
  }
  if (stamp.format !== STAMP_FORMAT || !unchanged(stamp)) return undefined
  const started = new Date()
  const t0 = performance.now()
  // Files an after-run hook wrote, rendered for this replay when the stamp was made.
  for (const [from, to] of stamp.copies) {
    fs.rmSync(to, { recursive: true, force: true })
    fs.cpSync(from, to, { recursive: true })
  }
  for (const line of stamp.lines) process.stdout.write(`${line}\n`)
  const seconds = Number(((performance.now() - t0) / 1000).toFixed(3))
  const report = { ...stamp.report, startedAt: started.toISOString(), seconds, replayed: true }
  const json = optionValue(argv, "json")
  if (json) {
    fs.mkdirSync(path.dirname(path.resolve(json)), { recursive: true })
    fs.writeFileSync(path.resolve(json), `${JSON.stringify(report, null, 2)}\n`)
  }
  // Keep `cairn runs` and the least-recently-used order of `gc --max-size` as a full run would.
  const now = new Date()
  for (const record of stamp.touch) fs.utimesSync(record, now, now)
  fs.mkdirSync(stamp.history, { recursive: true })
  fs.writeFileSync(path.join(stamp.history, `${started.toISOString().replace(/[:.]/g, "-")}-${process.pid}.json`), JSON.stringify(report, null, 1))
  return 0
}
