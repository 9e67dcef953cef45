"""The seed notebook's own data steps, run on a dataset directory, for goldens pasted into
test/stages/hms/*.test.ts (a generator: the test suite never runs it).

Usage:
  python3 test/golden/hms_seed_golden.py folds DATA_DIR OUT.csv
      train.csv -> normalize votes -> groupby(spectrogram_id).head(1) -> StratifiedGroupKFold(5,
      shuffle, 1086) -> writes the fold table (label_id, spectrogram_id, patient_id,
      expert_consensus, fold, six votes) with pandas' to_csv, prints its sha256 and the folds.
  python3 test/golden/hms_seed_golden.py split DATA_DIR OUT_DIR
      the seed's spectrogram loop (pd.read_parquet, fillna(0).values[:, 1:].T.astype("float32"),
      np.save per label) over the first row per spectrogram; prints the sha256 of every .npy.
  python3 test/golden/hms_seed_golden.py test-npy PARQUET OUT.npy
      the inference notebook's whole-file conversion of one test spectrogram; prints its sha256.

DATA_DIR is laid out like the competition's (train.csv, train_spectrograms/); the synthetic one
comes from stages/hms/synth/ (tables.ts, spectrogram.ts).
"""

import hashlib
import os
import sys

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

RANDAM_SEED = 1086
CLASSES = ["seizure_vote", "lpd_vote", "gpd_vote", "lrda_vote", "grda_vote", "other_vote"]
N_FOLDS = 5


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def seed_train_table(data):
    train = pd.read_csv(os.path.join(data, "train.csv"))
    train[CLASSES] /= train[CLASSES].sum(axis=1).values[:, None]
    train = train.groupby("spectrogram_id").head(1).reset_index(drop=True)
    sgkf = StratifiedGroupKFold(n_splits=N_FOLDS, shuffle=True, random_state=RANDAM_SEED)
    train["fold"] = -1
    for fold_id, (_, val_idx) in enumerate(sgkf.split(train, y=train["expert_consensus"], groups=train["patient_id"])):
        train.loc[val_idx, "fold"] = fold_id
    return train


def folds(data, out):
    train = seed_train_table(data)
    cols = ["label_id", "spectrogram_id", "patient_id", "expert_consensus", "fold"] + CLASSES
    train[cols].to_csv(out, index=False)
    print("rows", len(train), "sha256", sha(out))
    print("folds", "".join(str(f) for f in train["fold"]))


def split(data, out_dir):
    train = seed_train_table(data)
    os.makedirs(out_dir, exist_ok=True)
    for spec_id, df in train.groupby("spectrogram_id"):
        spec = pd.read_parquet(os.path.join(data, "train_spectrograms", f"{spec_id}.parquet"))
        spec_arr = spec.fillna(0).values[:, 1:].T.astype("float32")
        for spec_offset, label_id in df[["spectrogram_label_offset_seconds", "label_id"]].astype(int).values:
            spec_offset = spec_offset // 2
            split_spec_arr = spec_arr[:, spec_offset : spec_offset + 300]
            np.save(os.path.join(out_dir, f"{label_id}.npy"), split_spec_arr)
    for f in sorted(os.listdir(out_dir)):
        print(f, sha(os.path.join(out_dir, f)))


def test_npy(parquet, out):
    spec = pd.read_parquet(parquet)
    spec_arr = spec.fillna(0).values[:, 1:].T.astype("float32")
    np.save(out, spec_arr)
    print(spec_arr.shape, "sha256", sha(out))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "folds":
        folds(sys.argv[2], sys.argv[3])
    elif cmd == "split":
        split(sys.argv[2], sys.argv[3])
    elif cmd == "test-npy":
        test_npy(sys.argv[2], sys.argv[3])
