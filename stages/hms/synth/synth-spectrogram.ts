/**
 * One spectrogram's values: its class's spectral signature over a 1/f background with drift,
 * noise, artifacts, dropouts and NULLs, drawn from the spectrogram's own `RandomState`.
 */
import { type ColumnMajorWrite, RandomState } from "cairn/data"
import {
  BINS_PER_REGION,
  FFT_SIZE,
  FIRST_BIN,
  FIRST_TIME_SECONDS,
  REGIONS,
  SAMPLE_RATE_HZ,
  SECONDS_PER_STEP,
  SPECTROGRAM_COLUMNS,
  SPECTROGRAM_TIME_COLUMN,
} from "../constants.js"
import type { SpectrogramSpec } from "./synth-tables.js"

// Parameters of the signals (one place). Class indices in CONSENSUS_LABELS order.
const SEIZURE = 0
const LPD = 1
const GPD = 2
const LRDA = 3
const GRDA = 4

/** Background log-power: BG_LEVEL - BG_SLOPE * ln(1 + f), per-spectrogram gain N(0, BG_GAIN_SIGMA), region gains N(0, REGION_SIGMA). */
const BG_LEVEL = 3.2
const BG_SLOPE = 1.5
const BG_GAIN_SIGMA = 0.4
const REGION_SIGMA = 0.15
/** Slow gain drift: AR(1) in log space. */
const DRIFT_PHI = 0.98
const DRIFT_SIGMA = 0.05
/** Log-normal cell noise, drawn from a quantile table indexed by 12 random bits. */
const NOISE_SIGMA = 0.7
const NOISE_TABLE_BITS = 12
/** Rare time steps: broadband artifacts (x e^[5, 7)) and dropouts (x e^-6). */
const P_ARTIFACT_STEP = 0.004
const ARTIFACT_LOG_MIN = 5
const ARTIFACT_LOG_SPAN = 2
const P_DROPOUT_STEP = 0.003
const DROPOUT_LOG = -6
/** Missing data: a run of NULL time steps in some files, scattered NULL cells in others. */
const P_NULL_RUN = 0.1
const MAX_NULL_RUN = 20
const P_NULL_CELLS = 0.1
const NULL_CELL_RATE = 0.001
/** Posterior alpha rhythm (LP, RP) in some spectrograms of any class. */
const P_ALPHA = 0.5
const ALPHA_HZ_MIN = 8
const ALPHA_HZ_SPAN = 4
const ALPHA_WIDTH_HZ = 1
const ALPHA_AMPLITUDE = 1.5
/** Class signatures: amplitude (signal / background ratio) uniform in [MIN, MIN + SPAN). */
const SIGNAL_AMPLITUDE_MIN = 4
const SIGNAL_AMPLITUDE_SPAN = 6
/** Lateralized signals: the weaker hemisphere keeps this fraction. */
const WEAK_SIDE = 0.15
/** Periodic discharges: a burst of BURST_STEPS steps every randint(PERIOD_MIN, PERIOD_MAX + 1) steps, broadband with a decay of PD_DECAY_HZ. */
const PD_PERIOD_MIN = 12
const PD_PERIOD_MAX = 20
const PD_BURST_STEPS = 5
const PD_BASELINE = 0.1
const PD_DECAY_HZ = 10
/** Rhythmic delta: peak in [RDA_HZ_MIN, RDA_HZ_MIN + SPAN), width RDA_WIDTH_HZ, slow modulation. */
const RDA_HZ_MIN = 0.8
const RDA_HZ_SPAN = 1.7
const RDA_WIDTH_HZ = 1.5
const RDA_MODULATION = 0.3
const RDA_MODULATION_PERIOD = 40
/** Seizure: episodes of randint(80, 161) steps chirping between [2, 4) Hz and [6, 10) Hz, gaps of randint(20, 61) steps. */
const SZ_EPISODE_MIN = 80
const SZ_EPISODE_MAX = 160
const SZ_GAP_MIN = 20
const SZ_GAP_MAX = 60
const SZ_LOW_HZ = 2
const SZ_LOW_SPAN = 2
const SZ_HIGH_HZ = 6
const SZ_HIGH_SPAN = 4
const SZ_WIDTH_HZ = 1.5
const SZ_HARMONIC = 0.4
const SZ_HARMONIC_WIDTH_HZ = 1.5
const P_SZ_LATERALIZED = 0.4
/** Gaussian bumps are evaluated within this many widths of their centre. */
const BUMP_REACH = 4

const FREQ_HZ = Float64Array.from({ length: BINS_PER_REGION }, (_, b) => ((FIRST_BIN + b) * SAMPLE_RATE_HZ) / FFT_SIZE)
const N_REGIONS = REGIONS.length
/** Region index -> hemisphere: LL 0, RL 1, LP 0, RP 1. */
const HEMISPHERE = REGIONS.map((r) => (r === "LL" || r === "LP" ? 0 : 1))
const POSTERIOR = REGIONS.map((r) => r === "LP" || r === "RP")

