"""Golden folds for test/data/kfold.test.ts (a generator: the test suite never runs it).

Prints, as JSON, the test fold of every row that scikit-learn's StratifiedGroupKFold and
StratifiedKFold give on a few inputs drawn with numpy's legacy RandomState (the same draws the
TypeScript test makes with src/data/random-state.ts). Folds are written as base-36 digit strings.

Usage:
  python3 test/golden/kfold_golden.py                          # installed scikit-learn (1.6.1: "legacy")
  PYTHONPATH=/path/to/sklearn-1.9 python3 test/golden/kfold_golden.py   # scikit-learn >= 1.8: "fixed"

To get a scikit-learn >= 1.8 beside the installed one:
  pip install --no-deps --target /tmp/sk19 scikit_learn-1.9.1-*.whl narwhals-*.whl
"""

import json

import numpy as np
import sklearn
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

CLASS_NAMES = ["Seizure", "LPD", "GPD", "LRDA", "GRDA", "Other"]
PRIORS = [0.18, 0.11, 0.09, 0.07, 0.13, 0.42]


def draw_case(seed, n_rows, n_groups):
    """Class by inverse CDF of one random_sample per row, then one randint group per row."""
    rs = np.random.RandomState(seed)
    cum = np.cumsum(PRIORS)
    y = []
    for _ in range(n_rows):
        u = rs.random_sample()
        k = 0
        while k < len(cum) - 1 and u >= cum[k]:
            k += 1
        y.append(CLASS_NAMES[k])
    groups = [int(rs.randint(0, n_groups)) for _ in range(n_rows)]
    return np.array(y), np.array(groups)


def folds_of(splitter, y, groups):
    out = np.full(len(y), -1, dtype=int)
    for f, (_, test) in enumerate(splitter.split(np.zeros(len(y)), y, groups)):
        out[test] = f
    return "".join("0123456789abcdefghijklmnopqrstuvwxyz"[v] for v in out)


def main():
    result = {"sklearn": sklearn.__version__, "sgkf": {}, "skf": {}}
    small_y = list("AABBCCAABBCCABCABCAABBCCAB")
    small_groups = [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 7, 8, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12]
    result["sgkf"]["small-1086"] = folds_of(
        StratifiedGroupKFold(n_splits=3, shuffle=True, random_state=1086), small_y, small_groups
    )
    cases = [
        ("draw-2000-500-seed1086-split1086", 1086, 2000, 500, 5, 1086),
        ("draw-2000-500-seed1086-split0", 1086, 2000, 500, 5, 0),
        ("draw-2000-500-seed7-split0", 7, 2000, 500, 5, 0),
        ("draw-1500-120-seed3-split42-10folds", 3, 1500, 120, 10, 42),
    ]
    for name, draw_seed, n_rows, n_groups, n_splits, split_seed in cases:
        y, groups = draw_case(draw_seed, n_rows, n_groups)
        result["sgkf"][name] = folds_of(
            StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=split_seed), y, groups
        )
        result["skf"][name] = folds_of(
            StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=split_seed), y, None
        )
    # Integer classes, 9 of them (numpy's 8-way unrolled pairwise sums), 12 folds.
    rs = np.random.RandomState(5)
    y9 = [int(rs.randint(0, 9)) for _ in range(1200)]
    g9 = [int(rs.randint(0, 200)) for _ in range(1200)]
    result["sgkf"]["int9-1200-200-seed5-12folds"] = folds_of(
        StratifiedGroupKFold(n_splits=12, shuffle=True, random_state=5), y9, g9
    )
    result["skf"]["int9-1200-200-seed5-12folds"] = folds_of(StratifiedKFold(n_splits=12, shuffle=True, random_state=5), y9, None)
    y, groups = draw_case(1086, 2000, 500)
    result["sgkf"]["draw-2000-500-seed1086-noshuffle"] = folds_of(StratifiedGroupKFold(n_splits=5), y, groups)
    result["skf"]["draw-2000-500-seed1086-noshuffle"] = folds_of(StratifiedKFold(n_splits=5), y, None)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
