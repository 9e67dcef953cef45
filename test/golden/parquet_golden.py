"""Parquet fixtures and golden values for test/data/parquet.test.ts and test/data/duckdb.test.ts
(a generator: the test suite never runs it).

1. Writes small parquet files with pyarrow into test/data/fixtures/, one per writer feature the
   native reader must decode (codecs, dictionary, data page v2, byte-stream-split, NULL and NaN
   cells, several row groups and pages, int32 / int64 / double index, float64 values), all holding
   the same table: `time` then 5 value columns of 37 rows (see `table()`).
2. Prints golden values of the real fixture test/fixtures/hms-real/test_spectrograms/853520.parquet
   (a byte-for-byte copy of shared/fixtures/hms-real; override the folder with CAIRN_HMS_REAL_DIR,
   as test/data/real-fixture-golden.ts does) read with pyarrow: a few cells and float64 column
   sums, after the seed's fillna(0).
3. Given a path to a file cairn's writer produced (`encodeParquetColumnMajor`), checks that
   pyarrow reads it back as the expected table.

Usage:
  python3 test/golden/parquet_golden.py write        # (re)write test/data/fixtures/*.parquet
  python3 test/golden/parquet_golden.py real         # print the real fixture's goldens
  python3 test/golden/parquet_golden.py check F.parquet
"""

import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "fixtures")
REAL_DIR = os.environ.get("CAIRN_HMS_REAL_DIR", os.path.join(HERE, "..", "fixtures", "hms-real"))
REAL = os.path.join(REAL_DIR, "test_spectrograms", "853520.parquet")
ROWS = 37
NAMES = ["a_0.59", "a_0.78", "b_0.59", "b_0.78", "c_1.0"]


def values():
    """value[j][i] = (i * 7 + j * 13) % 23 * 0.25 - 1.5 (exact in float32), NaN at (i + j) % 11 == 3, NULL at (i * j) % 9 == 5."""
    v = np.zeros((len(NAMES), ROWS), dtype=np.float64)
    nulls = np.zeros((len(NAMES), ROWS), dtype=bool)
    for j in range(len(NAMES)):
        for i in range(ROWS):
            v[j, i] = ((i * 7 + j * 13) % 23) * 0.25 - 1.5
            if (i + j) % 11 == 3:
                v[j, i] = np.nan
            if (i * j) % 9 == 5:
                nulls[j, i] = True
    return v, nulls


def table(index_type=pa.int64(), value_type=pa.float32(), with_nulls=True):
    v, nulls = values()
    cols = [pa.array(np.arange(ROWS) * 2 + 1, type=index_type)]
    for j in range(len(NAMES)):
        mask = nulls[j] if with_nulls else None
        cols.append(pa.array(v[j], type=value_type, mask=mask, from_pandas=False))
    return pa.table(cols, names=["time"] + NAMES)


def write():
    os.makedirs(OUT, exist_ok=True)
    cases = {
        "snappy-dict-v1": dict(compression="snappy"),
        "plain-v1-uncompressed": dict(compression="none", use_dictionary=False),
        "dict-v2-snappy": dict(compression="snappy", data_page_version="2.0"),
        "plain-v2-gzip": dict(compression="gzip", data_page_version="2.0", use_dictionary=False),
        "byte-stream-split-brotli": dict(compression="brotli", use_dictionary=False, use_byte_stream_split=True),
        "row-groups-and-pages": dict(compression="snappy", row_group_size=10, data_page_size=16, write_batch_size=5),
        "zstd": dict(compression="zstd"),
    }
    for name, kw in cases.items():
        pq.write_table(table(), os.path.join(OUT, name + ".parquet"), **kw)
    pq.write_table(table(index_type=pa.int32(), value_type=pa.float64()), os.path.join(OUT, "int32-index-double-values.parquet"))
    pq.write_table(table(index_type=pa.float64()), os.path.join(OUT, "double-index.parquet"))
    t = table()
    t = t.set_column(2, "a_0.78", pa.array(np.arange(ROWS), type=pa.int64()))
    pq.write_table(t, os.path.join(OUT, "int-value-column.parquet"))
    nested = pa.table({"time": pa.array([1, 3]), "s": pa.array([{"x": 1.0}, {"x": 2.0}])})
    pq.write_table(nested, os.path.join(OUT, "nested.parquet"))
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)))


def real():
    t = pq.read_table(REAL)
    print("rows", t.num_rows, "columns", t.num_columns, "time type", t.schema.field(0).type)
    names = t.column_names
    arr = t.to_pandas().fillna(0).values[:, 1:].T.astype("float32")  # the seed's (400, T)
    print("first names", names[:3], "last", names[-1])
    for r, c in [(0, 0), (0, 299), (1, 17), (123, 45), (399, 299), (250, 150)]:
        print(f"cell ({r}, {c}) = {float(arr[r, c])!r}")
    sums = arr.astype(np.float64).sum(axis=1)
    for r in [0, 1, 100, 250, 399]:
        print(f"row {r} sum = {float(sums[r])!r}")
    print("total", repr(float(arr.astype(np.float64).sum())), "time sum", int(t.column(0).to_numpy().sum()))


def check(path):
    t = pq.read_table(path)
    v, _ = values()
    assert t.column_names == ["time"] + NAMES, t.column_names
    assert t.schema.field(0).type == pa.int64(), t.schema.field(0).type
    assert np.array_equal(t.column(0).to_numpy(), np.arange(ROWS) * 2 + 1)
    for j, name in enumerate(NAMES):
        col = t.column(name)
        assert col.type == pa.float32(), col.type
        got = col.to_numpy(zero_copy_only=False)
        # cairn writes NaN cells as NULL, which pyarrow gives back as NaN.
        assert col.null_count == int(np.isnan(v[j]).sum()), (name, col.null_count)
        assert np.array_equal(np.isnan(got), np.isnan(v[j])) and np.array_equal(got[~np.isnan(got)], v[j][~np.isnan(v[j])]), name
    print("ok: pyarrow", pa.__version__, "reads it")


if __name__ == "__main__":
    {"write": lambda: write(), "real": lambda: real(), "check": lambda: check(sys.argv[2])}[sys.argv[1]]()
