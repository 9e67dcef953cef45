/** The report's chart specs, one builder per chart, from the report's record. */
import { spread } from "cairn/data"
import { barChart, heatmap, horizontalBarChart, lineChart, SERIES_PALETTE, STAGE_STATUSES, STATUS_STYLES } from "cairn/report"
import {
  BEST_EPOCH,
  distinctFolds,
  FOLD_CATEGORY,
  foldName,
  formatDuration,
  kl,
  KL_FORMAT,
  modelName,
  OVERALL_BAR,
  OVERALL_CATEGORY,
  PERCENT,
  RATIO_DECIMALS,
  SECONDS_FORMAT,
  shortClassName,
  spreadSeeds,
  TRAIN_STYLE,
  VALIDATION_STYLE,
} from "./report-format.js"
import type { HmsReportData } from "./data.js"

export const lossSpec = (data: HmsReportData) => {
  const trained = data.folds.filter((f) => f.history.length > 0)
  if (trained.length === 0) {
    return barChart({
      title: "Validation KL of the given fold models",
      subtitle: "no fold was trained in this run (--param checkpoints): their validation KL",
      yTitle: "validation KL divergence",
      bars: data.folds.map((f) => ({ label: modelName(f, data), value: f.bestValLoss })),
      valueLabels: true,
    })
  }
  return lineChart({
    title: "Loss curves",
    subtitle: `KL-divergence loss per epoch; solid: ${TRAIN_STYLE}, dashed: ${VALIDATION_STYLE}, ◆: ${BEST_EPOCH}`,
    xTitle: "epoch",
    yTitle: "loss (KL divergence)",
    points: data.folds.flatMap((f) =>
      f.history.flatMap((h) => [
        { x: h.epoch, y: h.trainLoss, series: modelName(f, data), style: TRAIN_STYLE },
        { x: h.epoch, y: h.valLoss, series: modelName(f, data), style: VALIDATION_STYLE },
      ]),
    ),
    seriesOrder: trained.map((f) => modelName(f, data)),
    styles: [TRAIN_STYLE, VALIDATION_STYLE],
    highlights: trained.map((f) => ({ x: f.bestEpoch, y: f.history.find((h) => h.epoch === f.bestEpoch)!.valLoss, series: modelName(f, data) })),
    highlightTitle: BEST_EPOCH,
    integerX: true,
  })
}

const confusionTotals = (data: HmsReportData) => {
  const total = data.confusion.reduce((s, row) => s + row.reduce((a, b) => a + b, 0), 0)
  const correct = data.confusion.reduce((s, row, i) => s + (row[i] ?? 0), 0)
  return { total, correct }
}

export const confusionSpec = (data: HmsReportData) => {
  const names = data.classes.map(shortClassName)
  const { total, correct } = confusionTotals(data)
  const accuracy = total === 0 ? "n/a" : `${((PERCENT * correct) / total).toFixed(1)}%`
  return heatmap({
    title: "OOF confusion matrix",
    subtitle: `argmax of the expert votes vs argmax of the OOF prediction; ${total} rows, ${accuracy} on the diagonal`,
    rowLabels: names,
    colLabels: names,
    values: data.confusion,
    rowTitle: "true class",
    colTitle: "predicted class",
  })
}

const klSum = (data: HmsReportData): number => data.classes.reduce((s, c) => s + (data.perClassKl[c] ?? 0), 0)

export const perClassSpec = (data: HmsReportData) =>
  barChart({
    title: "KL per class",
    subtitle: `mean contribution of each class to the OOF KL; sum ${kl(klSum(data))}, CV ${kl(data.cvScore)}`,
    yTitle: "mean KL contribution",
    bars: data.classes.map((c) => ({ label: shortClassName(c), value: data.perClassKl[c]! })),
    format: KL_FORMAT,
  })

export const ratio = (data: HmsReportData): number => data.cvScore / data.priorBaseline

export const cvSpec = (data: HmsReportData) =>
  horizontalBarChart({
    title: "CV vs prior baseline",
    subtitle: `CV / baseline = ${kl(data.cvScore)} / ${kl(data.priorBaseline)} = ${ratio(data).toFixed(RATIO_DECIMALS)} (lower is better)`,
    xTitle: "KL divergence (OOF)",
    bars: [
      ...distinctFolds(data).map((fold, i) => ({ label: foldName(fold), value: data.foldScores[i]!, category: FOLD_CATEGORY })),
      { label: OVERALL_BAR, value: data.cvScore, category: OVERALL_CATEGORY },
    ],
    categories: { domain: [FOLD_CATEGORY, OVERALL_CATEGORY], colors: [SERIES_PALETTE[0]!, SERIES_PALETTE[1]!] },
    rule: { value: data.priorBaseline, label: `prior baseline ${kl(data.priorBaseline)}` },
    format: KL_FORMAT,
  })

/** With a seed spread: each fold's best validation KL per seed, and the CV per seed, side by side. */
export const seedSpreadSpec = (data: HmsReportData) => {
  const seeds = spreadSeeds(data)
  const cvs = data.seedScores ?? []
  const { sd } = spread(cvs.map((s) => s.cvScore))
  return barChart({
    title: "Seed spread",
    subtitle: `best validation KL per fold and OOF CV, one bar per seed; CV sd over ${seeds.length} seeds ${kl(sd)}, ensemble CV ${kl(data.cvScore)}`,
    yTitle: "KL divergence",
    bars: [
      ...data.folds.map((f) => ({ label: foldName(f.fold), value: f.bestValLoss, group: `seed ${f.seed}` })),
      ...cvs.map((s) => ({ label: "CV", value: s.cvScore, group: `seed ${s.seed}` })),
    ],
    groups: { title: "seed", domain: seeds.map((x) => `seed ${x}`) },
    format: KL_FORMAT,
    valueLabels: false,
  })
}

export const stageTimesSpec = (data: HmsReportData) => {
  const total = data.stages.reduce((s, x) => s + x.seconds, 0)
  return horizontalBarChart({
    title: "Run time per stage",
    subtitle: `sum of stage times ${formatDuration(total)}; wall time ${formatDuration(data.seconds)}`,
    xTitle: "seconds",
    bars: data.stages.map((s) => ({ label: s.id, value: s.seconds, category: s.status })),
    categories: { title: "status", domain: STAGE_STATUSES, colors: STAGE_STATUSES.map((s) => STATUS_STYLES[s].stroke) },
    format: SECONDS_FORMAT,
  })
}
