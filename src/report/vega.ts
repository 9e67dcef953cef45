/**
 * Renders vega-lite specs to SVG strings in Node, headless: vega-lite compiles the spec to vega,
 * a vega `View` with the "none" renderer runs the dataflow and serialises the scenegraph. No canvas,
 * no DOM, no network (specs carry their data inline).
 *
 * The output is deterministic: vega numbers clip paths and gradients from module-wide counters, so
 * every `id` in the SVG is renamed, in order of appearance, to `<prefix>-<n>` where the prefix is a
 * hash of the compiled spec. The same spec gives the same SVG, and two different charts inlined in one
 * HTML page never share an id.
 */
import { createHash } from "node:crypto"
import { Effect } from "effect"
import * as vega from "vega"
import * as vl from "vega-lite"
import { ChartRenderFailed, describeError } from "./report-errors.js"

export type VegaLiteSpec = vl.TopLevelSpec

export interface RenderOptions {
  /** Prefix of the renamed ids; default `vl-` + 10 hex digits of the compiled spec's hash. */
  readonly idPrefix?: string
  /**
   * What to do with vega-lite's and vega's warnings. Default "fail": a warning means the spec does
   * not draw what it says (a dropped channel, an empty extent), so the render fails with it.
   */
  readonly onWarning?: "fail" | ((message: string) => void)
}

const ID_HASH_HEX_DIGITS = 10
const UNTITLED = "<untitled chart>"

/** A spec's title or description, for error messages. */
const chartName = (spec: VegaLiteSpec): string => {
  const s = spec as { readonly title?: unknown; readonly description?: unknown }
  const title = s.title
  if (typeof title === "string") return title
  if (title !== null && typeof title === "object" && "text" in title) {
    const text = (title as { readonly text: unknown }).text
    if (typeof text === "string") return text
    if (Array.isArray(text)) return text.join(" ")
  }
  return typeof s.description === "string" ? s.description : UNTITLED
}

/** A vega logger that hands every warning and error line to `sink`. */
const collectingLogger = (sink: (line: string) => void): vega.LoggerInterface =>
  vega.logger(vega.Warn, undefined, (_method, level, args) => sink(`${level} ${args.map((a) => describeError(a)).join(" ")}`.trim()))

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/**
 * Renames every `id="..."` of an SVG, in order of first appearance, to `<prefix>-<n>` (n from 0), and
 * rewrites the attribute values that refer to them (`="url(#id)"`, `href="#id"`, `xlink:href="#id"`).
 */
export const renameSvgIds = (svg: string, prefix: string): string => {
  const ids: Array<string> = []
  for (const m of svg.matchAll(/\sid="([^"]*)"/g)) {
    const id = m[1]!
    if (!ids.includes(id)) ids.push(id)
  }
  if (ids.length === 0) return svg
  const renamed = new Map(ids.map((id, i) => [id, `${prefix}-${i}`]))
  const alternatives = ids.map(escapeRegExp).join("|")
  // Only in attribute values: text content has its quotes escaped, so it never matches.
  const pattern = new RegExp(`(\\sid="|="url\\(#|\\shref="#|\\sxlink:href="#)(${alternatives})(?="|\\)")`, "g")
  return svg.replace(pattern, (_all, lead: string, id: string) => `${lead}${renamed.get(id) ?? id}`)
}

/** The vega spec a vega-lite spec compiles to (warnings go to `onWarning`). */
const compileSpec = (spec: VegaLiteSpec, warn: (line: string) => void): Effect.Effect<vega.Spec, ChartRenderFailed> =>
  Effect.try({
    try: () => vl.compile(spec, { logger: collectingLogger(warn) }).spec,
    catch: (cause) => new ChartRenderFailed({ chart: chartName(spec), phase: "compile", reason: describeError(cause) }),
  })

/**
 * Renders a vega-lite spec to an SVG string. Fails with `ChartRenderFailed` when the spec does not
 * compile, parse or render, and (unless `onWarning` is a function) when vega-lite or vega warns.
 */
export const renderVegaLiteEffect = (spec: VegaLiteSpec, options: RenderOptions = {}): Effect.Effect<string, ChartRenderFailed> =>
  Effect.gen(function* () {
    const chart = chartName(spec)
    const warnings: Array<string> = []
    const onWarning = options.onWarning ?? "fail"
    const warn = (line: string): void => {
      if (onWarning === "fail") warnings.push(line)
      else onWarning(line)
    }
    const vgSpec = yield* compileSpec(spec, warn)
    const runtime = yield* Effect.try({
      try: () => vega.parse(vgSpec),
      catch: (cause) => new ChartRenderFailed({ chart, phase: "parse", reason: describeError(cause) }),
    })
    const svg = yield* Effect.acquireUseRelease(
      Effect.try({
        try: () => new vega.View(runtime, { renderer: "none", logger: collectingLogger(warn) }),
        catch: (cause) => new ChartRenderFailed({ chart, phase: "parse", reason: describeError(cause) }),
      }),
      (view) =>
        Effect.tryPromise({
          try: () => view.toSVG(),
          catch: (cause) => new ChartRenderFailed({ chart, phase: "render", reason: describeError(cause) }),
        }),
      (view) => Effect.sync(() => view.finalize()),
    )
    if (warnings.length > 0) return yield* Effect.fail(new ChartRenderFailed({ chart, phase: "warning", reason: warnings.join("; ") }))
    const prefix = options.idPrefix ?? `vl-${createHash("sha256").update(JSON.stringify(vgSpec)).digest("hex").slice(0, ID_HASH_HEX_DIGITS)}`
    return renameSvgIds(svg, prefix)
  })

/** `renderVegaLiteEffect` as a promise: rejects with the `ChartRenderFailed` itself. */
export const renderVegaLite = (spec: VegaLiteSpec, options: RenderOptions = {}): Promise<string> =>
  Effect.runPromise(Effect.either(renderVegaLiteEffect(spec, options))).then((result) => {
    if (result._tag === "Left") throw result.left
    return result.right
  })
