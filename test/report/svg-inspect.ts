/**
 * Reads vega's SVG output by mark: vega writes each mark as `<g class="mark-<type> role-mark <name>_marks">`
 * holding one element per item (no nested groups for leaf marks), so a regex over those groups is exact.
 */

export interface MarkItem {
  /** The item's element source, e.g. `<path ... d="..."/>` or `<text ...>12</text>`. */
  readonly element: string
  /** Text content (text marks). */
  readonly text: string
  /** `translate(x,y)` of the item, when it has one. */
  readonly x: number | undefined
  readonly y: number | undefined
  readonly attrs: Readonly<Record<string, string>>
}

const attrsOf = (element: string): Record<string, string> => {
  const head = element.slice(0, element.indexOf(">"))
  const out: Record<string, string> = {}
  for (const m of head.matchAll(/\s([a-zA-Z_:][-a-zA-Z0-9_:.]*)="([^"]*)"/g)) out[m[1]!] = m[2]!
  return out
}

/** The groups of mark `name` (one per facet/series for lines), each with its items. */
export const markGroups = (svg: string, name: string): Array<Array<MarkItem>> => {
  const groups: Array<Array<MarkItem>> = []
  const re = new RegExp(`<g class="mark-[a-z]+ role-mark ${name}_marks"[^>]*>(.*?)</g>`, "gs")
  for (const g of svg.matchAll(re)) {
    const items: Array<MarkItem> = []
    for (const m of g[1]!.matchAll(/<(path|text|line|rect)\b[^>]*?(?:\/>|>(.*?)<\/\1>)/gs)) {
      const element = m[0]
      const attrs = attrsOf(element)
      const t = /translate\(([-\d.e]+),([-\d.e]+)\)/.exec(attrs.transform ?? "")
      items.push({ element, text: m[2] ?? "", x: t ? Number(t[1]) : undefined, y: t ? Number(t[2]) : undefined, attrs })
    }
    groups.push(items)
  }
  return groups
}

/** All items of mark `name`, in order. */
export const markItems = (svg: string, name: string): Array<MarkItem> => markGroups(svg, name).flat()

/** Decodes the five entities vega and our escaping write. */
export const unescapeXml = (s: string): string =>
  s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&")
