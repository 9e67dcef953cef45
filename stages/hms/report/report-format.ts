/** Formatting for the report (locale-free, so the page is the same on every machine), and its fixed names. */
import { CONSENSUS_LABELS, VOTE_COLUMNS } from "../constants.js"
import type { HmsReportData } from "./data.js"

/** Series and style names of the loss chart. */
export const TRAIN_STYLE = "train"
export const VALIDATION_STYLE = "validation"
export const BEST_EPOCH = "best epoch"
export const OVERALL_BAR = "CV (all OOF)"
export const FOLD_CATEGORY = "fold"
export const OVERALL_CATEGORY = "overall"
/** Decimals of KL values and losses in text, of seconds in text. */
const KL_DECIMALS = 4
export const KL_FORMAT = `.${KL_DECIMALS}f`
export const RATIO_DECIMALS = 3
const SECONDS_DECIMALS = 2
export const SECONDS_FORMAT = `.${SECONDS_DECIMALS}f`
export const PERCENT = 100
const SECONDS_PER_MINUTE = 60
const SECONDS_PER_HOUR = 3600

export const kl = (v: number): string => v.toFixed(KL_DECIMALS)
export const foldName = (fold: number): string => `fold ${fold}`
/** A fold model's name: `fold 3`, or `fold 3 seed 1` with a seed spread. */
export const modelName = (f: { readonly fold: number; readonly seed?: number }, data: HmsReportData): string =>
  spreadSeeds(data).length > 1 && f.seed !== undefined ? `${foldName(f.fold)} seed ${f.seed}` : foldName(f.fold)
/** The seeds of a seed spread (empty without one). */
export const spreadSeeds = (data: HmsReportData): ReadonlyArray<number> => (data.seedScores ?? []).map((s) => s.seed)
/** The distinct folds, in order. */
export const distinctFolds = (data: HmsReportData): Array<number> => [...new Set(data.folds.map((f) => f.fold))].sort((a, b) => a - b)

/** `12.34 s`, `4 min 05 s`, `1 h 02 min 03 s`. */
export const formatDuration = (seconds: number): string => {
  if (seconds < SECONDS_PER_MINUTE) return `${seconds.toFixed(SECONDS_DECIMALS)} s`
  const total = Math.round(seconds)
  const h = Math.floor(total / SECONDS_PER_HOUR)
  const m = Math.floor((total % SECONDS_PER_HOUR) / SECONDS_PER_MINUTE)
  const s = total % SECONDS_PER_MINUTE
  const mm = String(m).padStart(2, "0")
  const ss = String(s).padStart(2, "0")
  return h > 0 ? `${h} h ${mm} min ${ss} s` : `${m} min ${ss} s`
}

/** `2025-01-02T03:04:05.678Z` → `2025-01-02 03:04:05 UTC`. */
export const formatInstant = (iso: string): string => {
  const d = new Date(iso).toISOString()
  return `${d.slice(0, 10)} ${d.slice(11, 19)} UTC`
}

/** The vote column's consensus label (`seizure_vote` → `Seizure`), else the name without `_vote`. */
export const shortClassName = (name: string): string => {
  const i = (VOTE_COLUMNS as ReadonlyArray<string>).indexOf(name)
  return i >= 0 ? CONSENSUS_LABELS[i]! : name.replace(/_vote$/, "")
}

/** A param value as one line of JSON with sorted keys (non-JSON values written as JS would). */
export const formatParam = (value: unknown): string => {
  const seen = new Set<unknown>()
  const walk = (v: unknown): string => {
    if (v === undefined) return "undefined"
    if (v === null || typeof v === "boolean" || typeof v === "string") return JSON.stringify(v)
    if (typeof v === "number") return Number.isFinite(v) ? JSON.stringify(v) : String(v)
    if (typeof v === "bigint") return `${v}n`
    if (typeof v === "function") return `<function ${v.name || "anonymous"}>`
    if (typeof v === "symbol") return v.toString()
    if (seen.has(v)) return "<circular>"
    seen.add(v)
    const out = Array.isArray(v)
      ? `[${v.map(walk).join(", ")}]`
      : `{${Object.keys(v as object)
          .sort()
          .map((k) => `${JSON.stringify(k)}: ${walk((v as Record<string, unknown>)[k])}`)
          .join(", ")}}`
    seen.delete(v)
    return out
  }
  return walk(value)
}
