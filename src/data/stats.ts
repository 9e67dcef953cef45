/** Summary statistics of small samples (a few folds x seeds). */

/** Two-sided 95% quantiles of Student's t, by degrees of freedom (1..30); beyond, the normal's. */
const T95: ReadonlyArray<number> = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069,
  2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
]
const Z95 = 1.96

export const t95 = (df: number): number => T95[df - 1] ?? Z95

export interface Spread {
  readonly n: number
  readonly mean: number
  /** Sample standard deviation (n - 1); 0 for one sample. */
  readonly sd: number
}

export const spread = (xs: ReadonlyArray<number>): Spread => {
  const n = xs.length
  const mean = xs.reduce((a, b) => a + b, 0) / n
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0
  return { n, mean, sd }
}
