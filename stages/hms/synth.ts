/**
 * A deterministic synthetic HMS-HBAC dataset with the competition's exact layout and types:
 *
 *   train.csv                                  15 columns, ids as large ints, offsets as "6.0", votes as ints
 *   train_spectrograms/<spectrogram_id>.parquet  time (1, 3, 5, ...) then the 400 float32 columns
 *   test.csv                                   spectrogram_id, eeg_id, patient_id
 *   test_spectrograms/<spectrogram_id>.parquet   exactly 300 rows
 *   sample_submission.csv                      eeg_id and the six votes at 1/6
 *
 * The structure follows the real data: several EEGs per spectrogram, ~10 label rows per
 * spectrogram (median 4, long tail), several spectrograms per patient, 3 raters on many rows with a
 * tail to 27, class prior near the competition's. Each spectrogram carries its class's spectral
 * signature over its whole length, so it is visible inside every label window:
 *
 * - LPD / GPD: periodic broadband bursts in time (periodic discharges), on one hemisphere (LL + LP
 *   or RL + RP) for LPD, on all four regions for GPD;
 * - LRDA / GRDA: sustained low-frequency (delta) band power, lateralized or generalized;
 * - Seizure: rhythmic band power whose frequency evolves (chirps) over episodes, with a harmonic;
 * - Other: background only.
 *
 * Every spectrogram also has a 1/f background, slow gain drift, log-normal cell noise, an optional
 * posterior alpha rhythm, rare broadband artifacts (cells above e^8) and dropouts (below e^-4), and
 * some NULL cells. Votes are drawn per label row from the spectrogram's class with a rater accuracy
 * and class confusions, so the labels are noisy as the real ones are.
 *
 * All draws come from numpy-compatible `RandomState`s: the plan from `RandomState(seed)`, each
 * spectrogram's values from its own `RandomState` seeded by the plan, so files can be generated in
 * any order with the same result.
 */
import { Effect } from "effect"
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { formatCsv, type CsvOutColumn } from "../../src/data/csv.js"
import { describeCause, FileWriteFailed } from "../../src/data/errors.js"
import { encodeParquetColumnMajor, type ColumnMajorWrite } from "../../src/data/parquet/index.js"
import { RandomState } from "../../src/data/random-state.js"
import {
  BINS_PER_REGION,
  CONSENSUS_LABELS,
  FFT_SIZE,
  FIRST_BIN,
  FIRST_TIME_SECONDS,
  N_CLASSES,
  PARQUET_EXTENSION,
  REGIONS,
  SAMPLE_RATE_HZ,
  SAMPLE_SUBMISSION_CSV,
  SECONDS_PER_STEP,
  SPECTROGRAM_COLUMNS,
  SPECTROGRAM_TIME_COLUMN,
  SUBMISSION_COLUMNS,
  TEST_COLUMNS,
  TEST_CSV,
  TEST_SPECTROGRAMS_DIR,
  TRAIN_COLUMNS,
  TRAIN_CSV,
  TRAIN_SPECTROGRAMS_DIR,
  VOTE_COLUMNS,
  WINDOW_WIDTH,
  type ConsensusLabel,
} from "./constants.js"

// ---------------------------------------------------------------------------------------------
// Parameters of the synthetic distribution (one place)

/** The competition's class prior (share of expert_consensus), in CONSENSUS_LABELS order: what the synthetic labels aim at. */
export const TARGET_CLASS_PRIORS = [0.18, 0.11, 0.09, 0.07, 0.13, 0.42] as const
/**
 * The prior of the spectrograms' true class. Rater noise moves consensus away from the true class
 * (mostly out of Other), so this prior is tuned for the consensus to land on TARGET_CLASS_PRIORS.
 */
export const SYNTH_CLASS_PRIORS = [0.177, 0.109, 0.088, 0.069, 0.137, 0.42] as const
const SEIZURE = 0
const LPD = 1
const GPD = 2
const LRDA = 3
const GRDA = 4

