import { slot, type SourceValue } from "cairn"
import type { SynthSummary } from "./synth/index.js"

/**
 * What a stage bound to a competition-folder slot returns: a source's value (the Kaggle download
 * or another folder read in place) or the synthetic generator's counts. Consumers read the folder,
 * `ctx.inputs.<name>.dir`; the value only tells which kind of folder it is.
 */
export type CompetitionFolder = SourceValue | Pick<SynthSummary, "trainRows" | "trainSpectrograms" | "testSpectrograms">

/**
 * The competition folder (train.csv, train_spectrograms/, test.csv, test_spectrograms/,
 * sample_submission.csv) as an input: each pipeline binds it to the real Kaggle download or to
 * the synthetic generator. Consumers read `ctx.inputs.data.dir`.
 */
export const dataset = slot<CompetitionFolder>("dataset")
