/** x positions inside the layers: as close to the neighbours as the boxes' separation allows. */
import { NODE_GAP, PLACE_ITERATIONS } from "./geometry.js"
import type { Item } from "./ordering.js"

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

/** Sets each item's x: packed and centred, then pulled towards its neighbours, alternately from above and below. */
export const placeX = (items: ReadonlyArray<Item>, layers: ReadonlyArray<ReadonlyArray<number>>): void => {
  const gapsOf = (layer: ReadonlyArray<number>) => layer.slice(1).map((it, k) => (items[layer[k]!]!.width + items[it]!.width) / 2 + NODE_GAP)
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
    const range = down
      ? layers.map((_, l) => l).slice(1)
      : layers
          .map((_, l) => l)
          .slice(0, -1)
          .reverse()
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
}
