import { Either } from "effect"
import { canonicalJson, type Json, sha256 } from "./canonical.js"
import type { UnhashableValue } from "./errors.js"
import { StageKey } from "./hashes.js"

/**
 * Bumped when the key record's shape changes, or when cairn's core changes what a stage computes
 * (the core is not part of any closure): old entries then simply miss.
 */
export const KEY_FORMAT = 2

/** Everything that can change a stage's result, as one record hashed as canonical JSON. */
export interface KeyRecord {
  readonly format: number
  readonly stage: string
  readonly version: number
  /** sha256 over the stage module's code closure (project files and their hashes). */
  readonly code: string
  readonly params: Json
  /** Input name → content hash of the upstream artifact (an array for `allOf`). */
  readonly inputs: Readonly<Record<string, string | ReadonlyArray<string>>>
  /** Declared environment variables → value (null: unset); a credential's as `sha256:<hex>` (credentials.js). */
  readonly env: Readonly<Record<string, string | null>>
  /** Declared reads (`param:NAME`, `path:PATH`, `fn<i>:<j>`) → content hash, or "absent". */
  readonly reads: Readonly<Record<string, string>>
  readonly engine: {
    readonly node: string
    readonly packages: Readonly<Record<string, string>>
    readonly [extra: string]: Json
  }
}

export const computeKey = (record: KeyRecord): Either.Either<StageKey, UnhashableValue> => Either.map(canonicalJson(record), (json) => StageKey(sha256(json)))

/** One difference between the key a stage had last time and the key it has now. */
export type KeyChange =
  | { readonly field: "version"; readonly before: number; readonly after: number }
  | { readonly field: "code"; readonly files: ReadonlyArray<{ readonly file: string; readonly change: "added" | "removed" | "modified" }> }
  | { readonly field: "param"; readonly name: string; readonly before: Json | undefined; readonly after: Json | undefined }
  | { readonly field: "input"; readonly name: string; readonly detail?: string }
  | { readonly field: "env"; readonly name: string; readonly before: Json | undefined; readonly after: Json | undefined }
  | { readonly field: "read"; readonly name: string }
  | { readonly field: "engine"; readonly name: string; readonly before: Json | undefined; readonly after: Json | undefined }

const same = (a: unknown, b: unknown): boolean => {
  const ca = canonicalJson(a)
  const cb = canonicalJson(b)
  return Either.isRight(ca) && Either.isRight(cb) && ca.right === cb.right
}

/** Field by field, what changed between two key records (with the code closures' file hashes). */
export const diffKeys = (
  before: { readonly record: KeyRecord; readonly codeFiles: Readonly<Record<string, string>> },
  after: { readonly record: KeyRecord; readonly codeFiles: Readonly<Record<string, string>> },
): ReadonlyArray<KeyChange> => {
  const changes: Array<KeyChange> = []
  const b = before.record
  const a = after.record
  if (b.version !== a.version) changes.push({ field: "version", before: b.version, after: a.version })
  if (b.code !== a.code) {
    const files: Array<{ file: string; change: "added" | "removed" | "modified" }> = []
    for (const [f, h] of Object.entries(after.codeFiles)) {
      const old = before.codeFiles[f]
      if (old === undefined) files.push({ file: f, change: "added" })
      else if (old !== h) files.push({ file: f, change: "modified" })
    }
    for (const f of Object.keys(before.codeFiles)) if (!(f in after.codeFiles)) files.push({ file: f, change: "removed" })
    changes.push({ field: "code", files })
  }
  const bp = (b.params ?? {}) as Record<string, Json>
  const ap = (a.params ?? {}) as Record<string, Json>
  for (const name of new Set([...Object.keys(bp), ...Object.keys(ap)])) {
    if (!same(bp[name], ap[name])) changes.push({ field: "param", name, before: bp[name], after: ap[name] })
  }
  for (const name of new Set([...Object.keys(b.inputs), ...Object.keys(a.inputs)])) {
    if (!same(b.inputs[name], a.inputs[name])) changes.push({ field: "input", name })
  }
  const benv = (b.env ?? {}) as Record<string, Json>
  const aenv = (a.env ?? {}) as Record<string, Json>
  for (const name of new Set([...Object.keys(benv), ...Object.keys(aenv)])) {
    if (!same(benv[name], aenv[name])) changes.push({ field: "env", name, before: benv[name], after: aenv[name] })
  }
  const breads = b.reads ?? {}
  const areads = a.reads ?? {}
  for (const name of new Set([...Object.keys(breads), ...Object.keys(areads)])) {
    if (breads[name] !== areads[name]) changes.push({ field: "read", name })
  }
  const be = b.engine as Record<string, Json>
  const ae = a.engine as Record<string, Json>
  for (const name of new Set([...Object.keys(be), ...Object.keys(ae)])) {
    if (name === "packages") {
      const bpk = b.engine.packages
      const apk = a.engine.packages
      for (const pkg of new Set([...Object.keys(bpk), ...Object.keys(apk)])) {
        if (bpk[pkg] !== apk[pkg]) changes.push({ field: "engine", name: `package ${pkg}`, before: bpk[pkg], after: apk[pkg] })
      }
    } else if (!same(be[name], ae[name])) {
      changes.push({ field: "engine", name, before: be[name], after: ae[name] })
    }
  }
  return changes
}

const show = (v: Json | undefined): string => (v === undefined ? "(unset)" : JSON.stringify(v))

/** One line per change, for `cairn status`. */
export const describeChange = (c: KeyChange): string => {
  switch (c.field) {
    case "version":
      return `version ${c.before} -> ${c.after}`
    case "code":
      return c.files.length === 0 ? "code changed" : `code: ${c.files.map((f) => `${f.file} (${f.change})`).join(", ")}`
    case "param":
      return `param ${c.name}: ${show(c.before)} -> ${show(c.after)}`
    case "input":
      return `input ${c.name} changed${c.detail ? `: ${c.detail}` : ""}`
    case "engine":
      return `engine ${c.name}: ${show(c.before)} -> ${show(c.after)}`
    case "env":
      return `env ${c.name}: ${show(c.before)} -> ${show(c.after)}`
    case "read":
      return `read ${c.name.replace(/^(param|path):/, "")} changed`
  }
}

/** Code files named in one change line before the rest are counted (`and 12 more`). */
const FILES_NAMED = 10

/**
 * One line per change naming what differs, never a value (no param, env or engine value, no hash):
 * for text that leaves the machine, such as a worker's refusal stored in Redis. Declared env values
 * can carry credentials (`HF_ENDPOINT=https://user:password@...`).
 */
export const nameChange = (c: KeyChange): string => {
  switch (c.field) {
    case "version":
      return "version differs"
    case "code": {
      if (c.files.length === 0) return "code differs"
      const named = c.files.slice(0, FILES_NAMED).map((f) => `${f.file} (${f.change})`)
      return `code: ${named.join(", ")}${c.files.length > FILES_NAMED ? `, and ${c.files.length - FILES_NAMED} more` : ""}`
    }
    case "param":
      return `param ${c.name} differs`
    case "input":
      return `input ${c.name} differs`
    case "engine":
      return `engine ${c.name} differs`
    case "env":
      return `env ${c.name} differs`
    case "read":
      return `read ${c.name.replace(/^(param|path):/, "")} differs`
  }
}
