/**
 * Paired comparisons of two runs: samples of one metric at the same coordinates in both (a fold
 * and seed of a fanned-out stage, or `name[coord]` metrics), their mean difference and a 95%
 * Student-t interval, so `cairn diff` says whether a difference is larger than seed noise.
 */
import { type Spread, spread, t95 } from "../data/stats.js"

export { type Spread, spread, t95 }

export interface PairedDifference extends Spread {
  readonly metric: string
  /** The coordinates paired (`fold-0/seed-1`, ...). */
  readonly coordinates: ReadonlyArray<string>
  /** 95% interval of the mean difference (B - A); undefined with fewer than two pairs. */
  readonly interval: readonly [number, number] | undefined
}

/** A metric sample: `name[coord]`, or `<stage>/<coords>.<name>` from a fanned-out instance. */
export interface Sample {
  readonly metric: string
  readonly coordinate: string
  readonly value: number
}

const BRACKETED = /^(.+)\[(.+)\]$/
const INSTANCE = /^([^/.]+)\/([^.]+)\.(.+)$/

/** The samples among a run's metrics (see `Sample`). */
export const samplesOf = (metrics: Readonly<Record<string, unknown>>): Array<Sample> => {
  const out: Array<Sample> = []
  for (const [key, value] of Object.entries(metrics)) {
    if (typeof value !== "number") continue
    const b = BRACKETED.exec(key)
    if (b) {
      out.push({ metric: b[1]!, coordinate: b[2]!, value })
      continue
    }
    const i = INSTANCE.exec(key)
    if (i) out.push({ metric: `${i[1]}.${i[3]}`, coordinate: i[2]!, value })
  }
  return out
}

/** Paired differences B - A for every metric sampled at two or more common coordinates. */
export const pairedDifferences = (a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): Array<PairedDifference> => {
  const index = (samples: ReadonlyArray<Sample>) => new Map(samples.map((s) => [`${s.metric}\u0000${s.coordinate}`, s] as const))
  const sa = index(samplesOf(a))
  const sb = index(samplesOf(b))
  const byMetric = new Map<string, Array<{ coordinate: string; d: number }>>()
  for (const [k, x] of sa) {
    const y = sb.get(k)
    if (!y) continue
    const list = byMetric.get(x.metric) ?? []
    list.push({ coordinate: x.coordinate, d: y.value - x.value })
    byMetric.set(x.metric, list)
  }
  return [...byMetric]
    .filter(([, pairs]) => pairs.length >= 2)
    .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    .map(([metric, pairs]) => {
      const s = spread(pairs.map((p) => p.d))
      const half = t95(s.n - 1) * (s.sd / Math.sqrt(s.n))
      return { metric, coordinates: pairs.map((p) => p.coordinate), ...s, interval: [s.mean - half, s.mean + half] as const }
    })
}
