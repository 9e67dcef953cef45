import { it as effectIt } from "@effect/vitest"
import { Effect, Either } from "effect"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DuckDbLive } from "../../../src/data/duckdb/index.js"
import { decodeParquetColumns } from "../../../src/data/parquet/index.js"
import {
  BINS_PER_REGION,
  CONSENSUS_LABELS,
  LOG_CLIP_MAX,
  LOG_CLIP_MIN,
  SAMPLE_SUBMISSION_CSV,
  SPECTROGRAM_COLUMNS,
  SUBMISSION_COLUMNS,
  TEST_COLUMNS,
  TEST_CSV,
  TEST_SPECTROGRAMS_DIR,
  TRAIN_COLUMNS,
  TRAIN_CSV,
  TRAIN_SPECTROGRAMS_DIR,
  WINDOW_WIDTH,
} from "../../../stages/hms/constants.js"
import { readSpectrogram, splitRequests, splitSpectrograms, windowStart } from "../../../stages/hms/spectrogram.js"
import { drawSynthPlan, synthSpectrogram, TARGET_CLASS_PRIORS, writeSynthDataset } from "../../../stages/hms/synth/index.js"
import { buildFoldTable, loadTrainTable } from "../../../stages/hms/train-table.js"

const root = mkdtempSync(join(tmpdir(), "cairn-synth-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))
const OPTIONS = { trainSpectrograms: 40, testSpectrograms: 4, seed: 5 }
const a = join(root, "a")
const b = join(root, "b")

beforeAll(async () => {
  await Effect.runPromise(writeSynthDataset(a, OPTIONS))
  await Effect.runPromise(writeSynthDataset(b, OPTIONS))
})

const lines = (file: string) => readFileSync(file, "utf8").trimEnd().split("\n")

describe("synthetic dataset", () => {
  it("is deterministic: same seed, same bytes; another seed, other data", async () => {
    expect(readFileSync(join(a, TRAIN_CSV)).equals(readFileSync(join(b, TRAIN_CSV)))).toBe(true)
    const files = readdirSync(join(a, TRAIN_SPECTROGRAMS_DIR)).sort()
    expect(files.length).toBe(OPTIONS.trainSpectrograms)
    expect(readdirSync(join(b, TRAIN_SPECTROGRAMS_DIR)).sort()).toEqual(files)
    for (const f of files) expect(readFileSync(join(a, TRAIN_SPECTROGRAMS_DIR, f)).equals(readFileSync(join(b, TRAIN_SPECTROGRAMS_DIR, f))), f).toBe(true)
    const other = drawSynthPlan({ ...OPTIONS, seed: 6 })
    expect(other.train.labelId.slice(0, 5)).not.toEqual(drawSynthPlan(OPTIONS).train.labelId.slice(0, 5))
  })

  it("train.csv has the competition's columns and types", () => {
    const [header, ...rows] = lines(join(a, TRAIN_CSV))
    expect(header!.split(",")).toEqual(TRAIN_COLUMNS)
    const labels = new Set(CONSENSUS_LABELS as ReadonlyArray<string>)
    for (const row of rows) {
      const c = row.split(",")
      expect(c.length).toBe(15)
      for (const k of [0, 1, 3, 4, 6, 7, 9, 10, 11, 12, 13, 14]) expect(c[k], row).toMatch(/^\d+$/)
      for (const k of [2, 5]) expect(c[k], row).toMatch(/^\d*[02468]\.0$/)
      expect(Number(c[3])).toBeLessThan(2 ** 31)
      expect(Number(c[6])).toBeLessThan(2 ** 32)
      expect(Number(c[7])).toBeLessThan(65536)
      expect(labels.has(c[8]!)).toBe(true)
      const votes = c.slice(9).map(Number)
      const sum = votes.reduce((x, y) => x + y, 0)
      expect(sum).toBeGreaterThanOrEqual(1)
      expect(sum).toBeLessThanOrEqual(27)
      // expert_consensus is the (first) most voted class.
      expect(c[8]).toBe(CONSENSUS_LABELS[votes.indexOf(Math.max(...votes))])
    }
    const eegIds = rows.map((r) => Number(r.split(",")[0]))
    expect(eegIds).toEqual([...eegIds].sort((x, y) => x - y))
  })

  it("spectrograms: time 1, 3, 5, ... then 400 float32 columns, long enough for every window, heavy-tailed, with NULLs", () => {
    const [, ...rows] = lines(join(a, TRAIN_CSV))
    const maxStart = new Map<number, number>()
    for (const row of rows) {
      const c = row.split(",")
      const id = Number(c[3])
      maxStart.set(id, Math.max(maxStart.get(id) ?? 0, windowStart(Number(c[5]))))
    }
    let nulls = 0
    let above = 0
    let below = 0
    let nonPositive = 0
    for (const [id, start] of maxStart) {
      const t = Either.getOrThrow(decodeParquetColumns(new Uint8Array(readFileSync(join(a, TRAIN_SPECTROGRAMS_DIR, `${id}.parquet`))), String(id)))
      expect(t.columns.map((c) => c.name)).toEqual(["time", ...SPECTROGRAM_COLUMNS])
      expect(t.columns[0]!.physicalType).toBe("INT64")
      expect(new Set(t.columns.slice(1).map((c) => c.physicalType))).toEqual(new Set(["FLOAT"]))
      expect(t.rows).toBeGreaterThanOrEqual(start + WINDOW_WIDTH)
      expect(Array.from(t.values[0]!.subarray(0, 3))).toEqual([1, 3, 5])
      for (const col of t.values.slice(1)) {
        for (const v of col) {
          if (Number.isNaN(v)) nulls++
          else if (v > LOG_CLIP_MAX) above++
          else if (v < LOG_CLIP_MIN) below++
          else if (!(v > 0)) nonPositive++
        }
      }
    }
    expect(nonPositive).toBe(0)
    expect(nulls).toBeGreaterThan(0)
    expect(above).toBeGreaterThan(0)
    expect(below).toBeGreaterThan(0)
  })

  it("test files: test.csv, 300-row spectrograms, sample_submission at 1/6", () => {
    const [header, ...rows] = lines(join(a, TEST_CSV))
    expect(header!.split(",")).toEqual(TEST_COLUMNS)
    expect(rows.length).toBe(OPTIONS.testSpectrograms)
    for (const row of rows) {
      const t = Either.getOrThrow(decodeParquetColumns(new Uint8Array(readFileSync(join(a, TEST_SPECTROGRAMS_DIR, `${row.split(",")[0]}.parquet`))), row))
      expect(t.rows).toBe(WINDOW_WIDTH)
    }
    const [subHeader, ...sub] = lines(join(a, SAMPLE_SUBMISSION_CSV))
    expect(subHeader!.split(",")).toEqual(SUBMISSION_COLUMNS)
    expect(sub.map((r) => r.split(",")[0])).toEqual(rows.map((r) => r.split(",")[1]))
    expect(sub[0]!.split(",").slice(1)).toEqual(new Array(6).fill("0.16666666666666666"))
  })

  effectIt.effect("our reader, validator, folds and split accept it", () =>
    Effect.gen(function* () {
      const table = yield* loadTrainTable(join(a, TRAIN_CSV))
      const folds = Either.getOrThrow(buildFoldTable(table))
      expect(folds.rows).toBe(OPTIONS.trainSpectrograms)
      const out = join(root, "npy")
      mkdirSync(out)
      // Every label row's window, not only the first per spectrogram.
      const requests = splitRequests(table, join(a, TRAIN_SPECTROGRAMS_DIR), out)
      expect(requests.length).toBe(OPTIONS.trainSpectrograms)
      const written = yield* splitSpectrograms(requests)
      expect(written.flat().length).toBe(table.rows)
      yield* readSpectrogram(join(a, TEST_SPECTROGRAMS_DIR, readdirSync(join(a, TEST_SPECTROGRAMS_DIR))[0]!))
    }).pipe(Effect.provide(DuckDbLive)),
  )
})

describe("synthetic labels", () => {
  const N = 8000
  const plan = drawSynthPlan({ trainSpectrograms: N, testSpectrograms: 0, seed: 1086 })
  const firstRow = new Map<number, number>()
  plan.train.spectrogramId.forEach((id, i) => {
    if (!firstRow.has(id)) firstRow.set(id, i)
  })

  it("class prior (first row per spectrogram) within 2.5 points of the competition's", () => {
    const counts = new Array<number>(6).fill(0)
    for (const i of firstRow.values()) counts[CONSENSUS_LABELS.indexOf(plan.train.expertConsensus[i]!)]!++
    counts.forEach((c, k) => expect(Math.abs(c / N - TARGET_CLASS_PRIORS[k]!), CONSENSUS_LABELS[k]).toBeLessThan(0.025))
  })

  it("label rows, EEGs and patients are structured like the real data", () => {
    const perSpectrogram = new Map<number, number>()
    plan.train.spectrogramId.forEach((id) => perSpectrogram.set(id, (perSpectrogram.get(id) ?? 0) + 1))
    const counts = Array.from(perSpectrogram.values()).sort((x, y) => x - y)
    const mean = counts.reduce((x, y) => x + y, 0) / counts.length
    expect(counts[counts.length >> 1]).toBe(4)
    expect(mean).toBeGreaterThan(8)
    expect(mean).toBeLessThan(12)
    expect(counts[counts.length - 1]).toBeGreaterThan(50)
    const eegs = new Set(plan.train.eegId).size
    expect(eegs / N).toBeGreaterThan(1.2)
    const spectrogramsPerPatient = N / new Set(plan.train.patientId).size
    expect(spectrogramsPerPatient).toBeGreaterThan(3)
    const sums = Array.from({ length: plan.train.labelId.length }, (_, i) => plan.train.votes.slice(i * 6, i * 6 + 6).reduce((x, y) => x + y, 0))
    const threes = sums.filter((s) => s === 3).length / sums.length
    expect(threes).toBeGreaterThan(0.3)
    expect(Math.max(...sums)).toBe(27)
  })

  it("class signatures show in the window: lateralization, band power, bursts", () => {
    // Per spectrogram, over its first window: hemisphere asymmetry (all bins, and delta bins), mean
    // log power in the delta (< 2 Hz) and 2-10 Hz bands, and how much the total jumps step to step.
    const specs = plan.trainSpectrograms.slice(0, 300)
    const DELTA_BINS = 10
    const MID_BINS = [10, 50] as const
    const stats = new Map<number, Array<{ lateral: number; lateralDelta: number; delta: number; mid: number; burst: number }>>()
    for (const spec of specs) {
      const s = synthSpectrogram(spec)
      const T = s.rows
      const hemi = [0, 0]
      const hemiDelta = [0, 0]
      let delta = 0
      let mid = 0
      const perStep = new Float64Array(WINDOW_WIDTH)
      for (let j = 0; j < 400; j++) {
        const region = Math.floor(j / BINS_PER_REGION)
        const side = region === 0 || region === 2 ? 0 : 1
        const bin = j % BINS_PER_REGION
        for (let t = 0; t < WINDOW_WIDTH; t++) {
          const v = Math.log(Math.min(Math.max(s.data[j * T + t]! || 1, LOG_CLIP_MIN), LOG_CLIP_MAX))
          hemi[side]! += v
          if (bin < DELTA_BINS) {
            delta += v
            hemiDelta[side]! += v
          } else if (bin < MID_BINS[1]) mid += v
          perStep[t]! += v
        }
      }
      let jumps = 0
      for (let t = 1; t < WINDOW_WIDTH; t++) jumps += Math.abs(perStep[t]! - perStep[t - 1]!)
      const list = stats.get(spec.trueClass) ?? []
      list.push({
        lateral: Math.abs(hemi[0]! - hemi[1]!) / (200 * WINDOW_WIDTH),
        lateralDelta: Math.abs(hemiDelta[0]! - hemiDelta[1]!) / (2 * DELTA_BINS * WINDOW_WIDTH),
        delta: delta / (4 * DELTA_BINS * WINDOW_WIDTH),
        mid: mid / (4 * (MID_BINS[1] - MID_BINS[0]) * WINDOW_WIDTH),
        burst: jumps / WINDOW_WIDTH,
      })
      stats.set(spec.trueClass, list)
    }
    type Key = "lateral" | "lateralDelta" | "delta" | "mid" | "burst"
    const m = (k: number, key: Key) => {
      const xs = stats.get(k)!
      return xs.reduce((acc, x) => acc + x[key], 0) / xs.length
    }
    const [SZ, LPD, GPD, LRDA, GRDA, OTHER] = [0, 1, 2, 3, 4, 5]
    if (process.env.CAIRN_SYNTH_STATS) {
      for (const k of stats.keys())
        console.log(CONSENSUS_LABELS[k], (["lateral", "lateralDelta", "delta", "mid", "burst"] as const).map((key) => m(k, key).toFixed(3)).join(" "))
    }
    expect(m(LPD!, "lateral")).toBeGreaterThan(2 * m(GPD!, "lateral"))
    expect(m(LRDA!, "lateralDelta")).toBeGreaterThan(2 * m(GRDA!, "lateralDelta"))
    expect(m(GRDA!, "delta")).toBeGreaterThan(m(OTHER!, "delta") + 0.5)
    expect(m(LRDA!, "delta")).toBeGreaterThan(m(OTHER!, "delta") + 0.3)
    expect(m(SZ!, "mid")).toBeGreaterThan(m(OTHER!, "mid") + 0.2)
    expect(m(GPD!, "burst")).toBeGreaterThan(2 * m(OTHER!, "burst"))
    expect(m(LPD!, "burst")).toBeGreaterThan(1.5 * m(OTHER!, "burst"))
    expect(m(GRDA!, "burst")).toBeLessThan(1.5 * m(OTHER!, "burst"))
  })
})
