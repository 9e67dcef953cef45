/**
 * The pipeline files a worker serves. A job names the pipeline file the worker imports, and
 * importing a module runs its code: a worker imports only a `.ts`/`.js`/`.mts` file that lies,
 * symlinks resolved, in a folder it serves (`pipelines/` of its checkout by default, `cairn worker
 * --pipelines DIR` for more), never one in its cache (where results pulled from the remote cache
 * lie) nor in a node_modules folder. Checked before the job is read further: no pull, no import.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Either } from "effect"
import { describeError } from "../errors.js"
import { FIELD_MAX, printable } from "../printable.js"

/** The folder a worker serves when none is named, relative to its checkout. */
export const DEFAULT_PIPELINES_DIR = "pipelines"

/** What a job's pipeline file may end with. */
const PIPELINE_EXTENSIONS = [".ts", ".js", ".mts"] as const

export interface ServedFolders {
  /** The checkout: job pipeline paths are relative to it. */
  readonly root: string
  /** Each served folder, symlinks resolved. */
  readonly folders: ReadonlyArray<string>
  /** The folders as the user gave them (relative to the checkout where inside it), for messages. */
  readonly shown: ReadonlyArray<string>
  /** The worker's cache folder (nothing in it is ever imported). */
  readonly cacheDir: string
}

const inside = (folder: string, file: string): boolean => {
  const rel = path.relative(folder, file)
  return rel !== "" && !rel.startsWith(`..${path.sep}`) && rel !== ".." && !path.isAbsolute(rel)
}

const hasNodeModules = (p: string): boolean => p.split(path.sep).includes("node_modules")

/** `p` with symlinks resolved as far as it exists (a cache folder not made yet is still compared). */
const realOrResolved = (p: string): string => {
  try {
    return fs.realpathSync(p)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error
    return path.resolve(p)
  }
}

/**
 * The folders `dirs` (relative to `cwd`; none: `pipelines/` of the checkout) checked: each must be
 * a folder, outside the cache and any node_modules. Left: why one cannot be served.
 */
export const servedFoldersFrom = (root: string, cwd: string, dirs: ReadonlyArray<string>, cacheDir: string): Either.Either<ServedFolders, string> => {
  const given = dirs.length ? dirs.map((d) => path.resolve(cwd, d)) : [path.join(root, DEFAULT_PIPELINES_DIR)]
  const cache = realOrResolved(cacheDir)
  const folders: Array<string> = []
  const shown: Array<string> = []
  for (const dir of given) {
    const name = inside(root, dir) ? `${path.relative(root, dir).split(path.sep).join("/")}/` : dir
    let real: string
    try {
      real = fs.realpathSync(dir)
    } catch (error) {
      return Either.left(
        `pipeline folder ${name}: ${describeError(error)}${dirs.length ? "" : ": a worker serves the pipelines/ folder of its checkout; name others with --pipelines DIR"}`,
      )
    }
    if (!fs.statSync(real).isDirectory()) return Either.left(`pipeline folder ${name} is not a folder`)
    if (real === cache || inside(cache, real))
      return Either.left(`pipeline folder ${name} lies in the cache ${cacheDir}: results pulled from the remote cache lie there, and are never imported`)
    if (hasNodeModules(real)) return Either.left(`pipeline folder ${name} lies in a node_modules folder: its modules are never imported as pipelines`)
    folders.push(real)
    shown.push(name)
  }
  return Either.right({ root, folders, shown, cacheDir: cache })
}

/**
 * The absolute path of the job's pipeline file `rel` (relative to the checkout, with '/') when this
 * worker serves it; Left: why not, naming the file and the served folders.
 */
export const servedPipelineFile = (served: ServedFolders, rel: string): Either.Either<string, string> => {
  const named = printable(rel, FIELD_MAX)
  const refuse = (why: string) =>
    Either.left(`its pipeline file ${named} ${why}; this worker serves ${served.shown.join(", ")} (cairn worker --pipelines DIR serves another folder)`)
  if (rel === "" || rel.includes("\0") || path.isAbsolute(rel)) return refuse("is not a path relative to the checkout")
  if (!PIPELINE_EXTENSIONS.some((e) => rel.endsWith(e))) return refuse(`is not a ${PIPELINE_EXTENSIONS.join("/")} file`)
  const file = path.resolve(served.root, rel)
  if (!inside(served.root, file)) return refuse("is outside this checkout")
  let real: string
  try {
    real = fs.realpathSync(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT" || (error as NodeJS.ErrnoException).code === "ENOTDIR") return refuse("does not exist here")
    return refuse(`cannot be read here (${(error as NodeJS.ErrnoException).code ?? "error"})`)
  }
  // Resolved: a symlink in a served folder to a file elsewhere does not make that file served.
  const folder = served.folders.find((f) => inside(f, real))
  if (!folder) return refuse("is not in a folder this worker serves")
  if (!PIPELINE_EXTENSIONS.some((e) => real.endsWith(e))) return refuse(`is a link to a file that is not a ${PIPELINE_EXTENSIONS.join("/")} file`)
  if (real === served.cacheDir || inside(served.cacheDir, real)) return refuse("lies in this worker's cache")
  if (hasNodeModules(path.relative(folder, real))) return refuse("lies in a node_modules folder")
  if (!fs.statSync(real).isFile()) return refuse("is not a file")
  return Either.right(file)
}
