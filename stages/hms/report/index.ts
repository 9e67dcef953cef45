/**
 * The HMS run report: `report.html` plus one SVG per chart under `charts/`, built from a plain data
 * record (the run's stages and timings, per-fold training histories, OOF metrics).
 *
 * The page's sections, in order: summary, DAG, loss curves, confusion matrix, per-class KL, CV vs
 * baseline, run time per stage, params. Every chart is also inlined in the page, so `report.html`
 * alone is the whole report. Same data, same bytes.
 *
 * Files: data.ts (the record, its files, its validation), format.ts (text formatting),
 * chart-specs.ts (one spec per chart), page.ts (the page, and writing it all).
 */ export { type BuiltHmsReport, HMS_REPORT_FILES, type HmsReportData, type HmsReportError, type HmsStageStatus, validateHmsReportData } from "./data.js"
export { formatDuration, formatParam, shortClassName } from "./report-format.js"
export { buildHmsReport, writeHmsReport, writeHmsReportEffect } from "./page.js"
