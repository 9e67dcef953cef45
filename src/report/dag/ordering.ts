/** The order of the items inside each layer: barycenter sweeps that minimise edge crossings. */
import { ORDER_SWEEPS } from "./geometry.js"

/** A box or a dummy point (one per layer a long edge crosses), with its neighbours and x. */
export interface Item {
  /** Index into the input nodes, or -1 for a dummy point. */
  readonly node: number
  readonly layer: number
  readonly width: number
  preds: Array<number>
  succs: Array<number>
  x: number
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
 * The order inside each layer: input order (dummies in edge order), then barycenter sweeps (down,
 * then up), keeping the order with the fewest crossings.
 */
export const orderLayers = (items: ReadonlyArray<Item>, nLayers: number): { layers: Array<Array<number>>; crossings: number } => {
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
  return { layers, crossings: bestCrossings }
}
