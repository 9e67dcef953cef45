/**
 * The params the training and inference stages share, with the seed's values (the notebook's
 * CFG) as `SEED_CONFIG`: one place for them.
 */
import { Schema } from "effect"
import { BACKEND_ORDER } from "../../src/ml/backend-probe.js"

export const ModelName = Schema.Literal("resnet34d", "resnet18d")
export const BackendParam = Schema.Literal("auto", ...BACKEND_ORDER)

/** The seed's CFG (hms-hbac-resnet34d-baseline-training). */
export const SEED_CONFIG = {
  model: "resnet34d",
  img_size: 512,
  max_epoch: 9,
  batch_size: 32,
  lr: 1.0e-3,
  weight_decay: 1.0e-2,
  es_patience: 5,
  seed: 1086,
} as const

/** OneCycleLR as the seed builds it: pct_start 0, div_factor 25, final_div_factor 0.4. */
export const SEED_ONE_CYCLE = { pctStart: 0.0, divFactor: 25, finalDivFactor: 0.4 } as const

/** One input channel (the spectrogram), six classes. */
export const IN_CHANS = 1
