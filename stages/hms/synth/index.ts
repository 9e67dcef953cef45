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
 *
 * Files: tables.ts (label rows, ids, each spectrogram's spec), spectrogram.ts (its values),
 * files.ts (the CSVs and parquet files), synth-data.ts (the stage), command.ts (`cairn synth`).
 */
export { sampleSubmissionCsv, type SynthSummary, testCsv, trainCsv, writeSynthDataset } from "./files.js"
export { synthSpectrogram } from "./synth-spectrogram.js"
export {
  drawSynthPlan,
  type SpectrogramSpec,
  SYNTH_CLASS_PRIORS,
  type SynthOptions,
  type SynthPlan,
  TARGET_CLASS_PRIORS,
  type TrainRows,
} from "./synth-tables.js"
