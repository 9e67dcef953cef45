import * as path from "node:path"
import { Effect, Schema } from "effect"
import { DuckDbLive } from "cairn/data"
import { defineStage } from "cairn"
import { TRAIN_CSV } from "./constants.js"
import { dataset } from "./dataset.js"
import { TRAIN_TABLE_FILE, writeTrainTable } from "./tables.js"
import { loadTrainTable } from "./train-table.js"

/** train.csv read by DuckDB with its 15 columns, types and values checked. */
export const loadCsv = defineStage({
  name: "load-csv",
  description: "train.csv, schema-checked (DuckDB)",
  params: Schema.Struct({}),
  inputs: { data: dataset },
  layer: DuckDbLive,
  run: (ctx) =>
    Effect.gen(function* () {
      const file = path.join(ctx.inputs.data.dir, TRAIN_CSV)
      const table = yield* loadTrainTable(file)
      yield* writeTrainTable(path.join(ctx.outDir, TRAIN_TABLE_FILE), table)
      yield* ctx.metrics({ train_rows: table.rows })
      return { rows: table.rows }
    }),
})
