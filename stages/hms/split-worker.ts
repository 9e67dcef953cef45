/**
 * Worker entry of `split-spectrograms`: each task reads one spectrogram parquet and writes its
 * label windows (see `splitSpectrogram`), so that two files are decoded at once on two cores.
 */
import { Effect, ManagedRuntime } from "effect"
import { serveTasks } from "cairn"
import { DuckDbLazy } from "cairn/data"
import { type SplitRequest, splitSpectrogram } from "./spectrogram.js"

/** DuckDB (the fallback reader) is opened only if a file needs it, and closed before the worker exits. */
const runtime = ManagedRuntime.make(DuckDbLazy)

serveTasks(
  (request: SplitRequest) =>
    Effect.promise(() => runtime.runPromiseExit(splitSpectrogram(request))).pipe(
      Effect.flatten,
      Effect.map((written) => written.length),
    ),
  () => runtime.dispose(),
)