let noiseTable: Float32Array | undefined

/** Acklam's rational approximation of the standard normal quantile. */
const normalQuantile = (p: number): number => {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239]
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1]
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783]
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416]
  const low = 0.02425
  if (p < low || p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(p < low ? p : 1 - p))
    const x = (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
    return p < low ? x : -x
  }
  const q = p - 0.5
  const r = q * q
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  )
}

/** exp(NOISE_SIGMA * z) at the 2^12 mid-quantiles of z ~ N(0, 1), built on first use. */
const lognormalNoiseTable = (): Float32Array => {
  if (noiseTable === undefined) {
    const n = 1 << NOISE_TABLE_BITS
    noiseTable = Float32Array.from({ length: n }, (_, i) => Math.exp(NOISE_SIGMA * normalQuantile((i + 0.5) / n)))
  }
  return noiseTable
}

/** Adds amplitude * exp(-(f - centre)^2 / (2 width^2)) to `profile` (indexed by bin), near the centre only. */
const addBump = (profile: Float64Array, centreHz: number, widthHz: number, amplitude: number): void => {
  for (let b = 0; b < BINS_PER_REGION; b++) {
    const d = FREQ_HZ[b]! - centreHz
    if (Math.abs(d) <= BUMP_REACH * widthHz) profile[b]! += amplitude * Math.exp(-(d * d) / (2 * widthHz * widthHz))
  }
}

