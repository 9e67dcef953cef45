/**
 * The synthetic dataset's tables: label rows (raters, votes, offsets), ids and each spectrogram's
 * spec (its class, length and seed), all drawn from `RandomState(seed)`.
 */
import { RandomState } from "cairn/data"
import { CONSENSUS_LABELS, N_CLASSES, SECONDS_PER_STEP, WINDOW_WIDTH, type ConsensusLabel } from "../constants.js"

// Parameters of the label distribution (one place)

/** The competition's class prior (share of expert_consensus), in CONSENSUS_LABELS order: what the synthetic labels aim at. */
export const TARGET_CLASS_PRIORS = [0.18, 0.11, 0.09, 0.07, 0.13, 0.42] as const
/**
 * The prior of the spectrograms' true class. Rater noise moves consensus away from the true class
 * (mostly out of Other), so this prior is tuned for the consensus to land on TARGET_CLASS_PRIORS.
 */
export const SYNTH_CLASS_PRIORS = [0.177, 0.109, 0.088, 0.069, 0.137, 0.42] as const

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
      rows.push({
        eegId: eegIds[eeg]!,
        eegSub: eegSub++,
        eegOffset: offset - eegBase,
        spectrogramId,
        spectrogramSub: i,
        spectrogramOffset: offset,
        labelId: labelIds[i]!,
        patientId,
        votes,
      })
      maxStart = Math.max(maxStart, offset / SECONDS_PER_STEP)
    }
    const nRows = maxStart + WINDOW_WIDTH + rs.randint(0, MAX_SLACK_ROWS + 1)
    trainSpecs.push({ spectrogramId, trueClass, rows: nRows, seed: rs.nextUint32() })
  }
  // The real train.csv is sorted by eeg_id, then eeg_sub_id.
  rows.sort((a, b) => a.eegId - b.eegId || a.eegSub - b.eegSub)

  const train: TrainRows = {
    eegId: [],
    eegSubId: [],
    eegLabelOffsetSeconds: [],
    spectrogramId: [],
    spectrogramSubId: [],
    spectrogramLabelOffsetSeconds: [],
    labelId: [],
    patientId: [],
    expertConsensus: [],
    votes: [],
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
    testSpecs.push({
      spectrogramId: spectrogramIds[nTrain + s]!,
      trueClass: drawCategorical(rs, SYNTH_CLASS_PRIORS),
      rows: WINDOW_WIDTH,
      seed: rs.nextUint32(),
    })
  }
  return {
    train,
    trainSpectrograms: trainSpecs,
    test: { spectrogramId: testSpecs.map((s) => s.spectrogramId), eegId: testEegs, patientId: testPatients },
    testSpectrograms: testSpecs,
  }
}