/** Where a rater who does not pick the true class goes, per true class (rows sum to 1; diagonal 0). */
const CONFUSION: ReadonlyArray<ReadonlyArray<number>> = [
  [0, 0.3, 0.15, 0.1, 0.1, 0.35],
  [0.25, 0, 0.3, 0.15, 0.05, 0.25],
  [0.2, 0.35, 0, 0.05, 0.15, 0.25],
  [0.1, 0.2, 0.05, 0, 0.35, 0.3],
  [0.1, 0.05, 0.2, 0.3, 0, 0.35],
  [0.25, 0.2, 0.15, 0.15, 0.25, 0],
]
/** Rater accuracy per spectrogram: uniform in [MIN, MIN + SPAN). */
const RATER_ACCURACY_MIN = 0.8
const RATER_ACCURACY_SPAN = 0.18
/** Raters per label row: 1 or 2 (rare), 3 (common), else 4 + floor(exp(N(mu, sigma))) up to MAX. */
const P_ONE_RATER = 0.06
const P_TWO_RATERS = 0.12
const P_THREE_RATERS = 0.6
const RATERS_TAIL_MU = 1.2
const RATERS_TAIL_SIGMA = 0.8
const MAX_RATERS = 27
/** Label rows per spectrogram: 1 + floor(exp(N(mu, sigma))), capped (median ~4, mean ~10). */
const LABELS_MU = 1.25
const LABELS_SIGMA = 1.45
const MAX_LABELS = 150
/** EEGs per spectrogram: 1 + a geometric count with this continuation probability. */
const P_ANOTHER_EEG = 0.35
/** First label offset: 2 * randint(0, FIRST_OFFSET_STEPS); later ones 2 * randint(1, MAX_OFFSET_STEP + 1) apart. */
const FIRST_OFFSET_STEPS = 150
const MAX_OFFSET_STEP = 6
/** Extra rows after the last window: randint(0, MAX_SLACK_ROWS + 1). */
const MAX_SLACK_ROWS = 30
/** Spectrograms per patient: about this many. */
const SPECTROGRAMS_PER_PATIENT = 4
const MIN_PATIENTS = 5
/** Id ranges, as in the real data. */
const PATIENT_ID_HIGH = 65536
const SPECTROGRAM_ID_HIGH = 2 ** 31 - 1
const EEG_ID_HIGH = 2 ** 32 - 1

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

// ---------------------------------------------------------------------------------------------
// The plan: tables and per-spectrogram specs

export interface SynthOptions {
  readonly trainSpectrograms: number
  readonly testSpectrograms: number
  readonly seed: number
}

export interface SpectrogramSpec {
  readonly spectrogramId: number
  /** Index in CONSENSUS_LABELS of the class whose signature the spectrogram carries. */
  readonly trueClass: number
  readonly rows: number
  /** Seed of the RandomState its values are drawn from. */
  readonly seed: number
}

export interface TrainRows {
  readonly eegId: Array<number>
  readonly eegSubId: Array<number>
  readonly eegLabelOffsetSeconds: Array<number>
  readonly spectrogramId: Array<number>
  readonly spectrogramSubId: Array<number>
  readonly spectrogramLabelOffsetSeconds: Array<number>
  readonly labelId: Array<number>
  readonly patientId: Array<number>
  readonly expertConsensus: Array<ConsensusLabel>
  /** Row-major, six per row. */
  readonly votes: Array<number>
}

export interface SynthPlan {
  readonly train: TrainRows
  readonly trainSpectrograms: ReadonlyArray<SpectrogramSpec>
  readonly test: { readonly spectrogramId: Array<number>; readonly eegId: Array<number>; readonly patientId: Array<number> }
  readonly testSpectrograms: ReadonlyArray<SpectrogramSpec>
}

const drawCategorical = (rs: RandomState, weights: ReadonlyArray<number>): number => {
  const u = rs.randomSample()
  let acc = 0
  for (let k = 0; k < weights.length - 1; k++) {
    acc += weights[k]!
    if (u < acc) return k
  }
  return weights.length - 1
}

