import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Either, Schema } from "effect"
import { spread, writeCsv } from "cairn/data"
import { allOf, defineStage } from "cairn"
import { klDivergenceScore, perClassKl } from "cairn/ml"
import { assignFolds } from "./assign-folds.js"
import { N_CLASSES, VOTE_COLUMNS } from "./constants.js"
import { stageFileName } from "./model-files.js"
import { OofMismatch } from "./stage-errors.js"
import { FOLDS_TABLE_FILE, readFoldArrow, readValPredictions, VAL_PREDICTIONS_FILE } from "./tables.js"
import { train } from "./train.js"

export const OOF_CSV_FILE = "oof.csv"
export const METRICS_FILE = "metrics.json"

/** numpy's argmax: the first index of the largest value. */
export const argmax = (values: ArrayLike<number>, from: number, n: number): number => {
  let best = 0
  for (let k = 1; k < n; k++) if (values[from + k]! > values[from + best]!) best = k
  return best
}

const score = (solution: Float64Array, submission: Float64Array) =>
  Either.match(klDivergenceScore({ columns: VOTE_COLUMNS, values: solution }, { columns: VOTE_COLUMNS, values: submission }), {
    onLeft: Effect.fail,
    onRight: Effect.succeed,
  })

const rowsSubset = (values: Float64Array, rows: ReadonlyArray<number>) => {
  const out = new Float64Array(rows.length * N_CLASSES)
  rows.forEach((r, i) => out.set(values.subarray(r * N_CLASSES, (r + 1) * N_CLASSES), i * N_CLASSES))
  return out
}

/**
 * Out-of-fold predictions of every fold model (per seed, and the seed-averaged ensemble when the
 * folds were trained with several seeds), scored with the competition's KL metric (overall CV
 * and per fold), against the prior-only baseline: each fold predicted by the mean vote
 * distribution of its training folds. Also per-class KL and the argmax confusion matrix.
 */
