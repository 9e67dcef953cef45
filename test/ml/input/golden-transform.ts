import type { ImageTransform, LogZScoreOptions } from "../../../src/ml/input/preprocess.js"

/** The log-z-score constants the preprocessing goldens were made with (test/golden/gen_preprocess.py). */
export const GOLDEN_LOG_ZSCORE: LogZScoreOptions = { logMin: -4, logMax: 8, eps: 1e-6 }

/** The same as an engine transform (what the HMS stages pass). */
export const GOLDEN_TRANSFORM: ImageTransform = { kind: "log-zscore", ...GOLDEN_LOG_ZSCORE }
