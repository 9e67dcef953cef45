/**
 * Lays a DAG out (see index.ts for the steps): layers by longest path, dummies for long edges,
 * the order inside each layer, x positions, ports and edge points.
 */
import { Either } from "effect"
import type { DagInvalid } from "../report-errors.js"
import { type StageStatus, FONT_SIZE, FONT_SIZE_SMALL, STAGE_STATUSES } from "../theme.js"
import {
  BOX_HEIGHT,
  BOX_HEIGHT_DETAIL,
  BOX_MIN_WIDTH,
  BOX_PAD_X,
  BOX_RADIUS,
  DUMMY_WIDTH,
  label,
  LAYER_GAP,
  LEGEND_GAP,
  LEGEND_HEIGHT,
  LEGEND_SWATCH,
  MARGIN,
  PORT_SPACING,
  textWidth,
} from "./geometry.js"
import { checkGraph, topologicalOrder } from "./graph.js"
import { type Item, orderLayers } from "./ordering.js"
import { placeX } from "./placement.js"

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

    const { items, chains } = itemsAndChains(input, edges, layerOf)
    const { layers, crossings: bestCrossings } = orderLayers(items, nLayers)
    placeX(items, layers)

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

/** The items (the nodes, then a dummy per crossed layer of each long edge) and each edge's chain of items. */
const itemsAndChains = (input: DagInput, edges: ReadonlyArray<readonly [number, number]>, layerOf: ReadonlyArray<number>) => {
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
  return { items, chains }
}
