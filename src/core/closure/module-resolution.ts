/**
 * Module resolution as tsx (the runtime that loads pipelines and stages) does it, so that a code
 * closure hashes exactly the files that run. Checked against tsx itself in test/core/closure/module-resolution.test.ts.
 *
 * From a TypeScript parent (`.ts .mts .cts .tsx .jsx`, or any project file when tsconfig sets
 * `allowJs`): `./x.js` is `./x.ts` or `./x.tsx` when one exists, else `./x.js` (`.mjs` → `.mts`,
 * `.cjs` → `.cts`, `.jsx` → `.tsx`); an extensionless `./x` tries `.ts .tsx .jsx .js .json`, then the
 * literal file, then the folder's `index` with the same extensions. From a JavaScript parent the
 * literal file wins, and the TypeScript forms are the fallback. Bare specifiers are packages unless a
 * tsconfig `paths` alias maps them to project files, or they name the project's own package
 * (`cairn/ml`: a self-reference, through package.json `exports`); `#x` goes through package.json `imports`.
 */
import * as fs from "node:fs"
import { builtinModules } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { readJsonFileSync } from "../fs-util.js"

/** Extensions an extensionless specifier (or a folder's `index`) is tried with, in tsx's order. */
const IMPLICIT_EXTENSIONS = [".ts", ".tsx", ".jsx", ".js", ".json"] as const

/** The TypeScript sources a JavaScript-extension specifier may name. */
const TS_FORMS: Readonly<Record<string, ReadonlyArray<string>>> = {
  ".js": [".ts", ".tsx"],
  ".jsx": [".tsx"],
  ".mjs": [".mts"],
  ".cjs": [".cts"],
}

/** Extensions a specifier is taken literally with (no implicit extension appended). */
const LITERAL_EXTENSIONS = new Set([".ts", ".tsx", ".mts", ".cts", ".json", ".node", ".wasm", ".js", ".jsx", ".mjs", ".cjs"])

const TS_PARENT = /\.([cm]?ts|[tj]sx)$/

export interface PathAlias {
  /** The pattern's text before and after its `*` (no `*`: an exact alias). */
  readonly prefix: string
  readonly suffix: string
  readonly wildcard: boolean
  /** Absolute target patterns, `*` substituted. */
  readonly targets: ReadonlyArray<string>
}

/** What resolution depends on besides the files themselves: read from tsconfig and package.json. */
export interface ResolveConfig {
  readonly root: string
  readonly allowJs: boolean
  readonly paths: ReadonlyArray<PathAlias>
  /** package.json `imports` (subpath imports, `#x`), targets absolute or bare. */
  readonly imports: Readonly<Record<string, string>>
  /** The project's own package: its name and `exports` (subpath → absolute target), for self-references. */
  readonly self: { readonly name: string; readonly exports: Readonly<Record<string, string>> } | undefined
  /** The esbuild options tsx derives from tsconfig (which imports it keeps). */
  readonly tsconfigRaw: { readonly compilerOptions: Readonly<Record<string, unknown>> }
  /** The config files read (tsconfig chain, package.json): a change to one can change resolution. */
  readonly configFiles: ReadonlyArray<string>
}

export type Resolution =
  | { readonly kind: "file"; readonly file: string; readonly probes: ReadonlyArray<string> }
  | { readonly kind: "package"; readonly name: string; readonly probes: ReadonlyArray<string> }
  | { readonly kind: "builtin" }
  | { readonly kind: "unresolved"; readonly probes: ReadonlyArray<string> }

const isBuiltin = (name: string) => name.startsWith("node:") || builtinModules.includes(name.split("/")[0]!)

/** "@scope/name/sub" → "@scope/name"; "name/sub" → "name". */
export const packageNameOf = (specifier: string): string => {
  const parts = specifier.split("/")
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!
}

/** The package a file inside node_modules belongs to. */
export const packageOfFile = (file: string): string | undefined => {
  const marker = `${path.sep}node_modules${path.sep}`
  const i = file.lastIndexOf(marker)
  if (i < 0) return undefined
  return packageNameOf(
    file
      .slice(i + marker.length)
      .split(path.sep)
      .join("/"),
  )
}

const inNodeModules = (file: string) => file.split(path.sep).includes("node_modules")

/** Strips `// ...` and `/* ... *\/` comments and trailing commas from JSONC (tsconfig's dialect). */
export const parseJsonc = (text: string): unknown => {
  let out = ""
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (c === '"') {
      const start = i
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === "\\") i++
      out += text.slice(start, i + 1)
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++
      out += "\n"
    } else if (c === "/" && text[i + 1] === "*") {
      i = text.indexOf("*/", i + 2)
      if (i < 0) break
      i++
    } else out += c
  }
  return JSON.parse(out.replace(/,(\s*[}\]])/g, "$1"))
}

interface TsconfigJson {
  readonly extends?: string | ReadonlyArray<string>
  readonly compilerOptions?: Record<string, unknown>
}