/** The values of one spectrogram: a column-major (400 columns x rows) float32 table with its time column. */
export const synthSpectrogram = (spec: SpectrogramSpec): ColumnMajorWrite => {
  const rs = new RandomState(spec.seed)
  const T = spec.rows
  const noise = lognormalNoiseTable()
  const noiseMask = (1 << NOISE_TABLE_BITS) - 1

  // Background (linear power) per region and bin.
  const gain = BG_GAIN_SIGMA * rs.standardNormal()
  const background = new Float64Array(N_REGIONS * BINS_PER_REGION)
  for (let r = 0; r < N_REGIONS; r++) {
    const regionGain = REGION_SIGMA * rs.standardNormal()
    for (let b = 0; b < BINS_PER_REGION; b++)
      background[r * BINS_PER_REGION + b] = Math.exp(BG_LEVEL + gain + regionGain - BG_SLOPE * Math.log(1 + FREQ_HZ[b]!))
  }
  // Per-step gain: slow drift, artifacts, dropouts.
  const stepGain = new Float64Array(T)
  let drift = 0
  for (let t = 0; t < T; t++) {
    drift = DRIFT_PHI * drift + DRIFT_SIGMA * rs.standardNormal()
    let g = drift
    if (rs.randomSample() < P_ARTIFACT_STEP) g += ARTIFACT_LOG_MIN + ARTIFACT_LOG_SPAN * rs.randomSample()
    if (rs.randomSample() < P_DROPOUT_STEP) g += DROPOUT_LOG
    stepGain[t] = Math.exp(g)
  }

  // Signal: sum of (region weight x frequency profile x time course) terms, as a ratio to background.
  const signal = new Float64Array(N_REGIONS * BINS_PER_REGION * T)
  const addTerm = (regionWeight: ReadonlyArray<number>, profile: Float64Array, course: Float64Array): void => {
    for (let r = 0; r < N_REGIONS; r++) {
      const w = regionWeight[r]!
      if (w === 0) continue
      for (let b = 0; b < BINS_PER_REGION; b++) {
        const p = w * profile[b]!
        if (p === 0) continue
        const base = (r * BINS_PER_REGION + b) * T
        for (let t = 0; t < T; t++) signal[base + t]! += p * course[t]!
      }
    }
  }
  const amplitude = SIGNAL_AMPLITUDE_MIN + SIGNAL_AMPLITUDE_SPAN * rs.randomSample()
  const strongSide = rs.randint(0, 2)
  const lateral = HEMISPHERE.map((h) => (h === strongSide ? 1 : WEAK_SIDE))
  const all = HEMISPHERE.map(() => 1)
  const c = spec.trueClass
  if (c === LPD || c === GPD) {
    const period = rs.randint(PD_PERIOD_MIN, PD_PERIOD_MAX + 1)
    const phase = rs.randint(0, period)
    const course = new Float64Array(T)
    for (let t = 0; t < T; t++) course[t] = (t + phase) % period < PD_BURST_STEPS ? 1 : PD_BASELINE
    const profile = Float64Array.from(FREQ_HZ, (f) => amplitude * Math.exp(-f / PD_DECAY_HZ))
    addTerm(c === LPD ? lateral : all, profile, course)
  } else if (c === LRDA || c === GRDA) {
    const peak = RDA_HZ_MIN + RDA_HZ_SPAN * rs.randomSample()
    const phase = 2 * Math.PI * rs.randomSample()
    const course = Float64Array.from({ length: T }, (_, t) => 1 - RDA_MODULATION + RDA_MODULATION * Math.sin((2 * Math.PI * t) / RDA_MODULATION_PERIOD + phase))
    const profile = new Float64Array(BINS_PER_REGION)
    addBump(profile, peak, RDA_WIDTH_HZ, amplitude)
    addTerm(c === LRDA ? lateral : all, profile, course)
  } else if (c === SEIZURE) {
    const weights = rs.randomSample() < P_SZ_LATERALIZED ? lateral : all
    // Episodes: the centre frequency moves linearly from one end to the other.
    let t = -rs.randint(0, SZ_EPISODE_MAX)
    const centre = new Float64Array(T).fill(NaN)
    while (t < T) {
      const length = rs.randint(SZ_EPISODE_MIN, SZ_EPISODE_MAX + 1)
      const low = SZ_LOW_HZ + SZ_LOW_SPAN * rs.randomSample()
      const high = SZ_HIGH_HZ + SZ_HIGH_SPAN * rs.randomSample()
      const rising = rs.randomSample() < 0.5
      for (let k = 0; k < length; k++) {
        const at = t + k
        if (at >= 0 && at < T) centre[at] = rising ? low + ((high - low) * k) / length : high - ((high - low) * k) / length
      }
      t += length + rs.randint(SZ_GAP_MIN, SZ_GAP_MAX + 1)
    }
    for (let r = 0; r < N_REGIONS; r++) {
      const w = weights[r]!
      for (let s = 0; s < T; s++) {
        const fc = centre[s]!
        if (Number.isNaN(fc)) continue
        for (let b = 0; b < BINS_PER_REGION; b++) {
          const d1 = FREQ_HZ[b]! - fc
          const d2 = FREQ_HZ[b]! - 2 * fc
          let v = 0
          if (Math.abs(d1) <= BUMP_REACH * SZ_WIDTH_HZ) v += Math.exp(-(d1 * d1) / (2 * SZ_WIDTH_HZ * SZ_WIDTH_HZ))
          if (Math.abs(d2) <= BUMP_REACH * SZ_HARMONIC_WIDTH_HZ) v += SZ_HARMONIC * Math.exp(-(d2 * d2) / (2 * SZ_HARMONIC_WIDTH_HZ * SZ_HARMONIC_WIDTH_HZ))
          if (v !== 0) signal[(r * BINS_PER_REGION + b) * T + s]! += w * amplitude * v
        }
      }
    }
  }
  if (rs.randomSample() < P_ALPHA) {
    const profile = new Float64Array(BINS_PER_REGION)
    addBump(profile, ALPHA_HZ_MIN + ALPHA_HZ_SPAN * rs.randomSample(), ALPHA_WIDTH_HZ, ALPHA_AMPLITUDE)
    addTerm(
      POSTERIOR.map((p) => (p ? 1 : 0)),
      profile,
      new Float64Array(T).fill(1),
    )
  }

  // Values: background x step gain x (1 + signal) x noise; two noise draws per 32 random bits.
  const n = N_REGIONS * BINS_PER_REGION
  const data = new Float32Array(n * T)
  for (let j = 0; j < n; j++) {
    const bg = background[j]!
    const base = j * T
    for (let t = 0; t < T; t += 2) {
      const bits = rs.nextUint32()
      data[base + t] = bg * stepGain[t]! * (1 + signal[base + t]!) * noise[bits & noiseMask]!
      if (t + 1 < T) data[base + t + 1] = bg * stepGain[t + 1]! * (1 + signal[base + t + 1]!) * noise[(bits >>> 16) & noiseMask]!
    }
  }
  // Missing cells.
  if (rs.randomSample() < P_NULL_RUN) {
    const length = rs.randint(1, MAX_NULL_RUN + 1)
    const start = rs.randint(0, Math.max(1, T - length))
    for (let j = 0; j < n; j++) data.fill(NaN, j * T + start, Math.min(T, start + length) + j * T)
  }
  if (rs.randomSample() < P_NULL_CELLS) {
    const count = Math.max(1, Math.round(NULL_CELL_RATE * n * T))
    for (let k = 0; k < count; k++) data[rs.randint(0, n * T)] = NaN
  }
  const index = Float64Array.from({ length: T }, (_, t) => FIRST_TIME_SECONDS + SECONDS_PER_STEP * t)
  return { indexColumn: SPECTROGRAM_TIME_COLUMN, index, columns: SPECTROGRAM_COLUMNS, rows: T, data }
}
