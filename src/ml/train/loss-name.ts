/** The losses the engine trains with (no TF.js here: stages name them in their params and configs). */
export const LOSS_NAMES = ["kl", "cross-entropy"] as const

/**
 * - "kl": `nn.KLDivLoss(reduction="batchmean")` on `log_softmax(logits)` (soft targets, e.g. annotator
 *   distributions);
 * - "cross-entropy": `nn.CrossEntropyLoss()` (mean over rows) with class-probability targets
 *   (one-hot for hard labels).
 */
export type LossName = (typeof LOSS_NAMES)[number]
