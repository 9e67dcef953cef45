import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { stratifiedGroupKFold, stratifiedKFold, unique } from "../../src/data/kfold.js"
import { RandomState } from "../../src/data/random-state.js"
import { DRAW_1086_CLASS_COUNTS, DRAW_1086_FIRST_GROUPS, SGKF_FIXED, SGKF_LEGACY, SKF } from "./kfold-golden.js"

const CLASS_NAMES = ["Seizure", "LPD", "GPD", "LRDA", "GRDA", "Other"]
const PRIORS = [0.18, 0.11, 0.09, 0.07, 0.13, 0.42]

/** The same draws as `draw_case` in test/golden/kfold_golden.py. */
const drawCase = (seed: number, nRows: number, nGroups: number) => {
  const rs = new RandomState(seed)
  const cum: Array<number> = []
  PRIORS.reduce((acc, p) => {
    // np.cumsum adds left to right, as reduce does.
    const next = acc + p
    cum.push(next)
    return next
  }, 0)
  const y: Array<string> = []
  for (let i = 0; i < nRows; i++) {
    const u = rs.randomSample()
    let k = 0
    while (k < cum.length - 1 && u >= cum[k]!) k++
    y.push(CLASS_NAMES[k]!)
  }
  const groups: Array<number> = []
  for (let i = 0; i < nRows; i++) groups.push(rs.randint(0, nGroups))
  return { y, groups }
}

/** The integer case of kfold_golden.py: 1200 classes in [0, 9), then 1200 groups in [0, 200). */
const drawInt9 = () => {
  const rs = new RandomState(5)
  const y = Array.from({ length: 1200 }, () => rs.randint(0, 9))
  const groups = Array.from({ length: 1200 }, () => rs.randint(0, 200))
  return { y, groups }
}

const digits = (folds: Int32Array): string => Array.from(folds, (f) => f.toString(36)).join("")
const getRight = <A, E>(e: Either.Either<A, E>): A => {
  if (Either.isLeft(e)) throw new Error(`expected Right, got ${String(e.left)}`)
  return e.right
}

const CASES: ReadonlyArray<readonly [string, number, number, number, number, number]> = [
  ["draw-2000-500-seed1086-split1086", 1086, 2000, 500, 5, 1086],
  ["draw-2000-500-seed1086-split0", 1086, 2000, 500, 5, 0],
  ["draw-2000-500-seed7-split0", 7, 2000, 500, 5, 0],
  ["draw-1500-120-seed3-split42-10folds", 3, 1500, 120, 10, 42],
]

describe("RandomState test vectors", () => {
  it("RandomState(1086) first uint32s", () => {
    const rs = new RandomState(1086)
    expect([1, 2, 3, 4, 5].map(() => rs.nextUint32())).toEqual([3206983333, 245803530, 3957533914, 978052082, 3259806381])
  })
  it("RandomState(1086).permutation(1950)[:10]", () => {
    expect(Array.from(new RandomState(1086).permutation(1950).subarray(0, 10))).toEqual([1808, 229, 1484, 566, 1458, 1857, 756, 674, 87, 928])
  })
  it("the golden draw matches numpy's", () => {
    const { y, groups } = drawCase(1086, 2000, 500)
    const counts: Record<string, number> = {}
    for (const c of y) counts[c] = (counts[c] ?? 0) + 1
    expect(counts).toEqual(DRAW_1086_CLASS_COUNTS)
    expect(groups.slice(0, 20)).toEqual(DRAW_1086_FIRST_GROUPS)
  })
})

describe("unique", () => {
  it("sorts numbers numerically and strings by code point, with inverse, counts and first index", () => {
    const u = unique([10, 2, 10, 33, 2, 2])
    expect(u.values).toEqual([2, 10, 33])
    expect(Array.from(u.inverse)).toEqual([1, 0, 1, 2, 0, 0])
    expect(Array.from(u.counts)).toEqual([3, 2, 1])
    expect(Array.from(u.firstIndex)).toEqual([1, 0, 3])
    // U+FF5E sorts before U+1F600 by code point, after it by UTF-16 code unit.
    expect(unique(["\u{1F600}", "\uFF5E", "B", "a"]).values).toEqual(["B", "a", "\uFF5E", "\u{1F600}"])
  })
})

