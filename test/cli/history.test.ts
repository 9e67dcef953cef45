import { describe, expect, it } from "vitest"
import { type HistoryEntry, headline, renderDiff } from "../../src/cli/history-view.js"
import { pairedDifferences, samplesOf, spread, t95 } from "../../src/cli/paired-stats.js"

const entry = (runId: string, metrics: Record<string, number>, params: Record<string, unknown> = {}, code = "c1"): HistoryEntry => ({
  runId,
  pipeline: "p",
  startedAt: "2026-12-02T00:00:00.000Z",
  seconds: 1,
  ok: true,
  params,
  metrics,
  stages: [{ id: "fit/fold-0/seed-1", status: "ran", key: "k", seconds: 1, code, engine: "e" }],
  headline: "cv",
})

/** Per fold x seed best losses of two configs: B is A + 0.05 plus small noise. */
const noise = [0.004, -0.003, 0.002, -0.001, 0.003, -0.002]
const metricsA: Record<string, number> = {}
const metricsB: Record<string, number> = {}
let i = 0
for (const fold of [0, 1, 2]) {
  for (const seed of [1, 2]) {
    metricsA[`fit/fold-${fold}/seed-${seed}.best_val_loss`] = 0.7 + 0.01 * fold + 0.02 * seed
    metricsB[`fit/fold-${fold}/seed-${seed}.best_val_loss`] = metricsA[`fit/fold-${fold}/seed-${seed}.best_val_loss`]! + 0.05 + noise[i++]!
  }
}
metricsA.cv = 0.75
metricsB.cv = 0.8
metricsA["cv[seed-1]"] = 0.74
metricsA["cv[seed-2]"] = 0.76

describe("paired comparisons of runs", () => {
  it("t quantiles and spreads", () => {
    expect(t95(1)).toBe(12.706)
    expect(t95(5)).toBe(2.571)
    expect(t95(100)).toBe(1.96)
    const s = spread([1, 2, 3, 4])
    expect(s.mean).toBe(2.5)
    expect(s.sd).toBeCloseTo(Math.sqrt(5 / 3), 12)
  })

  it("pairs fanned-out instances' metrics and name[coord] samples by coordinate", () => {
    expect(samplesOf({ "cv[seed-1]": 1, "fit/fold-0/seed-2.loss": 2, cv: 3, "other.loss": 4 })).toEqual([
      { metric: "cv", coordinate: "seed-1", value: 1 },
      { metric: "fit.loss", coordinate: "fold-0/seed-2", value: 2 },
    ])
    const [d] = pairedDifferences(metricsA, metricsB)
    expect(d!.metric).toBe("fit.best_val_loss")
    expect(d!.n).toBe(6)
    expect(d!.mean).toBeCloseTo(0.0505, 10)
    expect(d!.interval![0]).toBeGreaterThan(0) // 0.05 against noise of 0.003: real
    // A difference of pure noise: the interval includes 0.
    const same = Object.fromEntries(Object.entries(metricsA).map(([k, v], j) => [k, v + (noise[j % 6] ?? 0)]))
    const [n] = pairedDifferences(metricsA, same)
    expect(n!.interval![0]).toBeLessThan(0)
    expect(n!.interval![1]).toBeGreaterThan(0)
  })

  it("diff prints the interval and what differs beyond params; runs shows mean ± sd over seeds", () => {
    const text = renderDiff(entry("a", metricsA, { lr: 1 }), entry("b", metricsB, { lr: 2 }, "c2"))
    expect(text).toMatch(/fit\.best_val_loss: 0\.0505 \[0\.0\d+, 0\.0\d+\] over 6 pairs \(fold-0\/seed-1 .*\): a real difference/)
    expect(text).toContain("the runs also differ in more than params: code of fit")
    expect(renderDiff(entry("a", metricsA), entry("b", metricsA))).not.toContain("also differ")
    expect(headline(entry("a", metricsA))).toBe("cv 0.75 (0.75 ± 0.014142 over 2)")
  })
})
