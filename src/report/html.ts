/**
 * Self-contained HTML pages: inline CSS, inline SVG, no script, no external font, style sheet or
 * image (a Content-Security-Policy in the page forbids them, so a stray reference fails loudly in a
 * browser instead of fetching).
 *
 * Escaping is by type: a `string` (or number) is always text and always escaped; markup is an `Html`
 * value, made only by the builders here (`html` tagged template, `htmlTable`, `figure`, ...) or,
 * for markup produced by a trusted renderer such as an SVG, by `trusted`.
 */
import { escapeHtml } from "./escape.js"
import { FONT_MONO, FONT_SANS, HAIRLINE, INK, INK_MUTED } from "./theme.js"

/** A piece of markup that is already safe to insert. */
export class Html {
  readonly _tag = "Html"
  constructor(readonly markup: string) {}
  toString(): string {
    return this.markup
  }
}

/** Anything that can go in a page: text (escaped), numbers, markup, nothing, or lists of those. */
export type Content = string | number | Html | null | undefined | ReadonlyArray<Content>

/** Markup from a trusted producer (an SVG renderer); never pass user text here. */
export const trusted = (markup: string): Html => new Html(markup)

/** Content → markup: text escaped, markup kept, lists concatenated. */
export const renderContent = (c: Content): string => {
  if (c === null || c === undefined) return ""
  if (c instanceof Html) return c.markup
  if (typeof c === "string") return escapeHtml(c)
  if (typeof c === "number") return escapeHtml(String(c))
  return c.map(renderContent).join("")
}

/** Tagged template: the literal parts are markup, every interpolated value is `Content` (text escaped). */
export const html = (strings: TemplateStringsArray, ...values: ReadonlyArray<Content>): Html => {
  let out = strings[0] ?? ""
  for (let i = 0; i < values.length; i++) out += renderContent(values[i]) + (strings[i + 1] ?? "")
  return new Html(out)
}

/** A paragraph of text (or mixed content). */
export const paragraph = (c: Content, className?: string): Html => (className === undefined ? html`<p>${c}</p>` : html`<p class="${className}">${c}</p>`)

export interface FigureOptions {
  readonly caption?: Content
  /** Relative link to the same image as a file, shown after the caption. */
  readonly href?: string
  readonly className?: string
}

/** An inline SVG (from a renderer) in a `<figure>` with an optional caption and file link. */
export const figure = (svg: string, options: FigureOptions = {}): Html => {
  const link = options.href === undefined ? null : html` <a class="file" href="${options.href}">${options.href}</a>`
  const caption = options.caption === undefined && link === null ? null : html`<figcaption>${options.caption}${link}</figcaption>`
  return html`<figure class="${options.className ?? "chart"}"><div class="scroll">${trusted(svg)}</div>${caption}</figure>`
}

export interface TableOptions {
  readonly caption?: Content
  /** Columns (0-based) to right-align; number cells are right-aligned anyway. */
  readonly numericColumns?: ReadonlyArray<number>
  readonly className?: string
}

/** A table: `header` cells in `<th>`, each row's first cell in `<th scope="row">` when `rowHeaders`. */
export const htmlTable = (rows: ReadonlyArray<ReadonlyArray<Content>>, header?: ReadonlyArray<Content>, options: TableOptions = {}): Html => {
  const numeric = new Set(options.numericColumns ?? [])
  const cls = (c: Content, j: number) => (typeof c === "number" || numeric.has(j) ? trusted(` class="num"`) : null)
  const head = header === undefined ? null : html`<thead><tr>${header.map((h, j) => html`<th scope="col"${cls(null, j)}>${h}</th>`)}</tr></thead>`
  const body = rows.map((row) => html`<tr>${row.map((c, j) => html`<td${cls(c, j)}>${c}</td>`)}</tr>`)
  const caption = options.caption === undefined ? null : html`<caption>${options.caption}</caption>`
  return html`<table class="${options.className ?? "data"}">${caption}${head}<tbody>${body}</tbody></table>`
}

/** A two-column table of labelled values (a summary). */
export const keyValueTable = (entries: ReadonlyArray<readonly [Content, Content]>): Html =>
  html`<table class="kv"><tbody>${entries.map(([k, v]) => html`<tr><th scope="row">${k}</th><td>${v}</td></tr>`)}</tbody></table>`

