/** DuckDB connections: one per call, SQL quoting, a query's chunks or rows. */
import type { DuckDBInstance, DuckDBConnection } from "@duckdb/node-api"
import { Effect } from "effect"
import { describeError, DuckDbFailed } from "../data-errors.js"

/** A SQL string literal. */
export const sqlString = (s: string): string => `'${s.replaceAll("'", "''")}'`
/** A SQL quoted identifier. */
export const sqlIdent = (s: string): string => `"${s.replaceAll('"', '""')}"`

/** Runs `use` on a connection of its own, closed after (so calls in flight run in parallel). */
export const withConnection = <A, E>(
  instance: DuckDBInstance,
  operation: string,
  use: (connection: DuckDBConnection) => Effect.Effect<A, E>,
): Effect.Effect<A, E | DuckDbFailed> =>
  Effect.acquireUseRelease(
    Effect.tryPromise({
      try: () => instance.connect(),
      catch: (cause) => new DuckDbFailed({ operation: `connecting for ${operation}`, reason: describeError(cause) }),
    }),
    use,
    (connection) => Effect.sync(() => connection.closeSync()),
  )

/** Runs `sql` and fetches every chunk of its result, with the columns' names and types. */
export const runQuery = (connection: DuckDBConnection, sql: string, operation: string) =>
  Effect.tryPromise({
    try: async () => {
      const result = await connection.run(sql)
      return { names: result.columnNames(), types: result.columnTypes(), chunks: await result.fetchAllChunks() }
    },
    catch: (cause) => new DuckDbFailed({ operation, reason: describeError(cause) }),
  })

/** The rows of a small query as plain objects. */
export const queryWith = (instance: DuckDBInstance, sql: string): Effect.Effect<ReadonlyArray<Record<string, unknown>>, DuckDbFailed> =>
  withConnection(instance, "running a query", (connection) =>
    Effect.tryPromise({
      try: async () => (await connection.run(sql)).getRowObjectsJS(),
      catch: (cause) => new DuckDbFailed({ operation: `running ${sql}`, reason: describeError(cause) }),
    }),
  )
