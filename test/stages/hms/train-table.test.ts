import { it as effectIt } from "@effect/vitest"
import { Effect, Either } from "effect"
import { createHash } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect } from "vitest"
import { formatCsv } from "../../../src/data/csv.js"
import { DuckDbLive } from "../../../src/data/duckdb/index.js"
import { FOLD_TABLE_COLUMNS, TRAIN_COLUMNS } from "../../../stages/hms/constants.js"
import { drawSynthPlan, trainCsv } from "../../../stages/hms/synth/index.js"
import {
  buildFoldTable,
  firstRowPerKey,
  foldTableColumns,
  loadTestTable,
  loadTrainTable,
  normalizeVotes,
  writeFoldTable,
} from "../../../stages/hms/train-table.js"
import { HMS_REAL_DIR } from "../../data/real-fixture-golden.js"

const dir = mkdtempSync(join(tmpdir(), "cairn-train-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
let counter = 0
const csvFile = (text: string) => {
  const file = join(dir, `train${++counter}.csv`)
  writeFileSync(file, text)
  return file
}
const sha = (text: string | Buffer) => createHash("sha256").update(text).digest("hex")

const HEADER = TRAIN_COLUMNS.join(",")
const GOOD_ROWS = [
  "1628180742,0,0.0,353733,0,0.0,127492639,42516,Seizure,3,0,0,0,0,0",
  "1628180742,1,6.0,353733,1,6.0,3887563113,42516,Seizure,3,0,0,0,0,0",
  "2277392603,0,0.0,924234,0,0.0,1978807404,30539,GPD,0,0,3,0,0,0",
  "2277392603,1,4.0,924234,1,18.0,1642864902,30539,LPD,0,2,1,0,0,0",
  "722738444,0,0.0,999431,0,8.0,557980729,56885,LRDA,0,0,0,1,0,2",
]
const goodCsv = (rows: ReadonlyArray<string> = GOOD_ROWS) => `${[HEADER, ...rows].join("\n")}\n`
const withCell = (row: number, column: string, value: string) =>
  goodCsv(
    GOOD_ROWS.map((line, i) =>
      i === row
        ? line
            .split(",")
            .map((v, k) => (TRAIN_COLUMNS[k] === column ? value : v))
            .join(",")
        : line,
    ),
  )

const load = (text: string) => loadTrainTable(csvFile(text)).pipe(Effect.provide(DuckDbLive))
const loadError = (text: string) => Effect.flip(load(text))

describe("train table", () => {
  effectIt.effect("loads, normalizes, keeps the first row per spectrogram", () =>
    Effect.gen(function* () {
      const t = yield* load(goodCsv())
      expect(t.rows).toBe(5)
      expect(Array.from(t.labelId)).toEqual([127492639, 3887563113, 1978807404, 1642864902, 557980729])
      expect(t.expertConsensus).toEqual(["Seizure", "Seizure", "GPD", "LPD", "LRDA"])
      expect(Array.from(t.spectrogramLabelOffsetSeconds)).toEqual([0, 6, 0, 18, 8])
      const v = Either.getOrThrow(normalizeVotes(t))
      expect(Array.from(v.subarray(18, 24))).toEqual([0, 2 / 3, 1 / 3, 0, 0, 0])
      expect(Array.from(v.subarray(24, 30))).toEqual([0, 0, 0, 1 / 3, 0, 2 / 3])
      expect(Array.from(firstRowPerKey(t.spectrogramId))).toEqual([0, 2, 4])
      expect(Array.from(firstRowPerKey([5, 3, 5, 3, 9, 5]))).toEqual([0, 1, 4])
    }),
  )

  const cases: ReadonlyArray<[string, string, RegExp]> = [
    [
      "missing column",
      goodCsv()
        .replace(",patient_id", "")
        .replace(/,42516|,30539|,56885/g, ""),
      /header row is missing column "patient_id"/,
    ],
    [
      "extra column",
      goodCsv()
        .replace("other_vote", "other_vote,extra")
        .replace(/\n(?=.)/g, "\n")
        .replace(/,0\n/g, ",0,1\n")
        .replace(/,2\n/g, ",2,1\n"),
      /unexpected column "extra" at position 16/,
    ],
    ["non-numeric id", withCell(2, "label_id", "abc"), /data row 3 \(line 4\), column "label_id": "abc" is not an integer/],
    ["fractional id", withCell(0, "spectrogram_id", "353733.5"), /data row 1 \(line 2\), column "spectrogram_id": "353733.5" is not an integer/],
    ["negative vote", withCell(3, "gpd_vote", "-1"), /data row 4 \(line 5\), column "gpd_vote": "-1" is not a finite, non-negative vote count/],
    ["NaN vote", withCell(1, "lrda_vote", "nan"), /data row 2 \(line 3\), column "lrda_vote": "NaN" is not a finite, non-negative vote count/],
    ["empty vote", withCell(4, "other_vote", ""), /data row 5 \(line 6\), column "other_vote": an empty cell is not a number/],
    [
      "unknown label",
      withCell(0, "expert_consensus", "Spike"),
      /data row 1 \(line 2\), column "expert_consensus": "Spike" is not one of Seizure, LPD, GPD, LRDA, GRDA, Other/,
    ],
    [
      "negative offset",
      withCell(2, "spectrogram_label_offset_seconds", "-2.0"),
      /data row 3 .*"spectrogram_label_offset_seconds": "-2" is not a finite, non-negative offset/,
    ],
    ["empty file", "", /train\d+\.csv: empty file \(no header row\)/],
    ["header only", `${HEADER}\n`, /train\d+\.csv: empty file \(a header but no data row\)/],
  ]
  for (const [name, text, message] of cases) {
    effectIt.effect(`refuses: ${name}`, () =>
      Effect.gen(function* () {
        const e = yield* loadError(text)
        expect(e.message).toMatch(message)
        expect(e.message).toMatch(/train\d+\.csv/)
      }),
    )
  }

  effectIt.effect("reads the real test.csv", () =>
    Effect.gen(function* () {
      const t = yield* loadTestTable(join(HMS_REAL_DIR, "test.csv")).pipe(Effect.provide(DuckDbLive))
      expect(t.rows).toBe(1)
      expect([t.spectrogramId[0], t.eegId[0], t.patientId[0]]).toEqual([853520, 3911565283, 6885])
    }),
  )

  effectIt.effect("a row without votes is an error naming its label_id", () =>
    Effect.gen(function* () {
      const t = yield* load(goodCsv([...GOOD_ROWS.slice(0, 3), "2277392603,1,4.0,924234,1,18.0,1642864902,30539,LPD,0,0,0,0,0,0"]))
      const e = Either.getOrThrow(Either.flip(buildFoldTable(t)))
      expect(e._tag).toBe("ZeroVotes")
      expect(e.message).toMatch(/train\d+\.csv: data row 4 \(label_id 1642864902\) has no votes/)
    }),
  )

  effectIt.effect("fold table and CSV equal pandas + scikit-learn on a synthetic train.csv (1000 spectrograms)", () =>
    Effect.gen(function* () {
      // Goldens from test/golden/hms_seed_golden.py folds (pandas 3.0.6; scikit-learn 1.6.1 legacy, 1.9.1 fixed).
      const text = trainCsv(drawSynthPlan({ trainSpectrograms: 1000, testSpectrograms: 0, seed: 1086 }).train)
      expect(sha(text)).toBe("f98765970103b2808e7cdfe6eb15a4c44c05f5c99ff168ccc6895e63209e60c6")
      const t = yield* load(text)
      expect(t.rows).toBe(9805)
      const legacy = Either.getOrThrow(buildFoldTable(t))
      expect(legacy.rows).toBe(1000)
      expect(foldTableColumns(legacy).map((c) => c.name)).toEqual(FOLD_TABLE_COLUMNS)
      expect(sha(formatCsv(foldTableColumns(legacy)))).toBe("11eb55cc693c03b04bbf75b5bbb7728a41ec3fb38df580b87ed8ca9f7618a25e")
      const fixed = Either.getOrThrow(buildFoldTable(t, { nFolds: 5, seed: 1086, variant: "fixed" }))
      expect(sha(formatCsv(foldTableColumns(fixed)))).toBe("28bec7c9dbf5ead7f1d40ec57a56cf76fed538a5ae975a3592c190fdf5e71341")
      const out = join(dir, "folds.csv")
      yield* writeFoldTable(out, legacy)
      expect(sha(readFileSync(out))).toBe("11eb55cc693c03b04bbf75b5bbb7728a41ec3fb38df580b87ed8ca9f7618a25e")
    }),
  )
})
