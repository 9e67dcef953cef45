import { Either } from "effect"
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { parquetSchema } from "../../../src/data/parquet/index.js"
import {
  FOLD_TABLE_COLUMNS,
  FREQUENCY_LABELS,
  frequencyLabel,
  LOG_CLIP_MAX,
  LOG_CLIP_MIN,
  SPECTROGRAM_COLUMNS,
  SPECTROGRAM_TIME_COLUMN,
  SUBMISSION_COLUMNS,
  TEST_COLUMNS,
  TRAIN_COLUMNS,
} from "../../../stages/hms/constants.js"
import { TEST_SCHEMA, TRAIN_SCHEMA } from "../../../stages/hms/train-table.js"
import { HMS_REAL_DIR, REAL_SPECTROGRAM } from "../../data/real-fixture-golden.js"

const header = (file: string) => readFileSync(`${HMS_REAL_DIR}/${file}`, "utf8").split("\n")[0]!.split(",")

describe("HMS constants", () => {
  it("formats frequencies like Python's str(round-half-up)", () => {
    expect([3, 4, 16, 21, 80, 102].map(frequencyLabel)).toEqual(["0.59", "0.78", "3.13", "4.1", "15.63", "19.92"])
    expect(FREQUENCY_LABELS.length).toBe(100)
    // k = 48: 9.375 is an exact tie and rounds up.
    expect(frequencyLabel(48)).toBe("9.38")
  })

  it("the 400 spectrogram columns are the real file's", () => {
    const schema = Either.getOrThrow(parquetSchema(new Uint8Array(readFileSync(REAL_SPECTROGRAM)), REAL_SPECTROGRAM))
    expect(schema.columns[0]!.name).toBe(SPECTROGRAM_TIME_COLUMN)
    expect(schema.columns.slice(1).map((c) => c.name)).toEqual(SPECTROGRAM_COLUMNS)
  })

  it("test.csv and sample_submission.csv columns are the real files'", () => {
    expect(header("test.csv")).toEqual(TEST_COLUMNS)
    expect(header("sample_submission.csv")).toEqual(SUBMISSION_COLUMNS)
  })

  it("train schema, fold table and clip bounds", () => {
    expect(TRAIN_COLUMNS.length).toBe(15)
    expect(TRAIN_SCHEMA.map((c) => c.name)).toEqual(TRAIN_COLUMNS)
    expect(TEST_SCHEMA.map((c) => c.name)).toEqual(TEST_COLUMNS)
    expect(FOLD_TABLE_COLUMNS.length).toBe(11)
    expect(LOG_CLIP_MIN).toBe(Math.exp(-4))
    expect(LOG_CLIP_MAX).toBe(Math.exp(8))
  })
})
