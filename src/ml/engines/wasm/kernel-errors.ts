/** Errors of cairn's TF.js kernels. */
import { Data } from "effect"

/** A kernel called with inputs or in a state it does not support; names the kernel and the tensor. */
export class KernelError extends Data.TaggedError("KernelError")<{
  readonly kernel: string
  /** The input at fault ("" when the problem is not tied to one input). */
  readonly input: string
  readonly detail: string
}> {
  override get message(): string {
    return this.input === "" ? `kernel ${this.kernel}: ${this.detail}` : `kernel ${this.kernel}, input ${this.input}: ${this.detail}`
  }
}
