import { Schema } from "effect"
import { defineSource } from "cairn"
import { SAMPLE_SUBMISSION_CSV, TEST_CSV, TEST_SPECTROGRAMS_DIR, TRAIN_CSV, TRAIN_SPECTROGRAMS_DIR } from "./constants.js"

/**
 * The Kaggle download, read in place (`--param data=/path/to/hms-harmful-brain-activity-classification`).
 * Only what the pipeline reads is hashed: not the 16 GB of EEGs.
 */
export const kaggleData = defineSource({
  name: "kaggle-data",
  param: "data",
  params: Schema.Struct({ data: Schema.String }),
  include: [TRAIN_CSV, TRAIN_SPECTROGRAMS_DIR, TEST_CSV, TEST_SPECTROGRAMS_DIR, SAMPLE_SUBMISSION_CSV],
  description: "the competition folder, hashed in place",
})

/**
 * The test half of the Kaggle download (`--param data=DIR`): what the inference notebook reads
 * (test.csv, test_spectrograms/, sample_submission.csv). A folder with only these is enough.
 */
export const kaggleTestData = defineSource({
  name: "kaggle-test-data",
  param: "data",
  params: Schema.Struct({ data: Schema.String }),
  include: [TEST_CSV, TEST_SPECTROGRAMS_DIR, SAMPLE_SUBMISSION_CSV],
  description: "the competition folder's test files, hashed in place",
})
