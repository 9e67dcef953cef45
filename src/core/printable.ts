/**
 * Text from elsewhere (a queue, a server, a file someone else wrote) made safe to print on one line
 * of a terminal: without escape sequences (which could clear the screen, set the window title or
 * move the cursor to overwrite earlier lines), without control characters (a line break would let
 * it print a line of its own that looks like cairn's), and bounded in length (a 50 MB field is not
 * echoed whole).
 */

/** The longest name-like field shown (a worker's or stage's name, a job field): longer ones are cut with an ellipsis. */
export const FIELD_MAX = 200
/** The longest line of text shown (a log line, a failure reason): longer ones are cut with an ellipsis. */
export const LINE_MAX = 2_000

/**
 * Escape sequences: CSI (`ESC [` params, final byte), OSC/DCS/SOS/PM/APC strings (up to BEL or
 * ST, or to the end when unterminated), and the two-byte ones (`ESC` and one character); also their
 * 8-bit forms (C1 CSI U+009B, OSC U+009D, DCS U+0090, ...).
 */
const ESCAPE_SEQUENCE = /(?:\x1b\[|\x9b)[\x20-\x3f]*[\x40-\x7e]?|(?:\x1b[\]P^_X]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|\x1b[\x20-\x7e]?/g

/**
 * What is left to remove once sequences are gone: C0 controls, DEL, C1 controls, and the Unicode
 * line/paragraph separators and bidirectional overrides (which reorder what follows on the line).
 */
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g
/** Tabs and line breaks read as a space: the words either side stay apart. */
const SPACING = /[\t\n\r]+/g

/** `text` cut to `max` characters, not inside a surrogate pair. */
const cut = (text: string, max: number): string => text.slice(0, /[\ud800-\udbff]/.test(text.charAt(max - 1)) ? max - 1 : max)

/**
 * `text` as one printable line of at most `max` characters (and, when cut, an ellipsis and its
 * length): escape sequences and control characters removed, tabs and line breaks made spaces.
 */
export const printable = (text: string, max: number = FIELD_MAX): string => {
  // Cut before cleaning too: a huge field is not scanned whole (what is cut is not shown anyway).
  const head = text.length > max * 8 ? text.slice(0, max * 8) : text
  const clean = head.replace(ESCAPE_SEQUENCE, "").replace(SPACING, " ").replace(CONTROL, "")
  if (head === text && clean.length <= max) return clean
  return `${cut(clean, max)}… (${text.length} characters in all)`
}
