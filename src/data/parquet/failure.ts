/**
 * Decoding failures inside the parquet reader are thrown as `Corrupt` / `Unsupported` (cheap to
 * raise from deep inside a decoding loop) and mapped to the tagged errors `ParquetCorrupt` /
 * `ParquetUnsupported` at the reader's boundary by `attempt`.
 */
import { Either } from "effect"
import { ParquetCorrupt, ParquetUnsupported } from "../data-errors.js"

export class Corrupt {
  constructor(readonly reason: string) {}
}
export class Unsupported {
  constructor(
    readonly column: string,
    readonly feature: string,
  ) {}
}

export const corrupt = (reason: string): never => {
  throw new Corrupt(reason)
}

const mapFailure =
  (file: string) =>
  (e: unknown): ParquetCorrupt | ParquetUnsupported => {
    if (e instanceof Corrupt) return new ParquetCorrupt({ file, reason: e.reason })
    if (e instanceof Unsupported) return new ParquetUnsupported({ file, column: e.column, feature: e.feature })
    throw e
  }

/** Runs a decoder, its `Corrupt` / `Unsupported` throws becoming a `Left`; any other throw is rethrown. */
export const attempt = <A>(file: string, f: () => A): Either.Either<A, ParquetCorrupt | ParquetUnsupported> => {
  try {
    return Either.right(f())
  } catch (e) {
    // Anything other than the two failure classes above is a defect and is rethrown.
    return Either.left(mapFailure(file)(e))
  }
}
