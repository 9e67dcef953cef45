/** Draws a laid-out DAG as SVG: a legend, the edges with arrowheads, one box per node coloured by status. */
import { Either } from "effect"
import type { DagInvalid } from "../report-errors.js"
import { escapeXml } from "../escape.js"
import { FONT_MONO, FONT_SANS, FONT_SIZE, FONT_SIZE_SMALL, INK, INK_MUTED, STAGE_STATUSES, STATUS_STYLES } from "../theme.js"
import {
  ARROW_HALF_WIDTH,
  ARROW_LENGTH,
  BOX_RADIUS,
  EDGE_COLOR,
  EDGE_WIDTH,
  fmt,
  label,
  LEGEND_GAP,
  LEGEND_HEIGHT,
  LEGEND_SWATCH,
  MARGIN,
  textWidth,
} from "./geometry.js"
import { type DagInput, type DagLayout, dagLayout } from "./dag-layout.js"

/** The edge's curve (ending an arrow's length before the box) and its arrowhead. */
const edgePaths = (points: ReadonlyArray<readonly [number, number]>): { curve: string; arrow: string } => {
  const pts = points.map(([x, y], i) => (i === points.length - 1 ? ([x, y - ARROW_LENGTH] as const) : ([x, y] as const)))
  let d = `M${fmt(pts[0]![0])},${fmt(pts[0]![1])}`
  for (let i = 1; i < pts.length; i++) {
    const [ax, ay] = pts[i - 1]!
    const [bx, by] = pts[i]!
    const my = (ay + by) / 2
    d += ` C${fmt(ax)},${fmt(my)} ${fmt(bx)},${fmt(my)} ${fmt(bx)},${fmt(by)}`
  }
  const [ex, ey] = points[points.length - 1]!
  const arrow = `M${fmt(ex - ARROW_HALF_WIDTH)},${fmt(ey - ARROW_LENGTH)} L${fmt(ex + ARROW_HALF_WIDTH)},${fmt(ey - ARROW_LENGTH)} L${fmt(ex)},${fmt(ey)} Z`
  return { curve: d, arrow }
}

const DEFAULT_TITLE = "Pipeline DAG"

/** Renders a layout (from `dagLayout`) as SVG. */
export const layoutSvg = (layout: DagLayout, title: string = DEFAULT_TITLE): string => {
  const out: Array<string> = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="cairn-dag" width="${fmt(layout.width)}" height="${fmt(layout.height)}" viewBox="0 0 ${fmt(layout.width)} ${fmt(layout.height)}" role="img" aria-label="${escapeXml(title)}" font-family="${escapeXml(FONT_SANS)}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${fmt(layout.width)}" height="${fmt(layout.height)}" fill="white"/>`,
  )
  // Legend: every status with its count, so the colours are always explained.
  out.push(`<g class="dag-legend" transform="translate(${MARGIN},${MARGIN})">`)
  let lx = 0
  for (const st of STAGE_STATUSES) {
    const style = STATUS_STYLES[st]
    const text = `${st} ${layout.nodes.filter((x) => x.status === st).length}`
    out.push(
      `<g class="dag-legend-item status-${st}"><rect x="${fmt(lx)}" y="${fmt((LEGEND_HEIGHT - LEGEND_SWATCH) / 2)}" width="${LEGEND_SWATCH}" height="${LEGEND_SWATCH}" rx="3" fill="${style.fill}" stroke="${style.stroke}"${style.dashed ? ` stroke-dasharray="3 2"` : ""}/>` +
        `<text x="${fmt(lx + LEGEND_SWATCH + 6)}" y="${fmt(LEGEND_HEIGHT / 2)}" dominant-baseline="central" font-size="${FONT_SIZE_SMALL}" fill="${INK}">${escapeXml(text)}</text></g>`,
    )
    lx += LEGEND_SWATCH + 6 + textWidth(`${st} 00`, FONT_SIZE_SMALL) + LEGEND_GAP
  }
  out.push(`</g>`)
  out.push(`<g class="dag-edges" fill="none">`)
  for (const e of layout.edges) {
    const { curve, arrow } = edgePaths(e.points)
    out.push(
      `<g class="dag-edge" data-from="${escapeXml(e.from)}" data-to="${escapeXml(e.to)}"><path d="${curve}" stroke="${EDGE_COLOR}" stroke-width="${EDGE_WIDTH}"/><path class="dag-arrow" d="${arrow}" fill="${EDGE_COLOR}"/></g>`,
    )
  }
  out.push(`</g>`)
  out.push(`<g class="dag-nodes">`)
  for (const node of layout.nodes) {
    const style = STATUS_STYLES[node.status]
    const x0 = node.x - node.width / 2
    const tip = [node.id, node.status, ...(node.detail === undefined ? [] : [node.detail])].join(" · ")
    const labelY = node.detail === undefined ? node.y + node.height / 2 : node.y + node.height / 2 - FONT_SIZE_SMALL / 2 - 1
    out.push(
      `<g class="dag-node status-${node.status}" data-id="${escapeXml(node.id)}" data-status="${node.status}"><title>${escapeXml(tip)}</title>` +
        `<rect x="${fmt(x0)}" y="${fmt(node.y)}" width="${fmt(node.width)}" height="${fmt(node.height)}" rx="${BOX_RADIUS}" fill="${style.fill}" stroke="${style.stroke}" stroke-width="1.5"${style.dashed ? ` stroke-dasharray="4 3"` : ""}/>` +
        `<text x="${fmt(node.x)}" y="${fmt(labelY)}" text-anchor="middle" dominant-baseline="central" font-family="${escapeXml(FONT_MONO)}" font-size="${FONT_SIZE}" fill="${INK}">${escapeXml(label(node.id))}</text>` +
        (node.detail === undefined
          ? ""
          : `<text class="dag-detail" x="${fmt(node.x)}" y="${fmt(labelY + FONT_SIZE + 3)}" text-anchor="middle" dominant-baseline="central" font-size="${FONT_SIZE_SMALL}" fill="${INK_MUTED}">${escapeXml(node.detail)}</text>`) +
        `</g>`,
    )
  }
  out.push(`</g>`, `</svg>`)
  return out.join("\n")
}

/** Lays out and draws a DAG: one box per node coloured by status, arrows for edges, a legend. */
export const dagSvg = (input: DagInput): Either.Either<string, DagInvalid> => Either.map(dagLayout(input), (layout) => layoutSvg(layout, input.title))
