/**
 * The one place for the HMS-HBAC competition's constants: class and vote columns, file layouts,
 * spectrogram geometry, the seed's window and clip bounds, folds and seed.
 */

/** The six vote columns of train.csv, in file order (the seed's `CLASSES`). */
export const VOTE_COLUMNS = ["seizure_vote", "lpd_vote", "gpd_vote", "lrda_vote", "grda_vote", "other_vote"] as const
export type VoteColumn = (typeof VOTE_COLUMNS)[number]

/** `expert_consensus` labels, in the same order as `VOTE_COLUMNS`. */
export const CONSENSUS_LABELS = ["Seizure", "LPD", "GPD", "LRDA", "GRDA", "Other"] as const
export type ConsensusLabel = (typeof CONSENSUS_LABELS)[number]

export const N_CLASSES = VOTE_COLUMNS.length

/** train.csv's 15 columns, in file order. */
export const TRAIN_COLUMNS = [
  "eeg_id",
  "eeg_sub_id",
  "eeg_label_offset_seconds",
  "spectrogram_id",
  "spectrogram_sub_id",
  "spectrogram_label_offset_seconds",
  "label_id",
  "patient_id",
  "expert_consensus",
  ...VOTE_COLUMNS,
] as const
export type TrainColumn = (typeof TRAIN_COLUMNS)[number]

/** test.csv's columns, in file order. */
export const TEST_COLUMNS = ["spectrogram_id", "eeg_id", "patient_id"] as const

/** sample_submission.csv's (and the submission's) columns, in file order. */
export const SUBMISSION_COLUMNS = ["eeg_id", ...VOTE_COLUMNS] as const

/** The fold table the split stage exports, in column order. */
export const FOLD_TABLE_COLUMNS = ["label_id", "spectrogram_id", "patient_id", "expert_consensus", "fold", ...VOTE_COLUMNS] as const

/** File and folder names of the competition's data directory. */
export const TRAIN_CSV = "train.csv"
export const TEST_CSV = "test.csv"
export const SAMPLE_SUBMISSION_CSV = "sample_submission.csv"
export const TRAIN_SPECTROGRAMS_DIR = "train_spectrograms"
export const TEST_SPECTROGRAMS_DIR = "test_spectrograms"
export const PARQUET_EXTENSION = ".parquet"
export const NPY_EXTENSION = ".npy"

/** Spectrogram regions (electrode chains), in column order. Left: LL, LP; right: RL, RP. */
export const REGIONS = ["LL", "RL", "LP", "RP"] as const
export type Region = (typeof REGIONS)[number]
export const LEFT_REGIONS: ReadonlyArray<Region> = ["LL", "LP"]
export const RIGHT_REGIONS: ReadonlyArray<Region> = ["RL", "RP"]

/** The spectrograms' frequency bins are k * SAMPLE_RATE_HZ / FFT_SIZE for k = FIRST_BIN .. FIRST_BIN + BINS_PER_REGION - 1. */
export const SAMPLE_RATE_HZ = 200
export const FFT_SIZE = 1024
export const FIRST_BIN = 3
export const BINS_PER_REGION = 100
/** Column names carry the frequency rounded half-up to this many decimals. */
const FREQUENCY_DECIMALS = 2
const DECIMAL_SCALE = 10 ** FREQUENCY_DECIMALS

/**
 * Formats bin k's frequency as the column names do: rounded half-up to 2 decimals in exact integer
 * arithmetic (k * 200 / 1024 is a dyadic fraction, so 3.125 really is a tie and goes to 3.13), then
 * written like Python's `str(float)`: "0.59", "4.1", "15.63", "5.0".
 */
export const frequencyLabel = (k: number): string => {
  const numerator = k * SAMPLE_RATE_HZ * DECIMAL_SCALE
  const scaled = Math.floor((2 * numerator + FFT_SIZE) / (2 * FFT_SIZE))
  const whole = Math.floor(scaled / DECIMAL_SCALE)
  const fraction = String(scaled % DECIMAL_SCALE)
    .padStart(FREQUENCY_DECIMALS, "0")
    .replace(/0+$/, "")
  return `${whole}.${fraction === "" ? "0" : fraction}`
}

/** The 100 frequency labels of one region, lowest first. */
export const FREQUENCY_LABELS: ReadonlyArray<string> = Array.from({ length: BINS_PER_REGION }, (_, i) => frequencyLabel(FIRST_BIN + i))

/** The 400 spectrogram value columns (`LL_0.59` ... `RP_19.92`), in file order after `time`. */
export const SPECTROGRAM_COLUMNS: ReadonlyArray<string> = REGIONS.flatMap((region) => FREQUENCY_LABELS.map((f) => `${region}_${f}`))

/** The spectrogram files' first column, dropped by the seed (`values[:, 1:]`). */
export const SPECTROGRAM_TIME_COLUMN = "time"
/** Seconds between consecutive spectrogram rows (time = 1, 3, 5, ...). */
export const SECONDS_PER_STEP = 2
/** The first row's `time`. */
export const FIRST_TIME_SECONDS = 1

/** A window is (SPECTROGRAM_ROWS, WINDOW_WIDTH) = (400 frequencies, 300 time steps), 600 s. */
export const SPECTROGRAM_ROWS = SPECTROGRAM_COLUMNS.length
export const WINDOW_WIDTH = 300

/** The seed's log-transform clip bounds, `np.exp(-4)` and `np.exp(8)` as numpy computes them. */
export const LOG_CLIP_MIN = 0.01831563888873418
export const LOG_CLIP_MAX = 2980.9579870417283

/** The seed's folds and seed (`N_FOLDS`, `RANDAM_SEED`). */
export const N_FOLDS = 5
export const SEED = 1086
