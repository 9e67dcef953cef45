"""Golden .npy bytes for test/data/npy.test.ts (a generator: the test suite never runs it).

Prints the hex of what the installed numpy's `np.save` writes for a few float32 arrays, and,
given a path to a file written by cairn's writer (`writeNpy`), checks that `np.load` reads it back
with the expected values.

Usage:
  python3 test/golden/npy_golden.py                 # print goldens
  python3 test/golden/npy_golden.py ours.npy        # check a file cairn wrote: arange(12).reshape(3, 4) / 8 - 0.5
"""

import io
import sys

import numpy as np


def saved(a):
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def main():
    if len(sys.argv) > 1:
        got = np.load(sys.argv[1])
        want = (np.arange(12, dtype=np.float32).reshape(3, 4) / np.float32(8) - np.float32(0.5)).astype(np.float32)
        assert got.dtype == np.float32 and got.shape == (3, 4), (got.dtype, got.shape)
        assert np.array_equal(got, want), got
        with open(sys.argv[1], "rb") as f:
            assert f.read() == saved(want), "bytes differ from np.save"
        print("ok: numpy", np.__version__, "loads it and np.save writes the same bytes")
        return
    print("numpy", np.__version__)
    print("header (400, 300):", saved(np.zeros((400, 300), np.float32))[:128].hex())
    small = np.array([[0.0, 1.5, -2.0], [3.25, np.inf, -0.0]], dtype=np.float32)
    print("small (2, 3):", saved(small).hex())
    print("1-d (7,) header:", saved(np.zeros(7, np.float32))[:128].hex())
    print("fortran (2, 3):", saved(np.asfortranarray(small)).hex())


if __name__ == "__main__":
    main()
