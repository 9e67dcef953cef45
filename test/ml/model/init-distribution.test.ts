/**
 * cairn's random init has timm's distribution: per tensor (every conv, BN and linear parameter of
 * resnet18d), the mean and standard deviation over several seeds against timm's init drawn by
 * PyTorch (test/golden/gen_init_stats.py). Both are random: the tolerances are six standard errors
 * of the pooled sample, so a wrong scale (fan_in for fan_out, a missing zero_init_last, a normal for
 * a uniform of another width) fails while sampling noise does not.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import "@tensorflow/tfjs-backend-wasm"
import { beforeAll, describe, expect, it } from "vitest"
import { resolveBackendPromise } from "../../../src/ml/engines/tfjs/resolve-backend.js"
import { buildResNet, toTorchLayout } from "../../../src/ml/model/resnet.js"

interface InitStats {
  readonly generator: string
  readonly variant: "resnet18d"
  readonly seeds: ReadonlyArray<number>
  readonly tensors: Readonly<Record<string, { readonly numel: number; readonly mean: ReadonlyArray<number>; readonly std: ReadonlyArray<number> }>>
}

const golden = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, "..", "..", "fixtures", "parity", "init-stats.json"), "utf8")) as InitStats
const SIGMAS = 6

const average = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / xs.length

beforeAll(async () => {
  expect((await resolveBackendPromise("wasm")).name).toBe("wasm")
})

describe(`random init vs timm's (${golden.generator})`, () => {
  it("every parameter tensor's mean and std match timm's within sampling error", () => {
    const ours = new Map<string, { mean: Array<number>; std: Array<number> }>()
    for (const seed of golden.seeds) {
      const model = buildResNet({ variant: golden.variant, inChans: 1, numClasses: 6 }, seed)
      for (const t of model.tensors) {
        if (t.kind !== "param") continue
        const v = toTorchLayout(t)
        const mean = average(Array.from(v))
        const std = Math.sqrt(average(Array.from(v, (x) => (x - mean) ** 2)))
        const entry = ours.get(t.name) ?? { mean: [], std: [] }
        entry.mean.push(mean)
        entry.std.push(std)
        ours.set(t.name, entry)
      }
      model.dispose()
    }
    expect([...ours.keys()].sort()).toEqual(Object.keys(golden.tensors).sort())
    const rows: Array<{ tensor: string; timmStd: number; cairnStd: number; timmMean: number; cairnMean: number }> = []
    for (const [name, g] of Object.entries(golden.tensors)) {
      const o = ours.get(name)!
      const samples = g.numel * golden.seeds.length
      const sd = average(g.std)
      const row = { tensor: name, timmStd: sd, cairnStd: average(o.std), timmMean: average(g.mean), cairnMean: average(o.mean) }
      rows.push(row)
      if (sd === 0) {
        // A constant init (BN 1 / 0, zero_init_last): exactly the same constant.
        expect(row.cairnStd, name).toBe(0)
        expect(row.cairnMean, name).toBe(row.timmMean)
        continue
      }
      const meanTol = SIGMAS * sd * Math.sqrt(2 / samples)
      const stdTol = SIGMAS * Math.sqrt(1 / samples) + 1e-6
      expect(Math.abs(row.cairnMean - row.timmMean), `${name} mean`).toBeLessThan(meanTol)
      expect(Math.abs(row.cairnStd / sd - 1), `${name} std`).toBeLessThan(stdTol)
    }
    console.table(rows.filter((r) => /^(conv1\.0|layer1\.0\.conv1|layer4\.1\.bn2|fc)\./.test(r.tensor)))
  })
})
