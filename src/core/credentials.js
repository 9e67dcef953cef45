// @ts-check
// What looks like a credential, in one place: names (of environment variables, of URL query
// parameters) and values (a URL with a user or password in it), and how a declared environment
// variable's value enters a cache key or a fast-path stamp: as itself, or, when it may be a
// credential, as a hash. Plain JavaScript (checked by tsc with checkJs) because the no-op fast path
// (src/cli/fast-path.js) compares stamped env values before TypeScript support is loaded.
import { createHash } from "node:crypto"

/**
 * Environment variable names that hold credentials: TOKEN, SECRET, PASSWORD (PASSWD), KEY, CREDENTIAL
 * anywhere in the name, any case (`HF_TOKEN`, `AWS_SECRET_ACCESS_KEY`, `db_password`). A false
 * positive (`KEYBOARD`) costs nothing but a hashed value in `cairn status`.
 */
const CREDENTIAL_ENV_NAME = /token|secret|passw(or)?d|key|credential/i

/**
 * URL query parameters that carry credentials: the names above, and signatures and auth fields
 * (`access_token`, `api_key`, `X-Amz-Signature`, `X-Amz-Credential`, `sig`, `auth`).
 */
const CREDENTIAL_QUERY_NAME = /token|secret|passw(or)?d|key|credential|sig|auth/i

/** A URL whose authority holds userinfo (`scheme://user:password@host`), parsed or not. */
const URL_WITH_USERINFO = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i

/** @param {string} name an environment variable's name */
export const isCredentialEnvName = (name) => CREDENTIAL_ENV_NAME.test(name)

/** @param {string} name a URL query parameter's name */
export const isCredentialQueryName = (name) => CREDENTIAL_QUERY_NAME.test(name)

/** @param {string} value */
export const hasUrlUserinfo = (value) => URL_WITH_USERINFO.test(value)

/** The prefix of a hashed env value in a key record or stamp. */
export const HASHED_ENV_PREFIX = "sha256:"

/**
 * How the declared environment variable `name` with `value` (null: unset) enters a cache key and a
 * fast-path stamp: as is, or, when it may carry a credential (its name, or a URL with userinfo), as
 * `sha256:<hex>` of name and value. Key records travel to the remote cache and are printed by
 * `cairn status`: a credential must never be in them in clear. Any change of the value still
 * changes the key.
 * @param {string} name
 * @param {string | null} value
 * @returns {string | null}
 */
export const envKeyValue = (name, value) => {
  if (value === null || !(isCredentialEnvName(name) || hasUrlUserinfo(value))) return value
  // The name is hashed in: the same secret under two names gives two unrelated hashes.
  return `${HASHED_ENV_PREFIX}${createHash("sha256").update(`cairn env\0${name}\0${value}`).digest("hex")}`
}

/**
 * The declared environment variables `names` as they enter a key or stamp (see `envKeyValue`).
 * @param {Iterable<string>} names
 * @param {Readonly<Record<string, string | undefined>>} env
 * @returns {Record<string, string | null>}
 */
export const envKeyRecord = (names, env) => {
  /** @type {Record<string, string | null>} */
  const out = {}
  for (const name of names) out[name] = envKeyValue(name, env[name] ?? null)
  return out
}
