/**
 * Draws a pipeline DAG as a standalone SVG, without a layout library:
 *
 * 1. layers by longest path from the sources (a node sits one layer below its deepest input);
 * 2. an edge that spans several layers gets one invisible "dummy" point per layer it crosses, so it
 *    bends around the boxes in between instead of running through them;
 * 3. the order inside each layer comes from barycenter sweeps (down, then up), keeping the order with
 *    the fewest edge crossings;
 * 4. x positions: each node is pulled towards the mean x of its neighbours in the layer above (then
 *    below), and the closest positions that keep the boxes apart are found exactly (isotonic
 *    regression by pool-adjacent-violators);
 * 5. edges are cubic curves that leave a box's bottom and enter the next box's top vertically, ending
 *    in an arrowhead drawn as a triangle (no `<marker>`, so no ids that could clash in a page).
 *
 * Everything is a pure function of the input: same nodes and edges, same SVG.
 */
import { Either } from "effect"
import { DagInvalid } from "./errors.js"
import { escapeXml } from "./escape.js"
import { FONT_MONO, FONT_SANS, FONT_SIZE, FONT_SIZE_SMALL, INK, INK_MUTED, MONO_CHAR_EM, STAGE_STATUSES, type StageStatus, STATUS_STYLES } from "./theme.js"

export interface DagNode {
  readonly id: string
  readonly status: StageStatus
  /** A second, smaller line in the box (e.g. "12.3 s"). */
  readonly detail?: string
}

export interface DagInput {
  readonly nodes: ReadonlyArray<DagNode>
  /** `[from, to]`: `to` consumes `from`'s output. */
  readonly edges: ReadonlyArray<readonly [string, string]>
  /** The SVG's accessible title; default "Pipeline DAG". */
  readonly title?: string
}

export interface PlacedNode {
  readonly id: string
  readonly status: StageStatus
  readonly detail: string | undefined
  readonly layer: number
  /** Position in its layer, left to right, counting dummy points. */
  readonly order: number
  /** Centre x, top y, size. */
  readonly x: number
  readonly y: number
  readonly width: number
  readonly height: number
}

export interface PlacedEdge {
  readonly from: string
  readonly to: string
  /** Start (source's bottom), the dummy points it passes, end (target's top). */
  readonly points: ReadonlyArray<readonly [number, number]>
}

export interface DagLayout {
  readonly width: number
  readonly height: number
  readonly layers: number
  readonly nodes: ReadonlyArray<PlacedNode>
  readonly edges: ReadonlyArray<PlacedEdge>
  /** Edge crossings of the chosen order (between adjacent layers, dummies included). */
  readonly crossings: number
}

/** Geometry, px. */
const MARGIN = 16
const LEGEND_HEIGHT = 22
const LEGEND_SWATCH = 14
const LEGEND_GAP = 18
const BOX_PAD_X = 12
const BOX_MIN_WIDTH = 72
const BOX_HEIGHT = 32
const BOX_HEIGHT_DETAIL = 46
const BOX_RADIUS = 6
const LAYER_GAP = 42
const NODE_GAP = 22
const DUMMY_WIDTH = 6
/** Distance between the ports of a box's edges (less when the box is too narrow). */
const PORT_SPACING = 12
const ARROW_LENGTH = 8
const ARROW_HALF_WIDTH = 4
const EDGE_COLOR = "#7b8794"
const EDGE_WIDTH = 1.4
/** Labels longer than this are cut with an ellipsis (the full id is in the box's tooltip). */
const MAX_LABEL_CHARS = 34
/** Ordering sweeps (one down and one up each) and placement iterations. */
const ORDER_SWEEPS = 12
const PLACE_ITERATIONS = 24
/** Coordinates are written with this many decimals. */
const COORD_DECIMALS = 1

const fmt = (v: number): string => String(Number(v.toFixed(COORD_DECIMALS)))

const label = (id: string): string => (id.length > MAX_LABEL_CHARS ? `${id.slice(0, MAX_LABEL_CHARS - 1)}…` : id)
const textWidth = (text: string, size: number): number => [...text].length * size * MONO_CHAR_EM

interface Item {
  /** Index into the input nodes, or -1 for a dummy point. */
  readonly node: number
  readonly layer: number
  readonly width: number
  preds: Array<number>
  succs: Array<number>
  x: number
}

