import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Duration, Effect, type Scope } from "effect"
import { FileError } from "./errors.js"
import { isAlreadyExists, isNotFound, processAlive, tempName } from "./fs-util.js"

interface LockOwner {
  readonly pid: number
  readonly host: string
  readonly since: string
}

const POLL = Duration.millis(50)

const readOwner = (file: string): LockOwner | undefined => {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as LockOwner
  } catch (error) {
    // Gone already, or caught between create and write: the caller polls again.
    if (isNotFound(error) || error instanceof SyntaxError) return undefined
    throw error
  }
}

/**
 * Breaks a lock whose owner died (SIGKILL): renames it aside first, then checks that what it
 * moved is the dead owner's file, so two waiters cannot both break it and delete a live lock.
 */
const breakStale = (file: string, stale: LockOwner): void => {
  const aside = tempName(file)
  try {
    fs.renameSync(file, aside)
  } catch (error) {
    if (isNotFound(error)) return
    throw error
  }
  const moved = readOwner(aside)
  if (moved && (moved.pid !== stale.pid || moved.since !== stale.since)) {
    // We moved a fresh lock taken in between: put it back unless someone took the name since.
    try {
      fs.linkSync(aside, file)
    } catch (error) {
      if (!isAlreadyExists(error)) throw error
    }
  }
  fs.rmSync(aside, { force: true })
}

/**
 * An exclusive lock on `file` held for the enclosing scope. Waits (polling) while another live
 * process or fiber holds it; a lock left by a dead process on this host is broken.
 * `onWait` runs once when the lock is first found taken.
 */
export const withFileLock = (file: string, onWait?: (owner: LockOwner) => Effect.Effect<void>) =>
  Effect.acquireRelease(
    Effect.gen(function* () {
      yield* Effect.try({
        try: () => fs.mkdirSync(path.dirname(file), { recursive: true }),
        catch: (error) => new FileError({ file, operation: "lock", detail: String(error) }),
      })
      const me: LockOwner = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() + Math.random() }
      let waited = false
      for (;;) {
        const took = yield* Effect.try({
          try: () => {
            try {
              fs.writeFileSync(file, JSON.stringify(me), { flag: "wx" })
              return true
            } catch (error) {
              if (isAlreadyExists(error)) return false
              throw error
            }
          },
          catch: (error) => new FileError({ file, operation: "lock", detail: String(error) }),
        })
        if (took) return me
        const owner = readOwner(file)
        if (owner && owner.host === me.host && !processAlive(owner.pid)) {
          yield* Effect.try({
            try: () => breakStale(file, owner),
            catch: (error) => new FileError({ file, operation: "break stale lock", detail: String(error) }),
          })
          continue
        }
        if (!waited && owner && onWait) yield* onWait(owner)
        waited = true
        yield* Effect.sleep(POLL)
      }
    }),
    (me) =>
      Effect.sync(() => {
        const owner = readOwner(file)
        if (owner && owner.pid === me.pid && owner.since === me.since) fs.rmSync(file, { force: true })
      }),
  ) satisfies Effect.Effect<LockOwner, FileError, Scope.Scope>