/** Reads tsconfig.json with its (relative) `extends` chain; options of the extending file win. */
const readTsconfig = (file: string, seen: Array<string>): Record<string, unknown> => {
  if (seen.includes(file) || !fs.existsSync(file)) return {}
  seen.push(file)
  const json = parseJsonc(fs.readFileSync(file, "utf8")) as TsconfigJson
  let options: Record<string, unknown> = {}
  const bases = json.extends === undefined ? [] : typeof json.extends === "string" ? [json.extends] : json.extends
  for (const base of bases) {
    if (!base.startsWith(".")) continue // a package's tsconfig: only relative chains are followed
    const baseFile = path.resolve(path.dirname(file), base.endsWith(".json") ? base : `${base}.json`)
    const inherited = readTsconfig(baseFile, seen)
    // Paths in an extended config are relative to that config.
    if (typeof inherited.baseUrl === "string") inherited.baseUrl = path.resolve(path.dirname(baseFile), inherited.baseUrl)
    options = { ...options, ...inherited }
  }
  const own = { ...(json.compilerOptions ?? {}) }
  if (typeof own.baseUrl === "string") own.baseUrl = path.resolve(path.dirname(file), own.baseUrl)
  if (own.paths !== undefined && typeof own.baseUrl !== "string" && typeof options.baseUrl !== "string") {
    own.pathsBase = path.dirname(file)
  }
  return { ...options, ...own }
}

/** The compiler options esbuild honours when it decides which imports a TypeScript file keeps. */
const ESBUILD_TS_OPTIONS = [
  "verbatimModuleSyntax",
  "preserveValueImports",
  "importsNotUsedAsValues",
  "jsx",
  "jsxFactory",
  "jsxFragmentFactory",
  "jsxImportSource",
  "experimentalDecorators",
  "useDefineForClassFields",
]

/** Resolution settings of the project at `root` (tsconfig.json and package.json there). */
export const loadResolveConfig = (root: string): ResolveConfig => {
  const tsconfigFile = path.join(root, "tsconfig.json")
  const chain: Array<string> = []
  const options = readTsconfig(tsconfigFile, chain)
  const base = typeof options.baseUrl === "string" ? options.baseUrl : typeof options.pathsBase === "string" ? options.pathsBase : root
  const paths: Array<PathAlias> = []
  for (const [pattern, targets] of Object.entries((options.paths ?? {}) as Record<string, ReadonlyArray<string>>)) {
    const star = pattern.indexOf("*")
    paths.push({
      prefix: star < 0 ? pattern : pattern.slice(0, star),
      suffix: star < 0 ? "" : pattern.slice(star + 1),
      wildcard: star >= 0,
      targets: targets.map((t) => path.resolve(base, t)),
    })
  }
  const pkgFile = path.join(root, "package.json")
  const pkg = readJsonFileSync<{ name?: unknown; imports?: Record<string, unknown>; exports?: unknown }>(pkgFile)
  const imports: Record<string, string> = {}
  for (const [k, v] of Object.entries(pkg?.imports ?? {})) {
    const target = conditionalTarget(v)
    if (target !== undefined) imports[k] = target.startsWith(".") ? path.resolve(root, target) : target
  }
  const exports: Record<string, string> = {}
  for (const [k, v] of Object.entries(exportsMap(pkg?.exports))) {
    const target = conditionalTarget(v)
    if (target?.startsWith("./")) exports[k] = path.resolve(root, target)
  }
  const self = typeof pkg?.name === "string" && pkg.exports !== undefined ? { name: pkg.name, exports } : undefined
  const compilerOptions = Object.fromEntries(ESBUILD_TS_OPTIONS.filter((k) => k in options).map((k) => [k, options[k]]))
  return {
    root,
    allowJs: options.allowJs === true,
    paths,
    imports,
    self,
    tsconfigRaw: { compilerOptions },
    configFiles: [tsconfigFile, ...chain.filter((f) => f !== tsconfigFile), pkgFile],
  }
}

/** A package.json `imports` target: a string, or the first of the conditions Node's ESM loader uses. */
const conditionalTarget = (v: unknown): string | undefined => {
  if (typeof v === "string") return v
  if (typeof v !== "object" || v === null) return undefined
  for (const cond of ["node", "import", "default"]) {
    const t = conditionalTarget((v as Record<string, unknown>)[cond])
    if (t !== undefined) return t
  }
  return undefined
}

/** package.json `exports` as subpath → target: a bare target or a conditions object is the "." entry. */
const exportsMap = (exports: unknown): Record<string, unknown> => {
  if (exports === undefined || exports === null) return {}
  if (typeof exports !== "object" || Array.isArray(exports)) return { ".": exports }
  const keys = Object.keys(exports)
  return keys.length > 0 && keys.every((k) => k.startsWith(".")) ? (exports as Record<string, unknown>) : { ".": exports }
}

const kindOf = (p: string): "file" | "dir" | undefined => {
  try {
    const st = fs.statSync(p)
    return st.isFile() ? "file" : st.isDirectory() ? "dir" : undefined
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === "ENOENT" || code === "ENOTDIR") return undefined
    throw error
  }
}