/** Validates the graph; returns the deduplicated edges as node indices. */
const checkGraph = (input: DagInput): Either.Either<ReadonlyArray<readonly [number, number]>, DagInvalid> =>
  Either.gen(function* () {
    const index = new Map<string, number>()
    for (const [i, n] of input.nodes.entries()) {
      if (n.id === "") return yield* Either.left(new DagInvalid({ field: `nodes[${i}].id`, reason: "is empty" }))
      if (!STAGE_STATUSES.includes(n.status)) {
        return yield* Either.left(new DagInvalid({ field: `nodes[${i}].status`, reason: `${JSON.stringify(n.status)} is not one of ${STAGE_STATUSES.join(", ")}` }))
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
const topologicalOrder = (n: number, edges: ReadonlyArray<readonly [number, number]>, ids: ReadonlyArray<string>) => {
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

/** Number of crossings between the edges from layer `upper` to the next one. */
const crossingsBetween = (items: ReadonlyArray<Item>, upper: ReadonlyArray<number>, pos: ReadonlyMap<number, number>): number => {
  const segs: Array<readonly [number, number]> = []
  for (const u of upper) for (const v of items[u]!.succs) segs.push([pos.get(u)!, pos.get(v)!])
  let count = 0
  for (let i = 0; i < segs.length; i++) {
    for (let j = i + 1; j < segs.length; j++) {
      const [a, b] = segs[i]!
      const [c, d] = segs[j]!
      if ((a - c) * (b - d) < 0) count++
    }
  }
  return count
}

const positions = (layers: ReadonlyArray<ReadonlyArray<number>>): Map<number, number> => {
  const pos = new Map<number, number>()
  for (const layer of layers) for (const [i, it] of layer.entries()) pos.set(it, i)
  return pos
}

const totalCrossings = (items: ReadonlyArray<Item>, layers: ReadonlyArray<ReadonlyArray<number>>): number => {
  const pos = positions(layers)
  let sum = 0
  for (let l = 0; l + 1 < layers.length; l++) sum += crossingsBetween(items, layers[l]!, pos)
  return sum
}

/** Reorders one layer by the mean position of each item's neighbours (stable; items without any keep their place). */
const barycenterSort = (layer: ReadonlyArray<number>, neighbours: (it: number) => ReadonlyArray<number>, pos: ReadonlyMap<number, number>): Array<number> => {
  const keyed = layer.map((it, i) => {
    const ns = neighbours(it)
    const key = ns.length === 0 ? i : ns.reduce((s, v) => s + pos.get(v)!, 0) / ns.length
    return { it, key, i }
  })
  keyed.sort((a, b) => a.key - b.key || a.i - b.i)
  return keyed.map((k) => k.it)
}

/**
 * The x positions closest (least squares) to `desired` that keep the items in order and at least
 * `gaps[i]` apart between item i and i + 1: pool-adjacent-violators on the offset targets.
 */
export const separatedPositions = (desired: ReadonlyArray<number>, gaps: ReadonlyArray<number>): Array<number> => {
  const offsets: Array<number> = [0]
  for (let i = 0; i < gaps.length; i++) offsets.push(offsets[i]! + gaps[i]!)
  const blocks: Array<{ sum: number; count: number }> = []
  for (let i = 0; i < desired.length; i++) {
    blocks.push({ sum: desired[i]! - offsets[i]!, count: 1 })
    while (blocks.length > 1) {
      const last = blocks[blocks.length - 1]!
      const prev = blocks[blocks.length - 2]!
      if (prev.sum / prev.count <= last.sum / last.count) break
      prev.sum += last.sum
      prev.count += last.count
      blocks.pop()
    }
  }
  const out: Array<number> = []
  for (const b of blocks) for (let k = 0; k < b.count; k++) out.push(b.sum / b.count + offsets[out.length]!)
  return out
}

/** Lays the DAG out (see the module comment). */
export const dagLayout = (input: DagInput): Either.Either<DagLayout, DagInvalid> =>
  Either.gen(function* () {
    const edges = yield* checkGraph(input)
    const n = input.nodes.length
    const ids = input.nodes.map((x) => x.id)
    const topo = yield* topologicalOrder(n, edges, ids)
    const layerOf = new Array<number>(n).fill(0)
    const predsOf: Array<Array<number>> = Array.from({ length: n }, () => [])
    for (const [a, b] of edges) predsOf[b]!.push(a)
    for (const v of topo) for (const u of predsOf[v]!) layerOf[v] = Math.max(layerOf[v]!, layerOf[u]! + 1)
    const nLayers = n === 0 ? 0 : Math.max(...layerOf) + 1
    const hasDetail = input.nodes.some((x) => x.detail !== undefined && x.detail !== "")
    const boxHeight = hasDetail ? BOX_HEIGHT_DETAIL : BOX_HEIGHT

    // Items: the nodes, then a dummy per crossed layer of each long edge.
    const items: Array<Item> = input.nodes.map((node, i) => ({
      node: i,
      layer: layerOf[i]!,
      width: Math.max(BOX_MIN_WIDTH, textWidth(label(node.id), FONT_SIZE) + 2 * BOX_PAD_X, textWidth(node.detail ?? "", FONT_SIZE_SMALL) + 2 * BOX_PAD_X),
      preds: [],
      succs: [],
      x: 0,
    }))
    const chains: Array<{ from: number; to: number; path: Array<number> }> = []
    for (const [a, b] of edges) {
      const path = [a]
      for (let l = layerOf[a]! + 1; l < layerOf[b]!; l++) {
        items.push({ node: -1, layer: l, width: DUMMY_WIDTH, preds: [], succs: [], x: 0 })
        path.push(items.length - 1)
      }
      path.push(b)
      for (let k = 0; k + 1 < path.length; k++) {
        items[path[k]!]!.succs.push(path[k + 1]!)
        items[path[k + 1]!]!.preds.push(path[k]!)
      }
      chains.push({ from: a, to: b, path })
    }

    // Order within layers: input order (dummies in edge order), then barycenter sweeps.
    let layers: Array<Array<number>> = Array.from({ length: nLayers }, () => [])
    for (const [i, it] of items.entries()) layers[it.layer]!.push(i)
    let best = layers.map((l) => [...l])
    let bestCrossings = totalCrossings(items, layers)
    for (let sweep = 0; sweep < ORDER_SWEEPS && bestCrossings > 0; sweep++) {
      for (let l = 1; l < nLayers; l++) layers[l] = barycenterSort(layers[l]!, (it) => items[it]!.preds, positions(layers))
      for (let l = nLayers - 2; l >= 0; l--) layers[l] = barycenterSort(layers[l]!, (it) => items[it]!.succs, positions(layers))
      const c = totalCrossings(items, layers)
      if (c < bestCrossings) {
        bestCrossings = c
        best = layers.map((x) => [...x])
      }
    }
    layers = best

    // x: packed and centred, then pulled towards neighbours, alternately from above and below.
    const gapsOf = (layer: ReadonlyArray<number>) =>
      layer.slice(1).map((it, k) => (items[layer[k]!]!.width + items[it]!.width) / 2 + NODE_GAP)
    for (const layer of layers) {
      const gaps = gapsOf(layer)
      const total = gaps.reduce((s, g) => s + g, 0)
      let x = -total / 2
      for (const [k, it] of layer.entries()) {
        items[it]!.x = x
        x += gaps[k] ?? 0
      }
    }
    for (let iter = 0; iter < PLACE_ITERATIONS; iter++) {
      const down = iter % 2 === 0
      const range = down ? layers.map((_, l) => l).slice(1) : layers.map((_, l) => l).slice(0, -1).reverse()
      for (const l of range) {
        const layer = layers[l]!
        const desired = layer.map((it) => {
          const ns = down ? items[it]!.preds : items[it]!.succs
          return ns.length === 0 ? items[it]!.x : ns.reduce((s, v) => s + items[v]!.x, 0) / ns.length
        })
        const xs = separatedPositions(desired, gapsOf(layer))
        for (const [k, it] of layer.entries()) items[it]!.x = xs[k]!
      }
    }

    // Legend width decides the minimum drawing width.
    const legendWidth = STAGE_STATUSES.reduce((s, st) => s + LEGEND_SWATCH + 6 + textWidth(`${st} 00`, FONT_SIZE_SMALL) + LEGEND_GAP, 0)
    const left = Math.min(...items.map((it) => it.x - it.width / 2), 0)
    const right = Math.max(...items.map((it) => it.x + it.width / 2), 0)
    const shift = MARGIN - left
    const width = Math.max(right - left + 2 * MARGIN, legendWidth + 2 * MARGIN)
    const centre = (width - (right - left + 2 * MARGIN)) / 2
    const top = MARGIN + LEGEND_HEIGHT + LEGEND_GAP
    const layerY = (l: number) => top + l * (boxHeight + LAYER_GAP)
    const height = nLayers === 0 ? top + MARGIN : layerY(nLayers - 1) + boxHeight + MARGIN
    const xOf = (it: number) => items[it]!.x + shift + centre

    const order = new Map<number, number>()
    for (const layer of layers) for (const [k, it] of layer.entries()) order.set(it, k)
    const nodes: Array<PlacedNode> = input.nodes.map((node, i) => ({
      id: node.id,
      status: node.status,
      detail: node.detail === "" ? undefined : node.detail,
      layer: layerOf[i]!,
      order: order.get(i)!,
      x: xOf(i),
      y: layerY(layerOf[i]!),
      width: items[i]!.width,
      height: boxHeight,
    }))

    // Ports: a node's outgoing edges leave its bottom side by side, ordered by where they go next;
    // incoming edges enter its top ordered by where they come from.
    const portX = (v: number, k: number, count: number) => {
      const spacing = Math.min(PORT_SPACING, (items[v]!.width - 2 * BOX_RADIUS) / Math.max(1, count - 1))
      return xOf(v) + (k - (count - 1) / 2) * spacing
    }
    const outPort = new Map<string, number>()
    const inPort = new Map<string, number>()
    for (let v = 0; v < n; v++) {
      const outs = chains.filter((c) => c.from === v).sort((a, b) => xOf(a.path[1]!) - xOf(b.path[1]!) || a.to - b.to)
      for (const [k, c] of outs.entries()) outPort.set(`${c.from} ${c.to}`, portX(v, k, outs.length))
      const ins = chains.filter((c) => c.to === v).sort((a, b) => xOf(a.path[a.path.length - 2]!) - xOf(b.path[b.path.length - 2]!) || a.from - b.from)
      for (const [k, c] of ins.entries()) inPort.set(`${c.from} ${c.to}`, portX(v, k, ins.length))
    }
    const placedEdges: Array<PlacedEdge> = chains.map((c) => {
      const key = `${c.from} ${c.to}`
      const points: Array<readonly [number, number]> = [[outPort.get(key)!, layerY(layerOf[c.from]!) + boxHeight]]
      for (const d of c.path.slice(1, -1)) points.push([xOf(d), layerY(items[d]!.layer) + boxHeight / 2])
      points.push([inPort.get(key)!, layerY(layerOf[c.to]!)])
      return { from: ids[c.from]!, to: ids[c.to]!, points }
    })
    return { width, height, layers: nLayers, nodes, edges: placedEdges, crossings: bestCrossings }
  })

/** The edge's curve (ending an arrow's length before the box) and its arrowhead. */
const edgePaths = (points: ReadonlyArray<readonly [number, number]>): { curve: string; arrow: string } => {
  const pts = points.map(([x, y], i) => (i === points.length - 1 ? ([x, y - ARROW_LENGTH] as const) : ([x, y] as const)))
  let d = `M${fmt(pts[0]![0])},${fmt(pts[0]![1])}`
  for (let i = 1; i < pts.length; i++) {
    const [ax, ay] = pts[i - 1]!
    const [bx, by] = pts[i]!
    const my = (ay + by) / 2
    d += ` C${fmt(ax)},${fmt(my)} ${fmt(bx)},${fmt(my)} ${fmt(bx)},${fmt(by)}`
  }
  const [ex, ey] = points[points.length - 1]!
  const arrow = `M${fmt(ex - ARROW_HALF_WIDTH)},${fmt(ey - ARROW_LENGTH)} L${fmt(ex + ARROW_HALF_WIDTH)},${fmt(ey - ARROW_LENGTH)} L${fmt(ex)},${fmt(ey)} Z`
  return { curve: d, arrow }
}

const DEFAULT_TITLE = "Pipeline DAG"

/** Renders a layout (from `dagLayout`) as SVG. */
export const layoutSvg = (layout: DagLayout, title: string = DEFAULT_TITLE): string => {
  const out: Array<string> = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="cairn-dag" width="${fmt(layout.width)}" height="${fmt(layout.height)}" viewBox="0 0 ${fmt(layout.width)} ${fmt(layout.height)}" role="img" aria-label="${escapeXml(title)}" font-family="${escapeXml(FONT_SANS)}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${fmt(layout.width)}" height="${fmt(layout.height)}" fill="white"/>`,
  )
  // Legend: every status with its count, so the colours are always explained.
  out.push(`<g class="dag-legend" transform="translate(${MARGIN},${MARGIN})">`)
  let lx = 0
  for (const st of STAGE_STATUSES) {
    const style = STATUS_STYLES[st]
    const text = `${st} ${layout.nodes.filter((x) => x.status === st).length}`
    out.push(
      `<g class="dag-legend-item status-${st}"><rect x="${fmt(lx)}" y="${fmt((LEGEND_HEIGHT - LEGEND_SWATCH) / 2)}" width="${LEGEND_SWATCH}" height="${LEGEND_SWATCH}" rx="3" fill="${style.fill}" stroke="${style.stroke}"${style.dashed ? ` stroke-dasharray="3 2"` : ""}/>` +
        `<text x="${fmt(lx + LEGEND_SWATCH + 6)}" y="${fmt(LEGEND_HEIGHT / 2)}" dominant-baseline="central" font-size="${FONT_SIZE_SMALL}" fill="${INK}">${escapeXml(text)}</text></g>`,
    )
    lx += LEGEND_SWATCH + 6 + textWidth(`${st} 00`, FONT_SIZE_SMALL) + LEGEND_GAP
  }
  out.push(`</g>`)
  out.push(`<g class="dag-edges" fill="none">`)
  for (const e of layout.edges) {
    const { curve, arrow } = edgePaths(e.points)
    out.push(
      `<g class="dag-edge" data-from="${escapeXml(e.from)}" data-to="${escapeXml(e.to)}"><path d="${curve}" stroke="${EDGE_COLOR}" stroke-width="${EDGE_WIDTH}"/><path class="dag-arrow" d="${arrow}" fill="${EDGE_COLOR}"/></g>`,
    )
  }
  out.push(`</g>`)
  out.push(`<g class="dag-nodes">`)
  for (const node of layout.nodes) {
    const style = STATUS_STYLES[node.status]
    const x0 = node.x - node.width / 2
    const tip = [node.id, node.status, ...(node.detail === undefined ? [] : [node.detail])].join(" · ")
    const labelY = node.detail === undefined ? node.y + node.height / 2 : node.y + node.height / 2 - FONT_SIZE_SMALL / 2 - 1
    out.push(
      `<g class="dag-node status-${node.status}" data-id="${escapeXml(node.id)}" data-status="${node.status}"><title>${escapeXml(tip)}</title>` +
        `<rect x="${fmt(x0)}" y="${fmt(node.y)}" width="${fmt(node.width)}" height="${fmt(node.height)}" rx="${BOX_RADIUS}" fill="${style.fill}" stroke="${style.stroke}" stroke-width="1.5"${style.dashed ? ` stroke-dasharray="4 3"` : ""}/>` +
        `<text x="${fmt(node.x)}" y="${fmt(labelY)}" text-anchor="middle" dominant-baseline="central" font-family="${escapeXml(FONT_MONO)}" font-size="${FONT_SIZE}" fill="${INK}">${escapeXml(label(node.id))}</text>` +
        (node.detail === undefined
          ? ""
          : `<text class="dag-detail" x="${fmt(node.x)}" y="${fmt(labelY + FONT_SIZE + 3)}" text-anchor="middle" dominant-baseline="central" font-size="${FONT_SIZE_SMALL}" fill="${INK_MUTED}">${escapeXml(node.detail)}</text>`) +
        `</g>`,
    )
  }
  out.push(`</g>`, `</svg>`)
  return out.join("\n")
}

/** Lays out and draws a DAG: one box per node coloured by status, arrows for edges, a legend. */
export const dagSvg = (input: DagInput): Either.Either<string, DagInvalid> => Either.map(dagLayout(input), (layout) => layoutSvg(layout, input.title))
