import { slot } from "../../src/index.js"

/**
 * The competition folder (train.csv, train_spectrograms/, test.csv, test_spectrograms/,
 * sample_submission.csv) as an input: each pipeline binds it to the real Kaggle download or to
 * the synthetic generator. Consumers read `ctx.inputs.data.dir`.
 */
export const dataset = slot<unknown>("dataset")
