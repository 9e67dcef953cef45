import * as fs from "node:fs"
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { klDivergenceScore, perClassKl, type ProbabilityTable } from "../../../src/ml/predict/metric.js"

// Golden values: the metric's own docstring, and test/golden/gen_metric_loss.py (the Kaggle metric
// run by pandas on 301 random rows) stored in test/fixtures/ml/metric-golden.json.
interface Golden {
  readonly rand_votes: ReadonlyArray<number>
  readonly rand_logits: ReadonlyArray<number>
  readonly rand_micro: number
  readonly rand_macro: number
  readonly rand_weighted: number
  readonly rand_weights: ReadonlyArray<number>
  readonly rand_per_class: ReadonlyArray<number>
}
const golden = JSON.parse(fs.readFileSync(new URL("../../fixtures/ml/metric-golden.json", import.meta.url), "utf8")) as Golden

const CLASSES = ["seizure_vote", "lpd_vote", "gpd_vote", "lrda_vote", "grda_vote", "other_vote"]

const table = (columns: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<number>>): ProbabilityTable => ({
  columns,
  values: Float64Array.from(rows.flat()),
})

const ok = <A, E>(e: Either.Either<A, E>): A => {
  if (Either.isLeft(e)) throw new Error(`unexpected Left: ${String((e.left as { message?: string }).message)}`)
  return e.right
}

/** The same float64 operations as pandas/numpy, so only summation order could differ: 1-2 ulps. */
const closeUlp = (actual: number, expected: number): void => {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(4 * Number.EPSILON * Math.abs(expected))
}

/** The generator's random case: votes normalised per row, softmax of logits with p[0][2] forced to 0. */
const randomCase = (): { solution: ProbabilityTable; submission: ProbabilityTable } => {
  const rows = golden.rand_votes.length / 6
  const y = new Float64Array(rows * 6)
  const p = new Float64Array(rows * 6)
  for (let r = 0; r < rows; r++) {
    let s = 0
    for (let c = 0; c < 6; c++) s += golden.rand_votes[r * 6 + c]!
    for (let c = 0; c < 6; c++) y[r * 6 + c] = golden.rand_votes[r * 6 + c]! / s
    // numpy: np.exp(logits) / np.exp(logits).sum(axis=1): sequential sum of 6 exps
    let e = 0
    for (let c = 0; c < 6; c++) e += Math.exp(golden.rand_logits[r * 6 + c]!)
    for (let c = 0; c < 6; c++) p[r * 6 + c] = Math.exp(golden.rand_logits[r * 6 + c]!) / e
  }
  p[2] = 0
  let s0 = 0
  for (let c = 0; c < 6; c++) s0 += p[c]!
  for (let c = 0; c < 6; c++) p[c] = p[c]! / s0
  return { solution: { columns: CLASSES, values: y }, submission: { columns: CLASSES, values: p } }
}

describe("klDivergenceScore (kaggle_kl_div.score)", () => {
  it("gives the docstring's values", () => {
    const sol = table(
      ["ham", "spam"],
      [
        [0, 1],
        [1, 0],
        [1, 0],
        [0, 1],
      ],
    )
    const sub = table(
      ["ham", "spam"],
      [
        [0.1, 0.9],
        [0.9, 0.1],
        [0.8, 0.2],
        [0.35, 0.65],
      ],
    )
    expect(ok(klDivergenceScore(sol, sub))).toBe(0.21616187468057918)
    const sol3 = table(
      ["ham", "spam", "other"],
      [
        [0, 0.1, 0.9],
        [0.5, 0.5, 0],
        [0.5, 0.5, 0],
      ],
    )
    expect(ok(klDivergenceScore(sol3, sol3))).toBe(0)
    const sub3 = table(
      ["ham", "spam", "other"],
      [
        [0.2, 0.1, 0.7],
        [0.3, 0.5, 0.2],
        [0.5, 0.5, 0],
      ],
    )
    expect(ok(klDivergenceScore(sol3, sub3))).toBe(0.1605319324452703)
    expect(ok(klDivergenceScore(sol3, sub3, { epsilon: 1e-15, microAverage: false }))).toBe(0.053510644148423436)
  })

  it("matches pandas on 301 random rows (micro, macro, weighted) and per class", () => {
    const { solution, submission } = randomCase()
    closeUlp(ok(klDivergenceScore(solution, submission)), golden.rand_micro)
    closeUlp(ok(klDivergenceScore(solution, submission, { epsilon: 1e-15, microAverage: false })), golden.rand_macro)
    const weights = Float64Array.from(golden.rand_weights)
    closeUlp(ok(klDivergenceScore(solution, submission, { epsilon: 1e-15, microAverage: true, sampleWeights: weights })), golden.rand_weighted)
    const perClass = ok(perClassKl(solution, submission))
    expect(perClass.map((c) => c.column)).toEqual(CLASSES)
    perClass.forEach((c, i) => closeUlp(c.kl, golden.rand_per_class[i]!))
  })

  it("matches submission columns by name, in any order", () => {
    const { solution, submission } = randomCase()
    const order = [5, 3, 1, 0, 2, 4]
    const rows = submission.values.length / 6
    const shuffled = new Float64Array(submission.values.length)
    for (let r = 0; r < rows; r++) for (let k = 0; k < 6; k++) shuffled[r * 6 + k] = submission.values[r * 6 + order[k]!]!
    const sub2 = { columns: order.map((i) => CLASSES[i]!), values: shuffled }
    expect(ok(klDivergenceScore(solution, sub2))).toBe(ok(klDivergenceScore(solution, submission)))
  })

  it("rejects what the metric rejects, naming the table, row and column", () => {
    const sol = table(
      ["a", "b"],
      [
        [0.5, 0.5],
        [1, 0],
      ],
    )
    const bad = (sub: ProbabilityTable): string => {
      const r = klDivergenceScore(sol, sub)
      if (Either.isRight(r)) throw new Error("expected a Left")
      expect(r.left._tag).toBe("MetricInputError")
      return r.left.message
    }
    expect(
      bad(
        table(
          ["a", "b"],
          [
            [0.5, 0.5],
            [1.2, -0.2],
          ],
        ),
      ),
    ).toMatch(/submission row 1, column b: .*at least zero/)
    expect(
      bad(
        table(
          ["a", "b"],
          [
            [0.5, 0.4],
            [1, 0],
          ],
        ),
      ),
    ).toMatch(/submission row 0: .*do not add to one/)
    expect(
      bad(
        table(
          ["a", "c"],
          [
            [0.5, 0.5],
            [1, 0],
          ],
        ),
      ),
    ).toMatch(/Missing submission column b/)
    expect(bad(table(["a", "b"], [[0.5, 0.5]]))).toMatch(/1 rows for 2 solution rows/)
  })

  it("checks row ids when both tables carry them", () => {
    const sol = {
      ...table(
        ["a", "b"],
        [
          [0.5, 0.5],
          [1, 0],
        ],
      ),
      rowIds: [10, 11],
    }
    const sub = {
      ...table(
        ["a", "b"],
        [
          [0.5, 0.5],
          [1, 0],
        ],
      ),
      rowIds: [10, 12],
    }
    const r = klDivergenceScore(sol, sub)
    expect(Either.isLeft(r) && r.left.message).toMatch(/submission row 1: row id 12 where the solution has 11/)
  })
})