describe("stratifiedGroupKFold", () => {
  const smallY = "AABBCCAABBCCABCABCAABBCCAB".split("")
  const smallGroups = [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 7, 8, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12]

  it("legacy: the small reference case", () => {
    const folds = getRight(stratifiedGroupKFold({ y: smallY, groups: smallGroups, nSplits: 3, shuffle: true, randomState: 1086, variant: "legacy" }))
    expect(Array.from(folds)).toEqual([0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 0, 0, 2, 2, 2, 1, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2])
  })

  it("fixed: the small reference case matches scikit-learn >= 1.8", () => {
    const folds = getRight(stratifiedGroupKFold({ y: smallY, groups: smallGroups, nSplits: 3, shuffle: true, randomState: 1086, variant: "fixed" }))
    expect(digits(folds)).toBe(SGKF_FIXED["small-1086"])
    expect(digits(folds)).not.toBe(SGKF_LEGACY["small-1086"])
  })

  for (const [name, drawSeed, nRows, nGroups, nSplits, splitSeed] of CASES) {
    for (const variant of ["legacy", "fixed"] as const) {
      it(`${variant}: ${name} equals scikit-learn`, () => {
        const { y, groups } = drawCase(drawSeed, nRows, nGroups)
        const folds = getRight(stratifiedGroupKFold({ y, groups, nSplits, shuffle: true, randomState: splitSeed, variant }))
        expect(digits(folds)).toBe((variant === "legacy" ? SGKF_LEGACY : SGKF_FIXED)[name])
      })
    }
  }

  for (const variant of ["legacy", "fixed"] as const) {
    it(`${variant}: 9 integer classes, 12 folds equal scikit-learn`, () => {
      const { y, groups } = drawInt9()
      const folds = getRight(stratifiedGroupKFold({ y, groups, nSplits: 12, shuffle: true, randomState: 5, variant }))
      expect(digits(folds)).toBe((variant === "legacy" ? SGKF_LEGACY : SGKF_FIXED)["int9-1200-200-seed5-12folds"])
    })
  }

  it("without shuffle both variants equal scikit-learn", () => {
    const { y, groups } = drawCase(1086, 2000, 500)
    for (const variant of ["legacy", "fixed"] as const) {
      const folds = getRight(stratifiedGroupKFold({ y, groups, nSplits: 5, shuffle: false, variant }))
      expect(digits(folds)).toBe(SGKF_LEGACY["draw-2000-500-seed1086-noshuffle"])
    }
  })

  it("keeps every group in one fold (fixed variant) and accepts string groups", () => {
    const { y, groups } = drawCase(5, 600, 90)
    const named = groups.map((g) => `patient-${g}`)
    const folds = getRight(stratifiedGroupKFold({ y, groups: named, nSplits: 5, shuffle: true, randomState: 3, variant: "fixed" }))
    const foldOf = new Map<string, number>()
    named.forEach((g, i) => {
      const f = folds[i]!
      expect(foldOf.get(g) ?? f).toBe(f)
      foldOf.set(g, f)
    })
  })

  it("refuses what scikit-learn refuses", () => {
    const bad = (opts: Parameters<typeof stratifiedGroupKFold>[0]) => {
      const r = stratifiedGroupKFold(opts)
      expect(Either.isLeft(r)).toBe(true)
      return Either.isLeft(r) ? r.left.message : ""
    }
    expect(bad({ y: smallY, groups: smallGroups, nSplits: 1, shuffle: false, variant: "legacy" })).toMatch(/n_splits=2 or more/)
    expect(bad({ y: ["a", "b"], groups: [1, 2], nSplits: 3, shuffle: false, variant: "legacy" })).toMatch(/number of samples/)
    expect(bad({ y: smallY, groups: smallGroups.slice(1), nSplits: 3, shuffle: false, variant: "legacy" })).toMatch(/groups has 25/)
    expect(bad({ y: smallY, groups: smallGroups, nSplits: 10, shuffle: false, variant: "legacy" })).toMatch(/members in each class/)
    expect(bad({ y: smallY, groups: smallGroups, nSplits: 3, shuffle: true, variant: "legacy" })).toMatch(/random_state/)
    expect(bad({ y: smallY, groups: smallGroups, nSplits: 3, shuffle: false, randomState: 1, variant: "legacy" })).toMatch(/no effect/)
    expect(bad({ y: [0.5, 1, 1, 0.5], groups: [1, 2, 3, 4], nSplits: 2, shuffle: false, variant: "legacy" })).toMatch(/continuous/)
    expect(bad({ y: ["a", 1] as unknown as ReadonlyArray<string>, groups: [1, 2], nSplits: 2, shuffle: false, variant: "legacy" })).toMatch(
      /all strings or all numbers/,
    )
    const fewGroups = { y: ["a", "a", "b", "b", "a", "b"], groups: [1, 1, 1, 2, 2, 2], nSplits: 3, shuffle: false, variant: "fixed" } as const
    expect(bad(fewGroups)).toMatch(/number of groups: 2/)
    // scikit-learn < 1.8 accepts it and leaves a fold empty.
    expect(Array.from(getRight(stratifiedGroupKFold({ ...fewGroups, variant: "legacy" }))).includes(2)).toBe(false)
  })
})

describe("stratifiedKFold", () => {
  for (const [name, drawSeed, nRows, nGroups, nSplits, splitSeed] of CASES) {
    it(`${name} equals scikit-learn`, () => {
      const { y } = drawCase(drawSeed, nRows, nGroups)
      const folds = getRight(stratifiedKFold({ y, nSplits, shuffle: true, randomState: splitSeed }))
      expect(digits(folds)).toBe(SKF[name])
    })
  }
  it("9 integer classes, 12 folds equal scikit-learn", () => {
    expect(digits(getRight(stratifiedKFold({ y: drawInt9().y, nSplits: 12, shuffle: true, randomState: 5 })))).toBe(SKF["int9-1200-200-seed5-12folds"])
  })
  it("without shuffle equals scikit-learn", () => {
    const { y } = drawCase(1086, 2000, 500)
    expect(digits(getRight(stratifiedKFold({ y, nSplits: 5, shuffle: false })))).toBe(SKF["draw-2000-500-seed1086-noshuffle"])
  })
})