const distinctIds = (rs: RandomState, n: number, low: number, high: number, taken: Set<number>): Array<number> => {
  const out: Array<number> = []
  while (out.length < n) {
    const id = rs.randint(low, high)
    if (!taken.has(id)) {
      taken.add(id)
      out.push(id)
    }
  }
  return out
}

const drawRaters = (rs: RandomState): number => {
  const u = rs.randomSample()
  if (u < P_ONE_RATER) return 1
  if (u < P_TWO_RATERS) return 2
  if (u < P_THREE_RATERS) return 3
  return Math.min(MAX_RATERS, 4 + Math.floor(Math.exp(RATERS_TAIL_MU + RATERS_TAIL_SIGMA * rs.standardNormal())))
}

/** Draws the tables and the spectrogram specs (no values). */
export const drawSynthPlan = (options: SynthOptions): SynthPlan => {
  const rs = new RandomState(options.seed)
  const nTrain = options.trainSpectrograms
  const nPatients = Math.max(Math.min(nTrain, MIN_PATIENTS), Math.round(nTrain / SPECTROGRAMS_PER_PATIENT))
  const patientTaken = new Set<number>()
  const spectrogramTaken = new Set<number>()
  const eegTaken = new Set<number>()
  const labelTaken = new Set<number>()
  const patients = distinctIds(rs, nPatients, 1, PATIENT_ID_HIGH, patientTaken)
  const spectrogramIds = distinctIds(rs, nTrain + options.testSpectrograms, 1, SPECTROGRAM_ID_HIGH, spectrogramTaken)

  interface Row {
    eegId: number
    eegSub: number
    eegOffset: number
    spectrogramId: number
    spectrogramSub: number
    spectrogramOffset: number
    labelId: number
    patientId: number
    votes: Array<number>
  }
  const rows: Array<Row> = []
  const trainSpecs: Array<SpectrogramSpec> = []
  for (let s = 0; s < nTrain; s++) {
    const spectrogramId = spectrogramIds[s]!
    const patientId = s < nPatients ? patients[s]! : patients[rs.randint(0, nPatients)]!
    const trueClass = drawCategorical(rs, SYNTH_CLASS_PRIORS)
    const accuracy = RATER_ACCURACY_MIN + RATER_ACCURACY_SPAN * rs.randomSample()
    const nLabels = Math.min(MAX_LABELS, 1 + Math.floor(Math.exp(LABELS_MU + LABELS_SIGMA * rs.standardNormal())))
    let nEegs = 1
    while (nEegs < nLabels && rs.randomSample() < P_ANOTHER_EEG) nEegs++
    // Cut the label rows into nEegs contiguous runs, each at least one row.
    const cuts = new Set<number>()
    while (cuts.size < nEegs - 1) cuts.add(rs.randint(1, nLabels))
    const starts = [0, ...Array.from(cuts).sort((a, b) => a - b)]
    const eegIds = distinctIds(rs, nEegs, 0, EEG_ID_HIGH, eegTaken)
    const labelIds = distinctIds(rs, nLabels, 0, EEG_ID_HIGH, labelTaken)
    let offset = SECONDS_PER_STEP * rs.randint(0, FIRST_OFFSET_STEPS)
    let maxStart = 0
    let eeg = -1
    let eegBase = 0
    let eegSub = 0
    for (let i = 0; i < nLabels; i++) {
      if (i > 0) offset += SECONDS_PER_STEP * rs.randint(1, MAX_OFFSET_STEP + 1)
      if (eeg + 1 < nEegs && starts[eeg + 1] === i) {
        eeg++
        eegBase = offset
        eegSub = 0
      }
      const votes = new Array<number>(N_CLASSES).fill(0)
      const raters = drawRaters(rs)
      for (let r = 0; r < raters; r++) {
        const k = rs.randomSample() < accuracy ? trueClass : drawCategorical(rs, CONFUSION[trueClass]!)
        votes[k]!++
      }
      rows.push({ eegId: eegIds[eeg]!, eegSub: eegSub++, eegOffset: offset - eegBase, spectrogramId, spectrogramSub: i, spectrogramOffset: offset, labelId: labelIds[i]!, patientId, votes })
      maxStart = Math.max(maxStart, offset / SECONDS_PER_STEP)
    }
    const nRows = maxStart + WINDOW_WIDTH + rs.randint(0, MAX_SLACK_ROWS + 1)
    trainSpecs.push({ spectrogramId, trueClass, rows: nRows, seed: rs.nextUint32() })
  }
  // The real train.csv is sorted by eeg_id, then eeg_sub_id.
  rows.sort((a, b) => a.eegId - b.eegId || a.eegSub - b.eegSub)

  const train: TrainRows = {
    eegId: [], eegSubId: [], eegLabelOffsetSeconds: [], spectrogramId: [], spectrogramSubId: [], spectrogramLabelOffsetSeconds: [],
    labelId: [], patientId: [], expertConsensus: [], votes: [],
  }
  for (const r of rows) {
    train.eegId.push(r.eegId)
    train.eegSubId.push(r.eegSub)
    train.eegLabelOffsetSeconds.push(r.eegOffset)
    train.spectrogramId.push(r.spectrogramId)
    train.spectrogramSubId.push(r.spectrogramSub)
    train.spectrogramLabelOffsetSeconds.push(r.spectrogramOffset)
    train.labelId.push(r.labelId)
    train.patientId.push(r.patientId)
    let best = 0
    for (let k = 1; k < N_CLASSES; k++) if (r.votes[k]! > r.votes[best]!) best = k
    train.expertConsensus.push(CONSENSUS_LABELS[best]!)
    train.votes.push(...r.votes)
  }

  const testPatients = distinctIds(rs, options.testSpectrograms, 1, PATIENT_ID_HIGH, patientTaken)
  const testEegs = distinctIds(rs, options.testSpectrograms, 0, EEG_ID_HIGH, eegTaken)
  const testSpecs: Array<SpectrogramSpec> = []
  for (let s = 0; s < options.testSpectrograms; s++) {
    testSpecs.push({ spectrogramId: spectrogramIds[nTrain + s]!, trueClass: drawCategorical(rs, SYNTH_CLASS_PRIORS), rows: WINDOW_WIDTH, seed: rs.nextUint32() })
  }
  return {
    train,
    trainSpectrograms: trainSpecs,
    test: { spectrogramId: testSpecs.map((s) => s.spectrogramId), eegId: testEegs, patientId: testPatients },
    testSpectrograms: testSpecs,
  }
}

