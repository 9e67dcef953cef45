/**
 * The real HMS sample files, copied into test/fixtures/hms-real from shared/fixtures/hms-real (override
 * with CAIRN_HMS_REAL_DIR), and golden values of its test spectrogram read with pyarrow 25.0.1
 * after the seed's `fillna(0).values[:, 1:].T.astype("float32")` (generator:
 * test/golden/parquet_golden.py real).
 */
import { join } from "node:path"

export const HMS_REAL_DIR = process.env.CAIRN_HMS_REAL_DIR ?? join(import.meta.dirname, "..", "fixtures", "hms-real")
/** The original beside the repository (a workspace's shared folder), when it is there. */
export const HMS_REAL_SHARED_DIR = join(import.meta.dirname, "..", "..", "..", "shared", "fixtures", "hms-real")
export const REAL_SPECTROGRAM = join(HMS_REAL_DIR, "test_spectrograms", "853520.parquet")

export const REAL_SPECTROGRAM_GOLDEN = {
  /** [frequency row, time column, value] of the (400, 300) array. */
  cells: [
    [0, 0, 14.90999984741211],
    [0, 299, 12.329999923706055],
    [1, 17, 22.5],
    [123, 45, 1.0299999713897705],
    [399, 299, 0.28999999165534973],
    [250, 150, 0.1599999964237213],
  ] as ReadonlyArray<readonly [number, number, number]>,
  /** [frequency row, float64 sum over its 300 values]. */
  rowSums: [
    [0, 5059.239995002747],
    [1, 5736.1700048446655],
    [100, 23831.919900894165],
    [250, 66.39999997243285],
    [399, 24.460000010207295],
  ] as ReadonlyArray<readonly [number, number]>,
  total: 384299.90014163405,
  timeSum: 90000,
}
