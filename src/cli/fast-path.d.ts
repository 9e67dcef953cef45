/** Types of fast-path.js (plain JavaScript: it runs before TypeScript support is loaded). */
export declare const STAMP_FORMAT: number
export declare const projectRootOf: (from: string) => string
export declare const cacheDirFor: (root: string, flag: string | undefined) => string
export declare const stampFileFor: (argv: ReadonlyArray<string>) => string | undefined
export interface Stamp {
  /** Files and folders whose (size, mtime, inode) must not change. */
  readonly watch: ReadonlyArray<string>
  /** Store entries that must still exist (run records, trees). */
  readonly exists: ReadonlyArray<string>
  /** Run records to mark as used. */
  readonly touch: ReadonlyArray<string>
  /** The lines a no-op run prints. */
  readonly lines: ReadonlyArray<string>
  /** The `--json` report of a no-op run. */
  readonly report: unknown
  /** Folder of the pipeline's run history. */
  readonly history: string
  /** [from, to] folders copied on replay (after-run files rendered as a replay would show them). */
  readonly copies: ReadonlyArray<readonly [string, string]>
}
export declare const replayDirFor: (argv: ReadonlyArray<string>) => string | undefined
export declare const collectStamps: (paths: ReadonlyArray<string>) => { files: Record<string, unknown>; dirs: Record<string, unknown> }
export declare const writeStamp: (argv: ReadonlyArray<string>, stamp: Stamp) => void
export declare const removeStamp: (argv: ReadonlyArray<string>) => void
export declare const tryFastPath: (argv: ReadonlyArray<string>) => number | undefined