// ---------------------------------------------------------------------------------------------
// Spectrogram values

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
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
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
    for (let b = 0; b < BINS_PER_REGION; b++) background[r * BINS_PER_REGION + b] = Math.exp(BG_LEVEL + gain + regionGain - BG_SLOPE * Math.log(1 + FREQ_HZ[b]!))
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
    addTerm(POSTERIOR.map((p) => (p ? 1 : 0)), profile, new Float64Array(T).fill(1))
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

// ---------------------------------------------------------------------------------------------
// Files

/** train.csv's text: offsets as pandas writes floats ("6.0"), ids and votes as ints. */
export const trainCsv = (train: TrainRows): string => {
  const rows = train.labelId.length
  const vote = (k: number) => Array.from({ length: rows }, (_, i) => train.votes[i * N_CLASSES + k]!)
  const columns: ReadonlyArray<CsvOutColumn> = [
    { name: "eeg_id", kind: "integer", values: train.eegId },
    { name: "eeg_sub_id", kind: "integer", values: train.eegSubId },
    { name: "eeg_label_offset_seconds", kind: "float", values: train.eegLabelOffsetSeconds },
    { name: "spectrogram_id", kind: "integer", values: train.spectrogramId },
    { name: "spectrogram_sub_id", kind: "integer", values: train.spectrogramSubId },
    { name: "spectrogram_label_offset_seconds", kind: "float", values: train.spectrogramLabelOffsetSeconds },
    { name: "label_id", kind: "integer", values: train.labelId },
    { name: "patient_id", kind: "integer", values: train.patientId },
    { name: "expert_consensus", kind: "string", values: train.expertConsensus },
    ...VOTE_COLUMNS.map((name, k): CsvOutColumn => ({ name, kind: "integer", values: vote(k) })),
  ]
  if (columns.some((c, i) => c.name !== TRAIN_COLUMNS[i])) throw new Error("train.csv columns out of step with TRAIN_COLUMNS")
  return formatCsv(columns)
}

