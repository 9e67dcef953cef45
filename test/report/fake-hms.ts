/**
 * A realistic fake HMS run record for the report tests and `bench/check-report.ts`: 17 stages with
 * the five-fold fan-out, 5 folds × 9 epochs of decreasing losses with noise, a diagonal-heavy 6×6
 * confusion matrix, per-class KL contributions summing to the CV. Drawn from numpy's RandomState so
 * the same seed gives the same record.
 */
import { RandomState } from "../../src/data/random-state.js"
import { N_FOLDS, VOTE_COLUMNS } from "../../stages/hms/constants.js"
import type { HmsReportData } from "../../stages/hms/report/index.js"

export const FAKE_EPOCHS = 9
export const FAKE_SEED = 20240521

const round = (v: number, decimals: number): number => Number(v.toFixed(decimals))

export const FAKE_SOURCES = ["train-csv", "test-csv", "train-spectrograms", "test-spectrograms"] as const

/** The fake pipeline's stage ids, in run order. */
export const fakeStageIds = (): Array<string> => [
  ...FAKE_SOURCES,
  "train-table",
  "split",
  "preprocess-train",
  "preprocess-test",
  ...Array.from({ length: N_FOLDS }, (_, f) => `train/fold-${f}`),
  "oof",
  "predict-test",
  "submission",
  "report",
]

export const fakeEdges = (): Array<readonly [string, string]> => {
  const folds = Array.from({ length: N_FOLDS }, (_, f) => `train/fold-${f}`)
  return [
    ["train-csv", "train-table"],
    ["train-table", "split"],
    ["split", "preprocess-train"],
    ["train-spectrograms", "preprocess-train"],
    ["test-csv", "preprocess-test"],
    ["test-spectrograms", "preprocess-test"],
    ...folds.flatMap(
      (f): Array<readonly [string, string]> => [
        ["preprocess-train", f],
        ["split", f],
        [f, "oof"],
        [f, "predict-test"],
        [f, "report"],
      ],
    ),
    ["split", "oof"],
    ["preprocess-test", "predict-test"],
    ["predict-test", "submission"],
    ["oof", "report"],
    ["submission", "report"],
  ]
}

/** Statuses: sources and the table cached, training ran, `report` skipped unless told otherwise. */
const fakeStatus = (id: string): "ran" | "cached" | "failed" | "skipped" => {
  if ((FAKE_SOURCES as ReadonlyArray<string>).includes(id) || id === "train-table" || id === "split") return "cached"
  if (id === "report") return "skipped"
  return "ran"
}

export const fakeHmsReportData = (seed: number = FAKE_SEED): HmsReportData => {
  const rs = new RandomState(seed)
  const noise = (scale: number) => scale * rs.standardNormal()
  const stages = fakeStageIds().map((id) => {
    const status = fakeStatus(id)
    const base = id.startsWith("train/") ? 300 : id.startsWith("preprocess") ? 40 : 2
    const seconds = status === "ran" ? round(base * (1 + 0.2 * rs.randomSample()), 2) : status === "cached" ? round(0.05 * rs.randomSample(), 3) : 0
    return { id, status, seconds }
  })
  const folds = Array.from({ length: N_FOLDS }, (_, fold) => {
    const history = Array.from({ length: FAKE_EPOCHS }, (_, e) => {
      const epoch = e + 1
      const trainLoss = round(0.45 + 0.9 * Math.exp(-0.35 * epoch) + noise(0.01), 5)
      // Validation: falls, then creeps up a little (overfitting) after epoch ~6.
      const valLoss = round(0.62 + 0.6 * Math.exp(-0.45 * epoch) + 0.004 * Math.max(0, epoch - 6) ** 2 + noise(0.012), 5)
      return { epoch, trainLoss, valLoss }
    })
    const best = history.reduce((b, h) => (h.valLoss < b.valLoss ? h : b))
    return { fold, bestEpoch: best.epoch, bestValLoss: best.valLoss, history }
  })
  const foldScores = folds.map((f) => round(f.bestValLoss + noise(0.005), 5))
  const cvScore = round(foldScores.reduce((s, v) => s + v, 0) / foldScores.length, 5)
  const n = VOTE_COLUMNS.length
  const confusion = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? rs.randint(120, 400) : rs.randint(0, 60))))
  const weights = VOTE_COLUMNS.map(() => 0.5 + rs.randomSample())
  const wSum = weights.reduce((s, w) => s + w, 0)
  const perClassKl = Object.fromEntries(VOTE_COLUMNS.map((c, i) => [c, round((cvScore * weights[i]!) / wSum, 6)]))
  return {
    pipeline: "hms-resnet34d",
    startedAt: "2025-03-14T09:26:53.589Z",
    seconds: round(stages.reduce((s, x) => s + x.seconds, 0) * 0.55, 2),
    params: {
      epochs: FAKE_EPOCHS,
      folds: N_FOLDS,
      seed: 1086,
      model: "resnet34d",
      lr: 0.001,
      batchSize: 32,
      augment: { hflip: false, mixup: null },
      note: "<script>alert('x')</script> & \"quotes\"",
    },
    stages,
    edges: fakeEdges(),
    classes: [...VOTE_COLUMNS],
    folds,
    confusion,
    perClassKl,
    cvScore,
    priorBaseline: 1.19876,
    foldScores,
  }
}
