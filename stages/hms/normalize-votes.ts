import * as path from "node:path"
import { Effect, Either, Schema } from "effect"
import { defineStage } from "cairn"
import { N_CLASSES, TRAIN_CSV } from "./constants.js"
import { LABELS_TABLE_FILE, readTrainTable, TRAIN_TABLE_FILE, writeTrainTable } from "./tables.js"
import { firstRowPerKey, normalizeVotes as normalize, type TrainTable } from "./train-table.js"
import { loadCsv } from "./load-csv.js"

const take = (a: Float64Array, rows: ArrayLike<number>) => Float64Array.from(rows, (r) => a[r]!)

/**
 * The seed's `train[CLASSES] /= train[CLASSES].sum(axis=1)` then `groupby("spectrogram_id").head(1)`:
 * votes become probabilities and the first row of each spectrogram is kept, in file order.
 * `max_rows` keeps only the first N of those rows (0: all), for quick runs.
 */
export const normalizeVotes = defineStage({
  name: "normalize-votes",
  description: "votes to probabilities; first row per spectrogram",
  params: Schema.Struct({ max_rows: Schema.Int.pipe(Schema.nonNegative()) }),
  inputs: { table: loadCsv },
  run: (ctx) =>
    Effect.gen(function* () {
      const table = yield* readTrainTable(path.join(ctx.inputs.table.dir, TRAIN_TABLE_FILE), TRAIN_CSV)
      const votes = yield* Either.match(normalize(table), { onLeft: Effect.fail, onRight: Effect.succeed })
      const first = firstRowPerKey(table.spectrogramId)
      const kept = ctx.params.max_rows > 0 ? first.subarray(0, ctx.params.max_rows) : first
      const keptVotes = new Float64Array(kept.length * N_CLASSES)
      kept.forEach((r, i) => keptVotes.set(votes.subarray(r * N_CLASSES, (r + 1) * N_CLASSES), i * N_CLASSES))
      const out: TrainTable = {
        file: table.file,
        rows: kept.length,
        eegId: take(table.eegId, kept),
        eegSubId: take(table.eegSubId, kept),
        eegLabelOffsetSeconds: take(table.eegLabelOffsetSeconds, kept),
        spectrogramId: take(table.spectrogramId, kept),
        spectrogramSubId: take(table.spectrogramSubId, kept),
        spectrogramLabelOffsetSeconds: take(table.spectrogramLabelOffsetSeconds, kept),
        labelId: take(table.labelId, kept),
        patientId: take(table.patientId, kept),
        expertConsensus: Array.from(kept, (r) => table.expertConsensus[r]!),
        votes: keptVotes,
      }
      yield* writeTrainTable(path.join(ctx.outDir, LABELS_TABLE_FILE), out)
      yield* ctx.metrics({ train_spectrograms: first.length, rows_used: out.rows })
      return { rows: out.rows, source: table.file }
    }),
})
