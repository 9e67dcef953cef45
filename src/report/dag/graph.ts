/** The graph's checks: known, unique ids; no self-loop; no cycle (a topological order). */
import { Either } from "effect"
import { DagInvalid } from "../report-errors.js"
import { STAGE_STATUSES } from "../theme.js"
import type { DagInput } from "./dag-layout.js"

/** Validates the graph; returns the deduplicated edges as node indices. */
export const checkGraph = (input: DagInput): Either.Either<ReadonlyArray<readonly [number, number]>, DagInvalid> =>
  Either.gen(function* () {
    const index = new Map<string, number>()
    for (const [i, n] of input.nodes.entries()) {
      if (n.id === "") return yield* Either.left(new DagInvalid({ field: `nodes[${i}].id`, reason: "is empty" }))
      if (!STAGE_STATUSES.includes(n.status)) {
        return yield* Either.left(
          new DagInvalid({ field: `nodes[${i}].status`, reason: `${JSON.stringify(n.status)} is not one of ${STAGE_STATUSES.join(", ")}` }),
        )
      }
      const before = index.get(n.id)
      if (before !== undefined) return yield* Either.left(new DagInvalid({ field: `nodes[${i}].id`, reason: `"${n.id}" repeats nodes[${before}].id` }))
      index.set(n.id, i)
    }
    const seen = new Set<string>()
    const edges: Array<readonly [number, number]> = []
    for (const [i, [from, to]] of input.edges.entries()) {
      const a = index.get(from)
      const b = index.get(to)
      if (a === undefined) return yield* Either.left(new DagInvalid({ field: `edges[${i}][0]`, reason: `"${from}" is not a node` }))
      if (b === undefined) return yield* Either.left(new DagInvalid({ field: `edges[${i}][1]`, reason: `"${to}" is not a node` }))
      if (a === b) return yield* Either.left(new DagInvalid({ field: `edges[${i}]`, reason: `"${from}" depends on itself` }))
      const key = `${a} ${b}`
      if (seen.has(key)) continue
      seen.add(key)
      edges.push([a, b])
    }
    return edges
  })

/** Kahn's algorithm, ready nodes taken in input order; fails on a cycle. */
export const topologicalOrder = (n: number, edges: ReadonlyArray<readonly [number, number]>, ids: ReadonlyArray<string>) => {
  const indegree = new Array<number>(n).fill(0)
  const succs: Array<Array<number>> = Array.from({ length: n }, () => [])
  for (const [a, b] of edges) {
    indegree[b]! += 1
    succs[a]!.push(b)
  }
  const done = new Array<boolean>(n).fill(false)
  const order: Array<number> = []
  while (order.length < n) {
    const next = indegree.findIndex((d, i) => d === 0 && !done[i])
    if (next < 0) {
      const stuck = ids.filter((_, i) => !done[i])
      return Either.left(new DagInvalid({ field: "edges", reason: `cycle among ${stuck.join(", ")}` }))
    }
    done[next] = true
    order.push(next)
    for (const s of succs[next]!) indegree[s]! -= 1
  }
  return Either.right(order)
}