/** Tries candidate files in order; every candidate before the winner is a probe (it must stay absent). */
const firstFile = (candidates: ReadonlyArray<string>, probes: Array<string>): string | undefined => {
  for (const c of candidates) {
    if (kindOf(c) === "file") return c
    probes.push(c)
  }
  return undefined
}

const withExtensions = (base: string) => IMPLICIT_EXTENSIONS.map((e) => base + e)
const tsForms = (base: string): ReadonlyArray<string> => {
  const ext = path.extname(base)
  return (TS_FORMS[ext] ?? []).map((t) => base.slice(0, -ext.length) + t)
}

/** Resolves a file path the way tsx does for a parent of the given kind. */
const resolvePath = (base: string, trailingSlash: boolean, tsParent: boolean, probes: Array<string>): string | undefined => {
  if (trailingSlash) return firstFile(withExtensions(path.join(base, "index")), probes)
  const ext = path.extname(base)
  const implicit = !LITERAL_EXTENSIONS.has(ext)
  if (tsParent) {
    const first = firstFile(implicit ? withExtensions(base) : [...tsForms(base), base], probes)
    if (first) return first
    if (implicit) {
      const literal = firstFile([base], probes)
      if (literal) return literal
    }
    return kindOf(base) === "dir" ? firstFile(withExtensions(path.join(base, "index")), probes) : undefined
  }
  const kind = kindOf(base)
  if (kind === "file") return base
  if (kind === "dir") return firstFile(withExtensions(path.join(base, "index")), probes)
  probes.push(base)
  return firstFile(implicit ? withExtensions(base) : tsForms(base), probes)
}

/**
 * The target of a package.json `imports` entry for `spec` as Node picks it: an exact key, else the
 * `*` pattern with the longest prefix, its `*` replaced by what it matched.
 */
const subpathImport = (imports: Readonly<Record<string, string>>, spec: string): string | undefined => {
  const exact = imports[spec]
  if (exact !== undefined && !spec.includes("*")) return exact
  let best: { prefix: string; target: string; star: string } | undefined
  for (const [key, target] of Object.entries(imports)) {
    const i = key.indexOf("*")
    if (i < 0 || key.indexOf("*", i + 1) >= 0) continue
    const prefix = key.slice(0, i)
    const suffix = key.slice(i + 1)
    if (!spec.startsWith(prefix) || !spec.endsWith(suffix) || spec.length < key.length) continue
    if (best && best.prefix.length >= prefix.length) continue
    best = { prefix, target, star: spec.slice(prefix.length, spec.length - suffix.length) }
  }
  return best ? best.target.replaceAll("*", best.star) : undefined
}

/** Where `specifier`, imported by `parent` (an absolute path), resolves. */
export const resolveSpecifier = (specifier: string, parent: string, config: ResolveConfig): Resolution => {
  const probes: Array<string> = []
  const tsParent = TS_PARENT.test(parent) || (config.allowJs && !inNodeModules(parent))
  const asFile = (target: string, trailingSlash: boolean): Resolution => {
    const file = resolvePath(target, trailingSlash, tsParent, probes)
    return file ? { kind: "file", file, probes } : { kind: "unresolved", probes }
  }
  let spec = specifier
  if (spec.startsWith("file:")) return asFile(fileURLToPath(spec.split(/[?#]/)[0]!), spec.endsWith("/"))
  if (isBuiltin(spec)) return { kind: "builtin" }
  if (spec.startsWith("#")) {
    const target = subpathImport(config.imports, spec)
    if (target === undefined) return { kind: "unresolved", probes }
    if (!path.isAbsolute(target)) return { kind: "package", name: packageNameOf(target), probes }
    return asFile(target, target.endsWith("/"))
  }
  const relative = spec === "." || spec === ".." || spec.startsWith("./") || spec.startsWith("../") || spec.startsWith("/")
  if (relative) {
    spec = spec.split(/[?#]/)[0]!
    const trailingSlash = spec.endsWith("/") || spec === "." || spec === ".." || spec.endsWith("/..")
    return asFile(path.resolve(path.dirname(parent), spec), trailingSlash)
  }
  // A self-reference (the project's own name) resolves only through `exports`, as Node's does; a
  // subpath `exports` does not list is an error there too.
  if (config.self !== undefined && !inNodeModules(parent) && packageNameOf(spec) === config.self.name) {
    const target = subpathImport(config.self.exports, `.${spec.slice(config.self.name.length)}`)
    return target === undefined ? { kind: "unresolved", probes } : asFile(target, false)
  }
  if (!inNodeModules(parent)) {
    for (const alias of config.paths) {
      const matches = alias.wildcard
        ? spec.startsWith(alias.prefix) && spec.endsWith(alias.suffix) && spec.length >= alias.prefix.length + alias.suffix.length
        : spec === alias.prefix
      if (!matches) continue
      const star = alias.wildcard ? spec.slice(alias.prefix.length, spec.length - alias.suffix.length) : ""
      for (const target of alias.targets) {
        const file = resolvePath(target.replace("*", star), false, tsParent, probes)
        if (file) return { kind: "file", file, probes }
      }
    }
  }
  return { kind: "package", name: packageNameOf(spec), probes }
}
