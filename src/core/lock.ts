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
            // Written aside and linked into place: the lock never exists without its owner.
            const aside = tempName(file)
            fs.writeFileSync(aside, JSON.stringify(me))
            try {
              fs.linkSync(aside, file)
              return true
            } catch (error) {
              if (isAlreadyExists(error)) return false
              throw error
            } finally {
              fs.rmSync(aside, { force: true })
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

/**
 * Removes the locks in `dir` left by dead processes on this host (a run killed between its commit
 * and its lock's release leaves one that no later run takes again). Returns how many it removed.
 */
export const sweepStaleLocks = (dir: string): number => {
  let names: Array<string>
  try {
    names = fs.readdirSync(dir)
  } catch (error) {
    if (isNotFound(error)) return 0
    throw error
  }
  let removed = 0
  for (const name of names) {
    const file = path.join(dir, name)
    const writer = /\.tmp-(\d+)-/.exec(name)
    if (writer) {
      if (!processAlive(Number(writer[1]))) fs.rmSync(file, { force: true })
      continue
    }
    if (!name.endsWith(".lock")) continue
    const owner = readOwner(file)
    if (owner && owner.host === os.hostname() && !processAlive(owner.pid)) {
      breakStale(file, owner)
      removed++
    }
  }
  return removed
}
