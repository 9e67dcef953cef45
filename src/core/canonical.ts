import { createHash } from "node:crypto"
import { Either } from "effect"
import { UnhashableValue } from "./errors.js"

/** JSON values cairn can hash: what canonical JSON can represent without loss. */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [k: string]: Json }

const isPlainObject = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * Canonical JSON (as wireit's fingerprint): object keys sorted by code unit, no whitespace, numbers in
 * JavaScript's shortest round-trip form. Refuses everything that would not survive a JSON round trip
 * unchanged: undefined inside arrays, functions, symbols, bigints, NaN/Infinity, -0, class instances
 * (Date, Map, typed arrays...), cycles. Object properties whose value is undefined are omitted, as
 * JSON.stringify does.
 */
export const canonicalJson = (value: unknown): Either.Either<string, UnhashableValue> => {
  const seen = new Set<object>()
  const fail = (path: string, reason: string) => {
    throw new UnhashableValue({ path, reason })
  }
  const walk = (v: unknown, path: string): string => {
    switch (typeof v) {
      case "string":
        return JSON.stringify(v)
      case "boolean":
        return v ? "true" : "false"
      case "number":
        if (!Number.isFinite(v)) return fail(path, `${v} is not a finite number`)
        if (Object.is(v, -0)) return fail(path, "-0 does not survive JSON")
        return JSON.stringify(v)
      case "object": {
        if (v === null) return "null"
        if (seen.has(v)) return fail(path, "cycle")
        seen.add(v)
        let out: string
        if (Array.isArray(v)) {
          out = `[${v
            .map((item, i) => {
              if (item === undefined) return fail(`${path}[${i}]`, "undefined inside an array")
              return walk(item, `${path}[${i}]`)
            })
            .join(",")}]`
        } else {
          if (!isPlainObject(v)) {
            return fail(path, `a ${v.constructor?.name ?? "non-plain"} object is not plain JSON`)
          }
          const keys = Object.keys(v).sort()
          const parts: Array<string> = []
          for (const k of keys) {
            const item = (v as Record<string, unknown>)[k]
            if (item === undefined) continue
            parts.push(`${JSON.stringify(k)}:${walk(item, path ? `${path}.${k}` : k)}`)
          }
          out = `{${parts.join(",")}}`
        }
        seen.delete(v)
        return out
      }
      default:
        return fail(path, `a ${typeof v} cannot be hashed`)
    }
  }
  try {
    return Either.right(walk(value, ""))
  } catch (error) {
    if (error instanceof UnhashableValue) return Either.left(error)
    throw error
  }
}

/** sha256 hex digest of a string or bytes. */
export const sha256 = (data: string | Uint8Array): string => createHash("sha256").update(data).digest("hex")

/** sha256 of the canonical JSON of a value, or the reason it cannot be hashed. */
export const hashJson = (value: unknown): Either.Either<string, UnhashableValue> => Either.map(canonicalJson(value), sha256)
