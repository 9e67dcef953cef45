/** The DAG drawing's geometry (px) and text measures, shared by the layout and the SVG. */
import { MONO_CHAR_EM } from "../theme.js"

/** Geometry, px. */
export const MARGIN = 16
export const LEGEND_HEIGHT = 22
export const LEGEND_SWATCH = 14
export const LEGEND_GAP = 18
export const BOX_PAD_X = 12
export const BOX_MIN_WIDTH = 72
export const BOX_HEIGHT = 32
export const BOX_HEIGHT_DETAIL = 46
export const BOX_RADIUS = 6
export const LAYER_GAP = 42
export const NODE_GAP = 22
export const DUMMY_WIDTH = 6
/** Distance between the ports of a box's edges (less when the box is too narrow). */
export const PORT_SPACING = 12
export const ARROW_LENGTH = 8
export const ARROW_HALF_WIDTH = 4
export const EDGE_COLOR = "#7b8794"
export const EDGE_WIDTH = 1.4
/** Labels longer than this are cut with an ellipsis (the full id is in the box's tooltip). */
export const MAX_LABEL_CHARS = 34
/** Ordering sweeps (one down and one up each) and placement iterations. */
export const ORDER_SWEEPS = 12
export const PLACE_ITERATIONS = 24
/** Coordinates are written with this many decimals. */
export const COORD_DECIMALS = 1

/** A coordinate as written in the SVG. */
export const fmt = (v: number): string => String(Number(v.toFixed(COORD_DECIMALS)))

/** A node's label: its id, cut with an ellipsis when too long. */
export const label = (id: string): string => (id.length > MAX_LABEL_CHARS ? `${id.slice(0, MAX_LABEL_CHARS - 1)}…` : id)

/** The approximate width of `text` in px at font size `size`. */
export const textWidth = (text: string, size: number): number => [...text].length * size * MONO_CHAR_EM
