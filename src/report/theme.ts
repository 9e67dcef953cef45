/**
 * The one place for the report's look: fonts, colours, sizes shared by the charts, the DAG drawing
 * and the HTML page.
 */
import type { StageStatus } from "../core/reporter.js"

export type { StageStatus }

/** Stage statuses in legend order. */
export const STAGE_STATUSES: ReadonlyArray<StageStatus> = ["ran", "cached", "failed", "skipped"]

export interface StatusStyle {
  /** Box fill in the DAG. */
  readonly fill: string
  /** Box border in the DAG, and the bar colour in charts. */
  readonly stroke: string
  /** Dashed border (skipped: it never ran). */
  readonly dashed: boolean
}

export const STATUS_STYLES: Readonly<Record<StageStatus, StatusStyle>> = {
  ran: { fill: "#dcefd8", stroke: "#2e7d32", dashed: false },
  cached: { fill: "#dce8f5", stroke: "#1f5f9e", dashed: false },
  failed: { fill: "#fbdcdc", stroke: "#c62828", dashed: false },
  skipped: { fill: "#f1f1f1", stroke: "#8a8a8a", dashed: true },
}

/** Fonts: generic families only, so a page never asks for a web font. */
export const FONT_SANS = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif"
export const FONT_MONO = "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace"

/** Text colour, muted text colour, hairline colour. */
export const INK = "#1d2329"
export const INK_MUTED = "#5b6670"
export const HAIRLINE = "#d0d6dc"

/** Categorical palette for series (Tableau 10), in order. */
export const SERIES_PALETTE: ReadonlyArray<string> = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
]

/** Accent for reference lines and highlighted points. */
export const ACCENT = "#c62828"

/** Sequential colour scheme of heatmaps (a vega scheme name). */
export const HEATMAP_SCHEME = "blues"
/** A heatmap cell label is white when its value is above this fraction of the maximum. */
export const HEATMAP_DARK_FRACTION = 0.55

/** Chart sizes in px (the plotting area, without axes and legends). */
export const CHART_WIDTH = 560
export const CHART_HEIGHT = 300
/** Height of one band (bar or heatmap row) in px. */
export const BAND_STEP = 26
/** Dash pattern of the second line style (validation curves): 6 px on, 4 px off. */
export const DASH_PATTERN: ReadonlyArray<number> = [6, 4]
export const SOLID_PATTERN: ReadonlyArray<number> = [1, 0]

/** Font sizes in px. */
export const FONT_SIZE = 12
export const FONT_SIZE_SMALL = 11
export const FONT_SIZE_TITLE = 14

/**
 * Average advance of a character as a fraction of the font size: exact for most monospace fonts
 * (0.6 em), a safe overestimate for the sans labels vega measures without a canvas.
 */
export const MONO_CHAR_EM = 0.6
