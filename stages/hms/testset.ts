import { slot } from "cairn"
import type { CompetitionFolder } from "./dataset.js"

/**
 * The folder `infer` predicts on (test.csv, test_spectrograms/, sample_submission.csv): usually the
 * same as the dataset, but any folder in the competition's test layout can be bound (the real
 * sample in shared/fixtures/hms-real, say).
 */
export const testset = slot<CompetitionFolder>("testset")
