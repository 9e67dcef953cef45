import * as fs from "node:fs"
import { Effect } from "effect"
import { describeError, FileError } from "./errors.js"
import { isErrno, isNotFound, tempName, writeFileAtomicSync } from "./fs-primitives.js"

export { isErrno, isNotFound, tempName }

export const isAlreadyExists = (error: unknown): boolean => isErrno(error, "EEXIST")

/** Writes a file by writing a sibling temp file and renaming it over the target. */
export const atomicWriteFileSync = (file: string, data: string | Uint8Array): Effect.Effect<void, FileError> =>
  Effect.try({
    try: () => writeFileAtomicSync(file, data),
    catch: (error) => new FileError({ file, operation: "write", detail: describeError(error), cause: error }),
  })

/**
 * Reads and parses a JSON file; undefined when it does not exist or is not valid JSON (a memo or a
 * record torn by a crash is treated as absent, never trusted).
 */
export const readJsonFileSync = <T>(file: string): T | undefined => {
  let text: string
  try {
    text = fs.readFileSync(file, "utf8")
  } catch (error) {
    if (isNotFound(error)) return undefined
    throw error
  }
  try {
    return JSON.parse(text) as T
  } catch (error) {
    if (error instanceof SyntaxError) return undefined
    throw error
  }
}

/** `fs.rmSync(recursive, force)` as an Effect. */
export const removeTree = (target: string): Effect.Effect<void, FileError> =>
  Effect.try({
    try: () => fs.rmSync(target, { recursive: true, force: true }),
    catch: (error) => new FileError({ file: target, operation: "remove", detail: describeError(error), cause: error }),
  })

/** Runs a synchronous file operation, mapping a thrown error to a FileError naming the file. */
export const fsTry = <A>(file: string, operation: string, f: () => A): Effect.Effect<A, FileError> =>
  Effect.try({ try: f, catch: (error) => new FileError({ file, operation, detail: describeError(error), cause: error }) })

/** Whether a process with this pid is alive on this machine. */
export const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return isErrno(error, "EPERM")
  }
}

/** Bytes per size suffix ("" = bytes, then k, m, g, t: binary units), for every size cairn reads. */
export const SIZE_UNITS: Readonly<Record<string, number>> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }

/** Parses sizes like "500M", "2G", "1.5GB", "1024" (bytes). */
export const parseSize = (text: string): number | undefined => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$/i.exec(text)
  if (!m) return undefined
  const unit = SIZE_UNITS[(m[2] ?? "").toLowerCase()]
  return unit === undefined ? undefined : Math.round(Number(m[1]) * unit)
}

/** Units of `formatBytes`, each 1024 times the one before. */
const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"] as const
/** From this unit on (GiB), `formatBytes` keeps one decimal: "9.8 GiB". */
const FIRST_DECIMAL_UNIT = 3

/** `bytes` for people: "512 B", "12 KiB", "512 MiB" (whole below a GiB), then "4 GiB", "9.8 GiB", "1.2 TiB". */
export const formatBytes = (bytes: number): string => {
  let value = bytes
  let i = 0
  while (value >= 1024 && i < BYTE_UNITS.length - 1) {
    value /= 1024
    i++
  }
  return `${i < FIRST_DECIMAL_UNIT ? Math.round(value) : Number(value.toFixed(1))} ${BYTE_UNITS[i]}`
}
