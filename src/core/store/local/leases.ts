/**
 * Leases: how runs and `gc` share a store without locking each other out.
 *
 * A run holds a lease file (`leases/<host>-<pid>-<random>`) for its whole duration and appends to it
 * every record, tree, item and object it is about to use, before it checks that they exist. A gc
 * (or clean, or verify) writes the gc marker first, then reads every live lease, and removes only
 * what no lease names. A run that registers something checks the marker after writing: if a gc is
 * under way, it waits for it to end before it looks. Either the gc read the run's registration
 * (and kept the entry), or the run saw the marker (and looks again after the gc): each side writes
 * before it reads the other's file, so one of the two always sees the other.
 *
 * Leases of dead processes on this host are ignored (and removed by gc); leases of other hosts
 * (a store on a shared file system) count as live for a week.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Duration, Effect, type Scope } from "effect"
import { processAlive } from "../../fs-util.js"
import { isNotFound, writeFileAtomicSync } from "../../fs-primitives.js"
import type { StoreError } from "../records.js"
import type { LocalLayout } from "../layout.js"
import { storeTry } from "./trees.js"

const POLL = Duration.millis(50)
const FOREIGN_LEASE_MS = 7 * 24 * 3600 * 1000

/** What a live run uses: gc keeps all of it. */
export interface LeaseRefs {
  readonly records: Set<string>
  readonly trees: Set<string>
  readonly items: Set<string>
  readonly objects: Set<string>
}

export type LeaseRef = readonly ["r" | "t" | "i" | "o", string]

interface Owner {
  readonly pid: number
  readonly host: string
  readonly since: string
}

const alive = (owner: Owner | undefined, mtimeMs: number): boolean => {
  if (!owner) return false
  if (owner.host !== os.hostname()) return Date.now() - mtimeMs < FOREIGN_LEASE_MS
  return processAlive(owner.pid)
}

const readOwner = (file: string): Owner | undefined => {
  try {
    const first = fs.readFileSync(file, "utf8").split("\n", 1)[0]
    return first ? (JSON.parse(first) as Owner) : undefined
  } catch (error) {
    if (isNotFound(error) || error instanceof SyntaxError) return undefined
    throw error
  }
}

export class Leases {
  /** The lease files this process holds on the store (one per `lease()` scope). */
  private readonly held = new Set<string>()

  constructor(private readonly layout: LocalLayout) {}

  /** Takes a lease for the scope. */
  acquire(): Effect.Effect<void, StoreError, Scope.Scope> {
    const file = path.join(this.layout.leasesDir, `${os.hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`)
    return Effect.acquireRelease(
      storeTry(file, "take lease", () => {
        const owner: Owner = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() }
        writeFileAtomicSync(file, `${JSON.stringify(owner)}\n`)
        this.held.add(file)
      }),
      () =>
        Effect.sync(() => {
          this.held.delete(file)
          fs.rmSync(file, { force: true })
        }),
    )
  }

  /**
   * Names what the caller is about to use in every lease held, then waits out a gc under way: after
   * this, whatever still exists stays until the lease ends. Without a lease, only the wait.
   */
  register(refs: ReadonlyArray<LeaseRef>): Effect.Effect<void, StoreError> {
    return Effect.gen(this, function* () {
      if (refs.length > 0) {
        const text = refs.map(([kind, id]) => `${kind} ${id}\n`).join("")
        for (const file of this.held) yield* storeTry(file, "register in lease", () => fs.appendFileSync(file, text))
      }
      yield* this.awaitNoGc()
    })
  }

  /** Waits while another process's gc, clean or verify is removing entries. */
  awaitNoGc(): Effect.Effect<void> {
    return Effect.gen(this, function* () {
      for (;;) {
        let st: fs.Stats
        try {
          st = fs.statSync(this.layout.gcMarker)
        } catch (error) {
          if (isNotFound(error)) return
          throw error
        }
        const owner = readOwner(this.layout.gcMarker)
        if (!alive(owner, st.mtimeMs) || owner?.pid === process.pid) return
        yield* Effect.sleep(POLL)
      }
    }).pipe(Effect.orDie)
  }

  /** Runs `removal` with the gc marker up, after reading what every live lease uses. */
  withMarker<A, E>(removal: (live: LeaseRefs, liveLeases: number) => Effect.Effect<A, E>): Effect.Effect<A, E | StoreError> {
    return Effect.acquireUseRelease(
      storeTry(this.layout.gcMarker, "write gc marker", () =>
        writeFileAtomicSync(this.layout.gcMarker, `${JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString() })}\n`),
      ),
      () => Effect.flatMap(this.live(), ({ refs, count }) => removal(refs, count)),
      () => Effect.sync(() => fs.rmSync(this.layout.gcMarker, { force: true })),
    )
  }

  /** What the live leases (other than our own scopes' bookkeeping) use; dead leases are removed. */
  private live(): Effect.Effect<{ refs: LeaseRefs; count: number }, StoreError> {
    return storeTry(this.layout.leasesDir, "read leases", () => {
      const refs: LeaseRefs = { records: new Set(), trees: new Set(), items: new Set(), objects: new Set() }
      let count = 0
      let names: Array<string> = []
      try {
        names = fs.readdirSync(this.layout.leasesDir)
      } catch (error) {
        if (!isNotFound(error)) throw error
      }
      for (const name of names) {
        const file = path.join(this.layout.leasesDir, name)
        if (file === this.layout.gcMarker || name.includes(".tmp-")) continue
        let text: string
        let mtimeMs: number
        try {
          text = fs.readFileSync(file, "utf8")
          mtimeMs = fs.statSync(file).mtimeMs
        } catch (error) {
          if (isNotFound(error)) continue
          throw error
        }
        const [head, ...lines] = text.split("\n")
        let owner: Owner | undefined
        try {
          owner = head ? (JSON.parse(head) as Owner) : undefined
        } catch (error) {
          if (!(error instanceof SyntaxError)) throw error
        }
        if (!alive(owner, mtimeMs)) {
          fs.rmSync(file, { force: true })
          continue
        }
        count++
        for (const line of lines) {
          const id = line.slice(2)
          if (line.startsWith("r ")) refs.records.add(id)
          else if (line.startsWith("t ")) refs.trees.add(id)
          else if (line.startsWith("i ")) refs.items.add(id)
          else if (line.startsWith("o ")) refs.objects.add(id)
        }
      }
      return { refs, count }
    })
  }
}
