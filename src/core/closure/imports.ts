/**
 * What a module imports, as it runs: the file is compiled the way tsx compiles it (esbuild, with
 * the project's tsconfig options), so imports used only as types are gone, then its import
 * statements are read with es-module-lexer. Each import says which names it takes, so that an
 * import of stage definitions only can be told from an import of helper code.
 */
import * as path from "node:path"
import { Effect } from "effect"
import { init, parse } from "es-module-lexer"
import { ClosureError } from "../errors.js"

export interface ModuleImport {
  /** The specifier; undefined for `import(expr)` with a computed specifier (cannot be followed). */
  readonly specifier: string | undefined
  /** The exported names taken, or "*" (a namespace, `export *`, a dynamic import, a require). */
  readonly names: ReadonlyArray<string> | "*"
  readonly kind: "static" | "dynamic" | "worker" | "require"
}

const LOADERS: Readonly<Record<string, "ts" | "tsx" | "js" | "jsx">> = {
  ".ts": "ts",
  ".mts": "ts",
  ".cts": "ts",
  ".tsx": "tsx",
  ".js": "js",
  ".mjs": "js",
  ".cjs": "js",
  ".jsx": "jsx",
}

/** Worker entries: `new URL("./x.ts", import.meta.url)`. */
const WORKER_URL = /new\s+URL\(\s*["'`](\.{1,2}\/[^"'`]+)["'`]\s*,\s*import\.meta\.url\s*\)/g
/** `require("x")` with a literal specifier (CommonJS modules, createRequire). */
const REQUIRE = /\brequire\(\s*(["'])([^"'\n]+)\1\s*\)/g

/** The names an import or re-export statement takes from its module. */
export const importedNames = (statement: string): ReadonlyArray<string> | "*" => {
  const m = /^(import|export)\s*([\s\S]*?)\s*from\s*["'`]/.exec(statement.trim())
  if (!m) return [] // `import "./x.js"`: evaluated for its effects, takes no name
  const clause = m[2]!
  if (clause.includes("*")) return "*"
  const names: Array<string> = []
  const brace = clause.indexOf("{")
  const head = (brace < 0 ? clause : clause.slice(0, brace)).replace(/,\s*$/, "").trim()
  if (m[1] === "import" && head !== "" && head !== "type") names.push("default")
  if (brace >= 0) {
    const inner = clause.slice(brace + 1, clause.lastIndexOf("}"))
    for (const raw of inner.split(",")) {
      const item = raw.trim().replace(/^type\s+/, "")
      if (!item) continue
      const name = item
        .split(/\s+as\s+/)[0]!
        .trim()
        .replace(/^["']|["']$/g, "")
      names.push(name)
    }
  }
  return names
}

/** One `export { a as b } from "x"`: the names it takes from x, and the names it exports them as (same order). */
export interface NamedReexport {
  readonly specifier: string
  readonly imported: ReadonlyArray<string>
  readonly exported: ReadonlyArray<string>
}

/** The `{ ... }` clause of an `export { ... } from` statement as [imported, exported] pairs; undefined for any other form. */
const reexportClause = (statement: string): ReadonlyArray<readonly [string, string]> | undefined => {
  const m = /^export\s*\{([^}]*)\}\s*from\s*["'`]/.exec(statement.trim())
  if (!m) return undefined
  const pairs: Array<readonly [string, string]> = []
  for (const raw of m[1]!.split(",")) {
    const item = raw.trim().replace(/^type\s+/, "")
    if (!item) continue
    const [imported, exported] = item.split(/\s+as\s+/).map((n) => n.trim().replace(/^["']|["']$/g, ""))
    pairs.push([imported!, exported ?? imported!])
  }
  return pairs
}

let esbuildModule: Promise<typeof import("esbuild")> | undefined
const esbuild = () => (esbuildModule ??= import("esbuild"))

/** The imports of one module's source text. */
export const moduleImports = (
  file: string,
  source: string,
  tsconfigRaw: { readonly compilerOptions: Readonly<Record<string, unknown>> },
): Effect.Effect<ReadonlyArray<ModuleImport>, ClosureError> =>
  Effect.tryPromise({
    try: async () => {
      const loader = LOADERS[path.extname(file)]
      if (loader === undefined) return []
      const { transform } = await esbuild()
      const { code } = await transform(source, { loader, sourcefile: file, target: "esnext", tsconfigRaw: tsconfigRaw as never, logLevel: "silent" })
      await init
      const [imports] = parse(code, file)
      const out: Array<ModuleImport> = []
      for (const imp of imports) {
        if (imp.d === -2) continue // import.meta
        if (imp.d > -1) out.push({ specifier: imp.n, names: "*", kind: "dynamic" })
        else out.push({ specifier: imp.n, names: importedNames(code.slice(imp.ss, imp.se)), kind: "static" })
      }
      for (const m of code.matchAll(WORKER_URL)) out.push({ specifier: m[1]!, names: "*", kind: "worker" })
      for (const m of code.matchAll(REQUIRE)) out.push({ specifier: m[2]!, names: "*", kind: "require" })
      return out
    },
    catch: (error) => {
      const err = error as { errors?: Array<{ text: string; location?: { line: number } | null }> }
      const first = err.errors?.[0]
      return new ClosureError({
        file,
        detail: first ? `${first.text}${first.location ? ` (line ${first.location.line})` : ""}` : String(error),
        cause: error,
      })
    },
  })

/**
 * The re-exports of an index module that holds named re-exports and nothing else
 * (`export { a, type B } from "./x.js"`), as it runs; undefined for any other module (code of its
 * own, a local export, `export *`). Such an index adds no code: what an importer takes from it is
 * what the modules it names give, so a closure follows only those (an index is a public face, not
 * a dependency on everything behind it).
 */
export const namedReexports = (
  file: string,
  source: string,
  tsconfigRaw: { readonly compilerOptions: Readonly<Record<string, unknown>> },
): Effect.Effect<ReadonlyArray<NamedReexport> | undefined, ClosureError> =>
  Effect.tryPromise({
    try: async () => {
      const loader = LOADERS[path.extname(file)]
      if (loader === undefined) return undefined
      const { transform } = await esbuild()
      const { code } = await transform(source, { loader, sourcefile: file, target: "esnext", tsconfigRaw: tsconfigRaw as never, logLevel: "silent" })
      await init
      const [imports] = parse(code, file)
      const out: Array<NamedReexport> = []
      let rest = ""
      let at = 0
      for (const imp of imports) {
        const pairs = imp.d === -1 && imp.n !== undefined ? reexportClause(code.slice(imp.ss, imp.se)) : undefined
        if (pairs === undefined) return undefined
        out.push({ specifier: imp.n!, imported: pairs.map(([i]) => i), exported: pairs.map(([, e]) => e) })
        rest += code.slice(at, imp.ss)
        at = imp.se
      }
      rest += code.slice(at)
      return /^[\s;]*$/.test(rest) ? out : undefined
    },
    catch: (error) => new ClosureError({ file, detail: String(error), cause: error }),
  })
