"""Generator (not run by the test suite): golden shuffles for test/ml/input/window-dataset.test.ts.

Epoch e of a fold trained with seed s visits the training windows in the order
np.random.RandomState((s * 1_000_003 + e) % 2**32).permutation(n).

Run: python3 test/golden/gen_dataset.py
"""
import json
import numpy as np

out = {}
for seed, epoch, n in [(1086, 1, 10), (1086, 2, 10), (7, 9, 37), (4294967295, 3, 5)]:
    s = (seed * 1_000_003 + epoch) % 2**32
    out[f"{seed},{epoch},{n}"] = {"seed": s, "order": np.random.RandomState(s).permutation(n).tolist()}
print(json.dumps(out))
