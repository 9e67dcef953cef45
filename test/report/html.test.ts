import { describe, expect, it } from "vitest"
import { escapeHtml } from "../../src/report/escape.js"
import { CONTENT_SECURITY_POLICY, figure, html, htmlPage, htmlTable, keyValueTable, slug, trusted } from "../../src/report/html.js"

const EVIL = `<script>alert("x")</script> & 'y'`
const EVIL_ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"

describe("escapeHtml", () => {
  it("escapes the five markup characters and drops characters XML forbids", () => {
    expect(escapeHtml(EVIL)).toBe(EVIL_ESCAPED)
    expect(escapeHtml("a\u0000b\u0007c\td\ne")).toBe("abc\td\ne")
    expect(escapeHtml("lone \uD800 surrogate, pair \uD83D\uDE00")).toBe("lone  surrogate, pair \uD83D\uDE00")
  })
})

describe("html", () => {
  it("escapes interpolated text but keeps markup values and flattens lists", () => {
    const h = html`<p title="${EVIL}">${EVIL} ${trusted("<b>ok</b>")} ${[1, "<", html`<i>${">"}</i>`]}${null}${undefined}</p>`
    expect(h.markup).toBe(`<p title="${EVIL_ESCAPED}">${EVIL_ESCAPED} <b>ok</b> 1&lt;<i>&gt;</i></p>`)
  })
})

describe("htmlTable", () => {
  it("builds header and body cells, escaping text and right-aligning numbers", () => {
    const t = htmlTable(
      [
        ["a<b", 1.5, html`<code>${"x"}</code>`],
        ["c", 2, "3.25"],
      ],
      ["name", "value", "code"],
      { numericColumns: [2], caption: "cap & tion" },
    ).markup
    expect(t).toBe(
      `<table class="data"><caption>cap &amp; tion</caption><thead><tr><th scope="col">name</th><th scope="col">value</th><th scope="col" class="num">code</th></tr></thead>` +
        `<tbody><tr><td>a&lt;b</td><td class="num">1.5</td><td class="num"><code>x</code></td></tr><tr><td>c</td><td class="num">2</td><td class="num">3.25</td></tr></tbody></table>`,
    )
    expect(htmlTable([["x"]]).markup).toBe(`<table class="data"><tbody><tr><td>x</td></tr></tbody></table>`)
  })
})

describe("htmlPage", () => {
  const page = htmlPage({
    title: `Run <1> & "two"`,
    subtitle: "sub <i>",
    sections: [
      { heading: "Summary", body: keyValueTable([["param", EVIL]]) },
      {
        heading: "Chart: loss (per fold)",
        body: figure(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>`, {
          caption: "cap",
          href: "charts/a.svg",
        }),
      },
      { heading: "Summary", body: "again" },
    ],
    footer: "made by <cairn>",
  })

  it("is one self-contained HTML5 document", () => {
    expect(page.startsWith('<!DOCTYPE html>\n<html lang="en">')).toBe(true)
    expect(page).toContain(`<meta charset="utf-8">`)
    expect(page).toContain(`<meta http-equiv="Content-Security-Policy" content="${CONTENT_SECURITY_POLICY}">`)
    expect(page).not.toMatch(/<script/i)
    expect(page).not.toMatch(/\ssrc=/i)
    expect(page).not.toMatch(/@import|url\(/i)
    // The only <link> is the inline empty favicon (so the browser asks for no /favicon.ico).
    expect(page.match(/<link [^>]*>/g)).toEqual([`<link rel="icon" href="data:,">`])
    // The only absolute URL is the SVG namespace.
    expect(page.match(/https?:\/\/[^"]*/g)).toEqual(["http://www.w3.org/2000/svg"])
  })

  it("escapes every text: title, subtitle, param values, footer", () => {
    expect(page).toContain("<title>Run &lt;1&gt; &amp; &quot;two&quot;</title>")
    expect(page).toContain("<h1>Run &lt;1&gt; &amp; &quot;two&quot;</h1>")
    expect(page).toContain(`<p class="subtitle">sub &lt;i&gt;</p>`)
    expect(page).toContain(`<td>${EVIL_ESCAPED}</td>`)
    expect(page).toContain("<footer>made by &lt;cairn&gt;</footer>")
  })

  it("has sections in order with unique anchors and a table of contents", () => {
    const ids = [...page.matchAll(/<section id="([^"]+)"><h2>([^<]*)<\/h2>/g)].map((m) => [m[1], m[2]])
    expect(ids).toEqual([
      ["summary", "Summary"],
      ["chart-loss-per-fold", "Chart: loss (per fold)"],
      ["summary-2", "Summary"],
    ])
    expect([...page.matchAll(/<li><a href="#([^"]+)">/g)].map((m) => m[1])).toEqual(["summary", "chart-loss-per-fold", "summary-2"])
    expect(page).toContain(`<figure class="chart"><div class="scroll"><svg xmlns="http://www.w3.org/2000/svg"`)
    expect(page).toContain(`<figcaption>cap <a class="file" href="charts/a.svg">charts/a.svg</a></figcaption>`)
  })

  it("slugs headings", () => {
    expect(slug("Per-class KL")).toBe("per-class-kl")
    expect(slug("  ¿¡ !? ")).toBe("section")
    expect(slug("Café déjà vu")).toBe("cafe-deja-vu")
  })
})