export interface PageSection {
  readonly heading: string
  readonly body: Content
  /** Anchor id; default a slug of the heading. */
  readonly id?: string
}

export interface PageInput {
  readonly title: string
  readonly subtitle?: Content
  readonly sections: ReadonlyArray<PageSection>
  /** Small print at the bottom. */
  readonly footer?: Content
}

/** `"Loss curves (per fold)"` → `"loss-curves-per-fold"`. */
export const slug = (text: string): string =>
  text
    .toLowerCase()
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "") || "section"

/** Unique anchor ids for the sections, in order. */
const sectionIds = (sections: ReadonlyArray<PageSection>): Array<string> => {
  const used = new Set<string>()
  return sections.map((s) => {
    const base = s.id ?? slug(s.heading)
    let id = base
    for (let k = 2; used.has(id); k++) id = `${base}-${k}`
    used.add(id)
    return id
  })
}

/** No script, no fetch of any kind; inline styles and data: images only. (No `"`: it is written into an attribute as is.) */
export const CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

const PAGE_MAX_WIDTH_PX = 1120

const STYLE = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font-family: ${FONT_SANS}; color: ${INK}; background: #f6f7f9; line-height: 1.45; font-size: 15px; }
header, main, footer { max-width: ${PAGE_MAX_WIDTH_PX}px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; }
h1 { font-size: 26px; margin: 0 0 4px; }
.subtitle { color: ${INK_MUTED}; margin: 0 0 16px; }
nav ol { display: flex; flex-wrap: wrap; gap: 4px 18px; list-style: none; padding: 0; margin: 0 0 8px; font-size: 14px; }
nav a { color: #1f5f9e; text-decoration: none; }
nav a:hover { text-decoration: underline; }
section { background: white; border: 1px solid ${HAIRLINE}; border-radius: 8px; padding: 16px 20px 20px; margin: 18px 0; }
h2 { font-size: 18px; margin: 0 0 12px; }
figure { margin: 0; }
figure .scroll { overflow-x: auto; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { color: ${INK_MUTED}; font-size: 13px; margin-top: 6px; }
figcaption a.file { font-family: ${FONT_MONO}; font-size: 12px; color: ${INK_MUTED}; }
table { border-collapse: collapse; font-size: 14px; }
th, td { text-align: left; padding: 5px 12px 5px 0; border-bottom: 1px solid ${HAIRLINE}; vertical-align: baseline; }
thead th { border-bottom: 2px solid ${INK_MUTED}; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.kv th { font-weight: 600; padding-right: 24px; white-space: nowrap; }
caption { text-align: left; color: ${INK_MUTED}; padding-bottom: 6px; }
code, .mono { font-family: ${FONT_MONO}; font-size: 13px; }
td code { white-space: pre-wrap; word-break: break-word; }
p { margin: 8px 0; }
.muted { color: ${INK_MUTED}; }
.big { font-size: 22px; font-weight: 600; }
footer { color: ${INK_MUTED}; font-size: 12px; padding-bottom: 28px; }
`

/** A complete HTML5 page: title, optional subtitle, a table of contents, the sections in order. */
export const htmlPage = (input: PageInput): string => {
  const ids = sectionIds(input.sections)
  const nav = html`<nav aria-label="Sections"><ol>${input.sections.map((s, i) => html`<li><a href="#${ids[i]!}">${s.heading}</a></li>`)}</ol></nav>`
  const sections = input.sections.map((s, i) => html`<section id="${ids[i]!}"><h2>${s.heading}</h2>${s.body}</section>`)
  const page = html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${trusted(CONTENT_SECURITY_POLICY)}">
<meta name="generator" content="cairn">
<link rel="icon" href="data:,">
<title>${input.title}</title>
<style>${trusted(STYLE)}</style>
</head>
<body>
<header>
<h1>${input.title}</h1>
${input.subtitle === undefined ? null : html`<p class="subtitle">${input.subtitle}</p>`}
${nav}
</header>
<main>
${sections}
</main>
${input.footer === undefined ? null : html`<footer>${input.footer}</footer>`}
</body>
</html>
`
  return page.markup
}
