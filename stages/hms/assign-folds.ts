import * as path from "node:path"
import { Effect, Either, Schema } from "effect"
import { stratifiedGroupKFold, stratifiedKFold } from "cairn/data"
import { defineStage } from "cairn"
import { FOLDS_CSV_FILE, FOLDS_TABLE_FILE, LABELS_TABLE_FILE, readTrainTable, writeFoldArrow } from "./tables.js"
import { writeFoldTable } from "./train-table.js"
import { normalizeVotes } from "./normalize-votes.js"

/**
 * How folds are drawn:
 * - `sgkf-legacy`: StratifiedGroupKFold as scikit-learn < 1.8 (what the seed ran), bit for bit;
 * - `sgkf`: StratifiedGroupKFold as scikit-learn >= 1.8 (shuffle fixed by PR #32540);
 * - `skf`: plain StratifiedKFold on expert_consensus (patients may span folds).
 */
export const FoldMethod = Schema.Literal("sgkf-legacy", "sgkf", "skf")

/** The seed's folds: StratifiedGroupKFold(n_folds, shuffle, seed) on expert_consensus grouped by patient_id. */
export const assignFolds = defineStage({
  name: "assign-folds",
  description: "folds by StratifiedGroupKFold (y = expert_consensus, groups = patient_id)",
  params: Schema.Struct({
    n_folds: Schema.Int.pipe(Schema.greaterThanOrEqualTo(2)),
    seed: Schema.Int.pipe(Schema.nonNegative()),
    fold_method: FoldMethod,
  }),
  inputs: { labels: normalizeVotes },
  run: (ctx) =>
    Effect.gen(function* () {
      const t = yield* readTrainTable(path.join(ctx.inputs.labels.dir, LABELS_TABLE_FILE), ctx.inputs.labels.value.source)
      const { n_folds: nSplits, seed, fold_method: method } = ctx.params
      const fold = yield* Either.match(
        method === "skf"
          ? stratifiedKFold({ y: t.expertConsensus, nSplits, shuffle: true, randomState: seed })
          : stratifiedGroupKFold({
              y: t.expertConsensus,
              groups: t.patientId,
              nSplits,
              shuffle: true,
              randomState: seed,
              variant: method === "sgkf-legacy" ? "legacy" : "fixed",
            }),
        { onLeft: Effect.fail, onRight: Effect.succeed },
      )
      const folds = {
        rows: t.rows,
        labelId: t.labelId,
        spectrogramId: t.spectrogramId,
        patientId: t.patientId,
        expertConsensus: t.expertConsensus,
        spectrogramLabelOffsetSeconds: t.spectrogramLabelOffsetSeconds,
        fold,
        votes: t.votes,
      }
      yield* writeFoldTable(path.join(ctx.outDir, FOLDS_CSV_FILE), folds)
      yield* writeFoldArrow(path.join(ctx.outDir, FOLDS_TABLE_FILE), folds)
      const sizes = Array.from({ length: nSplits }, (_, k) => fold.filter((f) => f === k).length)
      yield* ctx.metrics(Object.fromEntries(sizes.map((n, k) => [`fold${k}_rows`, n])))
      return { rows: t.rows, nFolds: nSplits, sizes }
    }),
})
