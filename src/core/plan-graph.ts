import type { Plan } from "./pipeline/index.js"

export type DagFormat = "text" | "mermaid" | "dot"

/** Edges of a plan: [upstream id, downstream id, input name]. */
export const planEdges = (plan: Plan): ReadonlyArray<readonly [string, string, string]> =>
  plan.instances.flatMap((inst) =>
    Object.entries(inst.inputs).flatMap(([name, ref]) => (ref.kind === "one" ? [ref.id] : ref.ids).map((up) => [up, inst.id, name] as const)),
  )

const nodeName = (id: string) => `n_${id.replace(/[^a-zA-Z0-9]/g, "_")}`

/** Longest-path layers: every node one layer below its deepest input. */
export const planLayers = (plan: Plan): ReadonlyArray<ReadonlyArray<string>> => {
  const depth = new Map<string, number>()
  for (const inst of plan.instances) {
    const ups = Object.values(inst.inputs).flatMap((r) => (r.kind === "one" ? [r.id] : r.ids))
    depth.set(inst.id, ups.length === 0 ? 0 : Math.max(...ups.map((u) => depth.get(u) ?? 0)) + 1)
  }
  const layers: Array<Array<string>> = []
  for (const inst of plan.instances) {
    const d = depth.get(inst.id)!
    ;(layers[d] ??= []).push(inst.id)
  }
  return layers
}

/** Renders a plan as text (one layer per line group), Mermaid or Graphviz dot. */
export const renderDag = (plan: Plan, format: DagFormat, status?: ReadonlyMap<string, string>): string => {
  const edges = planEdges(plan)
  const label = (id: string) => (status?.get(id) ? `${id} (${status.get(id)})` : id)
  switch (format) {
    case "mermaid": {
      const lines = ["flowchart TD"]
      for (const inst of plan.instances) lines.push(`  ${nodeName(inst.id)}["${label(inst.id)}"]`)
      for (const [a, b] of edges) lines.push(`  ${nodeName(a)} --> ${nodeName(b)}`)
      return lines.join("\n")
    }
    case "dot": {
      const lines = [`digraph "${plan.pipeline.name}" {`, "  rankdir=TB;", "  node [shape=box];"]
      for (const inst of plan.instances) lines.push(`  "${inst.id}" [label="${label(inst.id)}"];`)
      for (const [a, b, name] of edges) lines.push(`  "${a}" -> "${b}" [label="${name}"];`)
      lines.push("}")
      return lines.join("\n")
    }
    case "text": {
      const lines = [`pipeline ${plan.pipeline.name}`]
      for (const inst of plan.instances) {
        const ups = edges.filter(([, b]) => b === inst.id).map(([a, , name]) => `${name}<-${a}`)
        lines.push(`  ${label(inst.id)}${ups.length ? `  [${ups.join(", ")}]` : ""}`)
      }
      return lines.join("\n")
    }
  }
}
