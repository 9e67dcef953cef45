/**
 * numpy's legacy `RandomState`: MT19937 seeded with `init_genrand(seed)` and the legacy samplers
 * built on it, bit for bit. scikit-learn's `check_random_state(int)` returns exactly this, so the
 * fold splitters in `kfold.ts` reproduce scikit-learn's shuffles.
 */

const N = 624
const M = 397
const MATRIX_A = 0x9908b0df
const UPPER_MASK = 0x80000000
const LOWER_MASK = 0x7fffffff
/** 2^26 and 2^53: numpy's 53-bit double from two 32-bit draws. */
const TWO_26 = 67108864
const TWO_53 = 9007199254740992

export class RandomState {
  private readonly mt = new Uint32Array(N)
  private mti = N
  private hasGauss = false
  private gauss = 0

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new RangeError(`RandomState seed must be an integer in [0, 2^32 - 1], got ${seed}`)
    }
    const mt = this.mt
    mt[0] = seed >>> 0
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30)
      // 1812433253 * prev + i, modulo 2^32, without losing precision in float64.
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0
    }
    this.mti = N
  }

  private generate(): void {
    const mt = this.mt
    let kk = 0
    for (; kk < N - M; kk++) {
      const y = (mt[kk]! & UPPER_MASK) | (mt[kk + 1]! & LOWER_MASK)
      mt[kk] = mt[kk + M]! ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0)
    }
    for (; kk < N - 1; kk++) {
      const y = (mt[kk]! & UPPER_MASK) | (mt[kk + 1]! & LOWER_MASK)
      mt[kk] = mt[kk + (M - N)]! ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0)
    }
    const y = (mt[N - 1]! & UPPER_MASK) | (mt[0]! & LOWER_MASK)
    mt[N - 1] = mt[M - 1]! ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0)
    this.mti = 0
  }

  /** The next tempered 32-bit output, as an unsigned number. */
  nextUint32(): number {
    if (this.mti >= N) this.generate()
    let y = this.mt[this.mti++]!
    y ^= y >>> 11
    y ^= (y << 7) & 0x9d2c5680
    y ^= (y << 15) & 0xefc60000
    y ^= y >>> 18
    return y >>> 0
  }

  /** A uniform double in [0, 1) with 53 random bits (`random_sample`). */
  randomSample(): number {
    const a = this.nextUint32() >>> 5
    const b = this.nextUint32() >>> 6
    return (a * TWO_26 + b) / TWO_53
  }

  /**
   * A uniform integer in [0, max] by masked rejection (numpy's `random_interval`), for max below
   * 2^32 (every array length cairn shuffles).
   */
  randomInterval(max: number): number {
    if (max === 0) return 0
    if (!Number.isInteger(max) || max < 0 || max > 0xffffffff) {
      throw new RangeError(`randomInterval needs an integer in [0, 2^32 - 1], got ${max}`)
    }
    let mask = max
    mask |= mask >>> 1
    mask |= mask >>> 2
    mask |= mask >>> 4
    mask |= mask >>> 8
    mask |= mask >>> 16
    mask >>>= 0
    let value: number
    do {
      value = (this.nextUint32() & mask) >>> 0
    } while (value > max)
    return value
  }

  /** In-place Fisher-Yates shuffle, as `RandomState.shuffle` on a 1-d array or the rows of a 2-d one. */
  shuffle<T>(items: Array<T> | { length: number; [i: number]: T }): void {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.randomInterval(i)
      const tmp = items[i]!
      items[i] = items[j]!
      items[j] = tmp
    }
  }

  /** `RandomState.permutation(n)`: a shuffled `arange(n)`. */
  permutation(n: number): Int32Array {
    const out = new Int32Array(n)
    for (let i = 0; i < n; i++) out[i] = i
    this.shuffle(out)
    return out
  }

  /** `RandomState.standard_normal()`: the legacy polar Box-Muller method, one value cached. */
  standardNormal(): number {
    if (this.hasGauss) {
      this.hasGauss = false
      return this.gauss
    }
    let x1: number
    let x2: number
    let r2: number
    do {
      x1 = 2 * this.randomSample() - 1
      x2 = 2 * this.randomSample() - 1
      r2 = x1 * x1 + x2 * x2
    } while (r2 >= 1 || r2 === 0)
    const f = Math.sqrt((-2 * Math.log(r2)) / r2)
    this.gauss = f * x1
    this.hasGauss = true
    return f * x2
  }

  /** `RandomState.randint(low, high)`: a uniform integer in [low, high). */
  randint(low: number, high: number): number {
    if (!(high > low)) throw new RangeError(`randint needs low < high, got [${low}, ${high})`)
    return low + this.randomInterval(high - low - 1)
  }
}
