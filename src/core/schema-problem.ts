/**
 * What a schema's ParseError says, as one short phrase a user can act on: where the bad value is
 * and what it must be (`must be an integer (got "abc")`), instead of Effect's tree of the schema's
 * encoded and type sides. Used for `--param` values and the pipeline's own param values.
 */
import { Option, ParseResult, SchemaAST } from "effect"

/** The first thing wrong with a decoded value. */
export interface SchemaProblem {
  /** Where the bad value is inside the decoded input (`["epochs"]`, `["seeds", 0]`; empty: the value itself). */
  readonly path: ReadonlyArray<PropertyKey>
  /** What is wrong there, to follow the value's name: `must be an integer (got "abc")`, `is missing`. */
  readonly text: string
}

/** `"abc"`, `1.5`, `Infinity`: the value as the user would have typed it, quoted when a string. */
export const shownValue = (value: unknown): string => {
  if (typeof value === "number") return Object.is(value, -0) ? "-0" : String(value)
  if (typeof value === "boolean" || typeof value === "bigint") return String(value)
  if (value === undefined) return "nothing"
  try {
    const text = JSON.stringify(value) ?? String(value)
    return text.length > 80 ? `${text.slice(0, 77)}...` : text
  } catch (error) {
    // A value JSON cannot write (a cycle): its kind is enough to say what was given.
    return `a ${typeof value} (${error instanceof Error ? error.message : String(error)})`
  }
}

/** What a value of `ast` is, in words: `an integer`, `"resnet34d" or "resnet18d"`, `a positive number`. */
export const describeSchema = (ast: SchemaAST.AST): string => {
  if (SchemaAST.isLiteral(ast)) return shownValue(ast.literal)
  if (ast._tag === "BooleanKeyword") return "true or false"
  if (SchemaAST.isUnion(ast)) {
    // An optional field's `| undefined` is how it may be left out, not a value to give.
    const members = [...new Set(ast.types.filter((t) => t._tag !== "UndefinedKeyword").map(describeSchema))]
    return members.length <= 2 ? members.join(" or ") : `one of ${members.join(", ")}`
  }
  const named = Option.orElse(SchemaAST.getDescriptionAnnotation(ast), () => SchemaAST.getTitleAnnotation(ast))
  if (Option.isSome(named)) return named.value
  if (SchemaAST.isRefinement(ast) || SchemaAST.isTransformation(ast)) return describeSchema(SchemaAST.isRefinement(ast) ? ast.from : ast.to)
  return String(ast)
}

/** A problem found while walking the issue tree, before it is phrased. */
interface Found {
  readonly path: ReadonlyArray<PropertyKey>
  readonly actual?: unknown
  /** What the value must be (a schema description). */
  readonly expected?: string
  /** The schema's own message for this failure (a custom `message` annotation or a filter's text). */
  readonly message?: string
  readonly missing?: boolean
  /** The value had the wrong type for the schema at `path` (not a failed refinement of the right type). */
  readonly wrongType?: boolean
}

/** The message a schema's own `message` annotation gives for `issue`, when it has one. */
const customMessage = (issue: ParseResult.ParseIssue): string | undefined => {
  const ast = "ast" in issue ? issue.ast : undefined
  if (ast === undefined || Option.isNone(SchemaAST.getMessageAnnotation(ast))) return undefined
  return ParseResult.ArrayFormatter.formatIssueSync(issue)[0]?.message
}

/** The first (innermost) problem of `issue`, as Effect decodes with `errors: "first"`. */
const walk = (issue: ParseResult.ParseIssue, path: ReadonlyArray<PropertyKey>): Found => {
  const message = customMessage(issue)
  if (message !== undefined) return { path, actual: issue.actual, message }
  switch (issue._tag) {
    case "Pointer":
      return walk(issue.issue, [...path, ...(Array.isArray(issue.path) ? issue.path : [issue.path as PropertyKey])])
    case "Composite": {
      // A union's members each failed: the value must be one of them (`"resnet34d" or "resnet18d"`).
      if (SchemaAST.isUnion(issue.ast)) return { path, actual: issue.actual, expected: describeSchema(issue.ast), wrongType: true }
      const first = Array.isArray(issue.issues) ? issue.issues[0] : (issue.issues as ParseResult.ParseIssue)
      return first ? walk(first, path) : { path, actual: issue.actual, expected: describeSchema(issue.ast) }
    }
    case "Refinement": {
      if (issue.kind === "Predicate") {
        const own = issue.issue._tag === "Type" ? issue.issue.message : undefined
        return own !== undefined ? { path, actual: issue.actual, message: own } : { path, actual: issue.actual, expected: describeSchema(issue.ast) }
      }
      const inner = walk(issue.issue, path)
      // `"abc"` for an Int fails as "not a number": say what the (innermost) refinement wants, an integer.
      const samePlace = inner.path.length === path.length
      return inner.wrongType && samePlace && inner.message === undefined ? { ...inner, expected: describeSchema(issue.ast), wrongType: false } : inner
    }
    case "Transformation":
      return walk(issue.issue, path)
    case "Type": {
      const own = issue.message
      return own !== undefined
        ? { path, actual: issue.actual, message: own }
        : { path, actual: issue.actual, expected: describeSchema(issue.ast), wrongType: true }
    }
    case "Missing":
      return { path, missing: true }
    case "Unexpected":
      return { path, actual: issue.actual, message: "is not expected here" }
    case "Forbidden":
      return { path, actual: issue.actual, message: "cannot be checked without running an effect" }
  }
}

/** The first problem a ParseError reports: where, and what the value must be. */
export const schemaProblem = (error: ParseResult.ParseError): SchemaProblem => {
  const found = walk(error.issue, [])
  const got = "actual" in found ? ` (got ${shownValue(found.actual)})` : ""
  const text = found.missing
    ? "is missing"
    : found.message !== undefined
      ? `is not valid: ${found.message}${got}`
      : `must be ${found.expected ?? "something else"}${got}`
  return { path: found.path, text }
}

/** `seeds[0]`, `train.epochs`: a param and the path inside its value. */
export const pathName = (base: string, path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((name, key) => (typeof key === "number" ? `${name}[${key}]` : `${name}.${String(key)}`), base)
