import { describe, expect, it } from "vitest"
import { type DagInput, dagLayout, dagSvg, separatedPositions } from "../../src/report/dag/index.js"
import { DagInvalid } from "../../src/report/report-errors.js"
import { STATUS_STYLES } from "../../src/report/theme.js"
import { left, right } from "../support/assert-helpers.js"
import { fakeHmsReportData } from "./fake-hms.js"
import { unescapeXml } from "./svg-inspect.js"

const hmsDag = (): DagInput => {
  const data = fakeHmsReportData()
  return { nodes: data.stages.map((s) => ({ id: s.id, status: s.status, detail: `${s.seconds} s` })), edges: data.edges }
}

/** `<g class="dag-node status-X" data-id="..." ...>` groups of the SVG. */
const nodeGroups = (svg: string) =>
  [...svg.matchAll(/<g class="dag-node status-([a-z]+)" data-id="([^"]*)" data-status="([a-z]+)">(.*?)<\/g>/gs)].map((m) => ({
    statusClass: m[1]!,
    id: unescapeXml(m[2]!),
    status: m[3]!,
    body: m[4]!,
  }))

describe("dagSvg", () => {
  it("draws one box per node with its status class, colour and label, and one arrow per edge", () => {
    const input = hmsDag()
    const svg = right(dagSvg(input))
    const groups = nodeGroups(svg)
    expect(groups.map((g) => g.id)).toEqual(input.nodes.map((n) => n.id))
    for (const [i, g] of groups.entries()) {
      const node = input.nodes[i]!
      expect(g.statusClass).toBe(node.status)
      expect(g.status).toBe(node.status)
      expect(g.body.match(/<rect /g)).toHaveLength(1)
      expect(g.body).toContain(`fill="${STATUS_STYLES[node.status].fill}"`)
      expect(g.body).toContain(`>${node.id}</text>`)
      expect(g.body).toContain(`>${node.detail}</text>`)
    }
    expect(svg.match(/<g class="dag-edge"/g)).toHaveLength(input.edges.length)
    expect(svg.match(/class="dag-arrow"/g)).toHaveLength(input.edges.length)
    // The legend names every status with its count.
    expect(svg).toContain(">ran 10</text>")
    expect(svg).toContain(">cached 6</text>")
    expect(svg).toContain(">failed 0</text>")
    expect(svg).toContain(">skipped 1</text>")
    expect(right(dagSvg(input))).toBe(svg)
  })

  it("escapes ids in text and attributes", () => {
    const svg = right(dagSvg({ nodes: [{ id: `<b>"x" & 'y'`, status: "failed" }], edges: [] }))
    expect(svg).not.toContain("<b>")
    expect(svg).toContain(`data-id="&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;"`)
    expect(nodeGroups(svg)[0]!.id).toBe(`<b>"x" & 'y'`)
  })

  it("rejects unknown nodes, duplicate ids, self loops and cycles", () => {
    const nodes = [
      { id: "a", status: "ran" as const },
      { id: "b", status: "ran" as const },
      { id: "c", status: "ran" as const },
    ]
    expect(left(dagSvg({ nodes, edges: [["a", "z"]] }))).toBeInstanceOf(DagInvalid)
    expect(
      left(
        dagSvg({
          nodes,
          edges: [
            ["a", "b"],
            ["a", "z"],
          ],
        }),
      ).message,
    ).toBe(`DAG edges[1][1]: "z" is not a node`)
    expect(left(dagSvg({ nodes: [...nodes, { id: "a", status: "cached" }], edges: [] })).field).toBe("nodes[3].id")
    expect(left(dagSvg({ nodes, edges: [["b", "b"]] })).field).toBe("edges[0]")
    expect(
      left(
        dagSvg({
          nodes,
          edges: [
            ["a", "b"],
            ["b", "c"],
            ["c", "b"],
          ],
        }),
      ).message,
    ).toBe("DAG edges: cycle among b, c")
  })
})