export const testCsv = (plan: SynthPlan): string => {
  const [spectrogramId, eegId, patientId] = TEST_COLUMNS
  return formatCsv([
    { name: spectrogramId, kind: "integer", values: plan.test.spectrogramId },
    { name: eegId, kind: "integer", values: plan.test.eegId },
    { name: patientId, kind: "integer", values: plan.test.patientId },
  ])
}

export const sampleSubmissionCsv = (plan: SynthPlan): string => {
  const n = plan.test.eegId.length
  const [eegId, ...votes] = SUBMISSION_COLUMNS
  return formatCsv([
    { name: eegId, kind: "integer", values: plan.test.eegId },
    ...votes.map((name): CsvOutColumn => ({ name, kind: "float", values: new Array<number>(n).fill(1 / N_CLASSES) })),
  ])
}

export interface SynthSummary {
  readonly dir: string
  readonly trainRows: number
  readonly trainSpectrograms: number
  readonly testSpectrograms: number
  readonly spectrogramRows: number
}

/** How many parquet files are encoded and written at once. */
const WRITE_CONCURRENCY = 2

const write = (file: string, data: string | Uint8Array): Effect.Effect<void, FileWriteFailed> =>
  Effect.tryPromise({
    try: () => writeFile(file, data),
    catch: (cause) => new FileWriteFailed({ file, reason: describeCause(cause) }),
  })

const makeDir = (dir: string): Effect.Effect<void, FileWriteFailed> =>
  Effect.tryPromise({
    try: () => mkdir(dir, { recursive: true }),
    catch: (cause) => new FileWriteFailed({ file: dir, reason: describeCause(cause) }),
  })

/** Writes the whole synthetic dataset into `dir` (created if missing). */
export const writeSynthDataset = (dir: string, options: SynthOptions): Effect.Effect<SynthSummary, FileWriteFailed> =>
  Effect.gen(function* () {
    const plan = drawSynthPlan(options)
    const trainDir = join(dir, TRAIN_SPECTROGRAMS_DIR)
    const testDir = join(dir, TEST_SPECTROGRAMS_DIR)
    yield* makeDir(trainDir)
    yield* makeDir(testDir)
    yield* write(join(dir, TRAIN_CSV), trainCsv(plan.train))
    yield* write(join(dir, TEST_CSV), testCsv(plan))
    yield* write(join(dir, SAMPLE_SUBMISSION_CSV), sampleSubmissionCsv(plan))
    const jobs = [...plan.trainSpectrograms.map((s) => [trainDir, s] as const), ...plan.testSpectrograms.map((s) => [testDir, s] as const)]
    yield* Effect.forEach(
      jobs,
      ([where, spec]) =>
        Effect.suspend(() => write(join(where, `${spec.spectrogramId}${PARQUET_EXTENSION}`), encodeParquetColumnMajor(synthSpectrogram(spec), { nanAsNull: true }))),
      { concurrency: WRITE_CONCURRENCY, discard: true },
    )
    return {
      dir,
      trainRows: plan.train.labelId.length,
      trainSpectrograms: plan.trainSpectrograms.length,
      testSpectrograms: plan.testSpectrograms.length,
      spectrogramRows: jobs.reduce((a, [, s]) => a + s.rows, 0),
    }
  })
