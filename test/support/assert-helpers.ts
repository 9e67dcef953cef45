import { Either } from "effect"

/** The Right value of `e`; throws (failing the test) when `e` is a Left. */
export const right = <A, E>(e: Either.Either<A, E>): A => {
  if (Either.isLeft(e)) throw new Error(`expected Right, got ${String(e.left)}`)
  return e.right
}

/** The Left value of `e`; throws (failing the test) when `e` is a Right. */
export const left = <A, E>(e: Either.Either<A, E>): E => {
  if (Either.isRight(e)) throw new Error("expected Left")
  return e.left
}
