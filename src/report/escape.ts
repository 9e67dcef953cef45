/** Text → markup escaping, valid in HTML5 text and attribute values and in XML (SVG). */

const ENTITIES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
}

/**
 * Escapes `& < > " '`, and drops the characters XML 1.0 forbids (C0 controls other than tab, LF and
 * CR, lone surrogates, U+FFFE/U+FFFF), which would make an SVG unparsable.
 */
export const escapeXml = (text: string): string =>
  text
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "")
    .replace(/[&<>"']/g, (c) => ENTITIES[c]!)

export const escapeHtml = escapeXml