describe("dagLayout", () => {
  it("layers by longest path, keeps boxes in a layer apart, and routes long edges around boxes", () => {
    const input = hmsDag()
    const layout = right(dagLayout(input))
    const byId = new Map(layout.nodes.map((n) => [n.id, n]))
    const layer = (id: string) => byId.get(id)!.layer
    expect(layer("train-csv")).toBe(0)
    expect(layer("train-table")).toBe(1)
    expect(layer("split")).toBe(2)
    expect(layer("preprocess-train")).toBe(3)
    for (let f = 0; f < 5; f++) expect(layer(`train/fold-${f}`)).toBe(4)
    expect(layer("oof")).toBe(5)
    expect(layer("submission")).toBe(6)
    expect(layer("report")).toBe(7)
    expect(layout.layers).toBe(8)
    // Every edge goes down, from the source's bottom to the target's top.
    for (const e of layout.edges) {
      const from = byId.get(e.from)!
      const to = byId.get(e.to)!
      expect(to.layer).toBeGreaterThan(from.layer)
      expect(e.points[0]![1]).toBe(from.y + from.height)
      expect(e.points[e.points.length - 1]![1]).toBe(to.y)
      expect(Math.abs(e.points[0]![0] - from.x)).toBeLessThanOrEqual(from.width / 2)
      expect(Math.abs(e.points[e.points.length - 1]![0] - to.x)).toBeLessThanOrEqual(to.width / 2)
      // One bend point per layer crossed; none of them inside a box.
      expect(e.points).toHaveLength(to.layer - from.layer + 1)
      for (const [px, py] of e.points.slice(1, -1)) {
        for (const n of layout.nodes) {
          const inside = px > n.x - n.width / 2 && px < n.x + n.width / 2 && py > n.y && py < n.y + n.height
          expect(inside, `${e.from} → ${e.to} passes through ${n.id}`).toBe(false)
        }
      }
    }
    // Boxes never overlap, and all lie inside the drawing.
    for (const a of layout.nodes) {
      expect(a.x - a.width / 2).toBeGreaterThanOrEqual(0)
      expect(a.x + a.width / 2).toBeLessThanOrEqual(layout.width)
      expect(a.y + a.height).toBeLessThanOrEqual(layout.height)
      for (const b of layout.nodes) {
        if (a === b || a.layer !== b.layer) continue
        expect(Math.abs(a.x - b.x)).toBeGreaterThanOrEqual((a.width + b.width) / 2)
      }
    }
    // The five folds side by side, in fold order.
    const folds = [0, 1, 2, 3, 4].map((f) => byId.get(`train/fold-${f}`)!)
    for (let f = 1; f < 5; f++) expect(folds[f]!.x).toBeGreaterThan(folds[f - 1]!.x)
  })

  it("untangles a crossing given in the input order", () => {
    const input: DagInput = {
      nodes: ["a", "b", "c", "d"].map((id) => ({ id, status: "ran" as const })),
      edges: [
        ["a", "d"],
        ["b", "c"],
      ],
    }
    const layout = right(dagLayout(input))
    expect(layout.crossings).toBe(0)
    const x = new Map(layout.nodes.map((n) => [n.id, n.x]))
    expect(Math.sign(x.get("a")! - x.get("b")!)).toBe(Math.sign(x.get("d")! - x.get("c")!))
  })

  it("draws an empty graph as just the legend", () => {
    const layout = right(dagLayout({ nodes: [], edges: [] }))
    expect(layout.nodes).toHaveLength(0)
    expect(right(dagSvg({ nodes: [], edges: [] }))).toContain(`class="dag-legend"`)
  })
})

describe("separatedPositions", () => {
  it("is the least-squares placement that keeps the gaps", () => {
    expect(separatedPositions([0, 0, 0], [10, 10])).toEqual([-10, 0, 10])
    expect(separatedPositions([0, 100], [10])).toEqual([0, 100])
    expect(separatedPositions([5, 0, 100], [10, 10])).toEqual([-2.5, 7.5, 100])
    expect(separatedPositions([], [])).toEqual([])
  })
})