export const scoreOof = defineStage({
  name: "score-oof",
  description: "OOF predictions scored with the competition metric",
  params: Schema.Struct({}),
  inputs: { models: allOf(train), folds: assignFolds },
  run: (ctx) =>
    Effect.gen(function* () {
      const t = yield* readFoldArrow(path.join(ctx.inputs.folds.dir, FOLDS_TABLE_FILE))
      const rowOf = new Map<number, number>()
      for (let i = 0; i < t.rows; i++) rowOf.set(t.labelId[i]!, i)
      // One out-of-fold table per seed (the models of `train/fold-k/seed-s`; one seed without a spread).
      const seeds = [...new Set(ctx.inputs.models.map((m) => m.value.seed))].sort((a, b) => a - b)
      const oofBySeed = new Map(seeds.map((seed) => [seed, new Float64Array(t.rows * N_CLASSES).fill(Number.NaN)]))
      for (const model of ctx.inputs.models) {
        const oofOfSeed = oofBySeed.get(model.value.seed)!
        const file = stageFileName(model.id, VAL_PREDICTIONS_FILE)
        const preds = yield* readValPredictions(path.join(model.dir, VAL_PREDICTIONS_FILE), file)
        const { labelId: ids, probabilities: cols } = preds
        for (let j = 0; j < preds.rows; j++) {
          const r = rowOf.get(ids[j]!)
          if (r === undefined) {
            return yield* new OofMismatch({ file, labelId: ids[j]!, detail: `${model.id} predicts a label that is not in the fold table` })
          }
          for (let k = 0; k < N_CLASSES; k++) oofOfSeed[r * N_CLASSES + k] = cols[k]![j]!
        }
      }
      for (const [seed, oofOfSeed] of oofBySeed) {
        const missing = [...t.labelId.keys()].find((i) => Number.isNaN(oofOfSeed[i * N_CLASSES]!))
        if (missing !== undefined) {
          return yield* new OofMismatch({
            file: path.join(ctx.inputs.folds.dir, FOLDS_TABLE_FILE),
            labelId: t.labelId[missing]!,
            detail: `fold ${t.fold[missing]} has no out-of-fold prediction for it${seeds.length > 1 ? ` with seed ${seed}` : ""}: is every fold trained?`,
          })
        }
      }
      // The seed-averaged ensemble (the only seed's table when there is one).
      const oof = new Float64Array(t.rows * N_CLASSES)
      for (const o of oofBySeed.values()) for (let i = 0; i < oof.length; i++) oof[i] = oof[i]! + o[i]! / seeds.length
      const seedScores: Array<number> = []
      for (const seed of seeds) seedScores.push(yield* score(t.votes, oofBySeed.get(seed)!))
      const folds = [...new Set(t.fold)].sort((a, b) => a - b)
      const rowsIn = (k: number) => [...t.fold.keys()].filter((i) => t.fold[i] === k)
      const cvScore = yield* score(t.votes, oof)
      const foldScores: Array<number> = []
      const prior = new Float64Array(t.rows * N_CLASSES)
      for (const k of folds) {
        const val = rowsIn(k)
        foldScores.push(yield* score(rowsSubset(t.votes, val), rowsSubset(oof, val)))
        // The prior-only baseline: the training folds' mean vote distribution.
        const mean = new Float64Array(N_CLASSES)
        let n = 0
        for (let i = 0; i < t.rows; i++) {
          if (t.fold[i] === k) continue
          for (let c = 0; c < N_CLASSES; c++) mean[c] = mean[c]! + t.votes[i * N_CLASSES + c]!
          n++
        }
        for (const r of val) for (let c = 0; c < N_CLASSES; c++) prior[r * N_CLASSES + c] = mean[c]! / n
      }
      const priorBaseline = yield* score(t.votes, prior)
      const perClass = yield* Either.match(perClassKl({ columns: VOTE_COLUMNS, values: t.votes }, { columns: VOTE_COLUMNS, values: oof }), {
        onLeft: Effect.fail,
        onRight: Effect.succeed,
      })
      const confusion = VOTE_COLUMNS.map(() => VOTE_COLUMNS.map(() => 0))
      for (let i = 0; i < t.rows; i++) confusion[argmax(t.votes, i * N_CLASSES, N_CLASSES)]![argmax(oof, i * N_CLASSES, N_CLASSES)]! += 1

      yield* writeCsv(path.join(ctx.outDir, OOF_CSV_FILE), [
        { name: "label_id", kind: "integer", values: t.labelId },
        ...VOTE_COLUMNS.map((name, k) => ({ name, kind: "float" as const, values: Float64Array.from({ length: t.rows }, (_, i) => oof[i * N_CLASSES + k]!) })),
      ])
      const perClassKl_ = Object.fromEntries(perClass.map((p) => [p.column, p.kl]))
      const seedCv = spread(seedScores)
      const metrics = {
        cv_score: cvScore,
        // A seed spread: CV per seed (`cv_score[seed-s]`, paired by `cairn diff`), their mean and sd.
        ...(seeds.length > 1
          ? { ...Object.fromEntries(seeds.map((seed, i) => [`cv_score[seed-${seed}]`, seedScores[i]!])), cv_seed_mean: seedCv.mean, cv_seed_sd: seedCv.sd }
          : {}),
        prior_baseline: priorBaseline,
        cv_over_baseline: cvScore / priorBaseline,
        ...Object.fromEntries(foldScores.map((s, i) => [`fold${folds[i]}_score`, s])),
        ...Object.fromEntries(perClass.map((p) => [`kl_${p.column}`, p.kl])),
      }
      fs.writeFileSync(path.join(ctx.outDir, METRICS_FILE), `${JSON.stringify(metrics, null, 2)}\n`)
      yield* ctx.metrics(metrics)
      return { cvScore, priorBaseline, foldScores, folds, seeds, seedScores, perClassKl: perClassKl_, confusion, classes: [...VOTE_COLUMNS], rows: t.rows }
    }),
})
