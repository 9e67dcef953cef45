import { Schema } from "effect"
import { defineSource } from "cairn"
import { SAMPLE_SUBMISSION_CSV, TEST_CSV, TEST_SPECTROGRAMS_DIR } from "./constants.js"

/** A test folder read in place (`--param test_data=DIR`): test.csv, test_spectrograms/, sample_submission.csv. */
export const testData = defineSource({
  name: "test-data",
  param: "test_data",
  params: Schema.Struct({ test_data: Schema.String }),
  include: [TEST_CSV, TEST_SPECTROGRAMS_DIR, SAMPLE_SUBMISSION_CSV],
  description: "a competition-layout test folder, hashed in place",
})
