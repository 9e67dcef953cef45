"""Generator (not run by the test suite): golden values for test/ml/input/preprocess.test.ts.

The seed's per-window transform as numpy 1.x computed it on a float32 window (numpy 2 would
promote to float64 because np.exp(-4) is a float64 scalar, so the float32 bounds are explicit here),
then albumentations' Resize = cv2.resize(..., interpolation=cv2.INTER_LINEAR).

Run: python3 test/golden/gen_preprocess.py   (numpy 2.4, opencv-python-headless 5.0)
"""
import json
import numpy as np
import cv2

f32 = np.float32


def seed_transform(img, size):
    img = np.clip(img, f32(np.exp(-4)), f32(np.exp(8)))
    img = np.log(img)
    eps = 1e-6
    img_mean = img.mean(axis=(0, 1))
    img = img - img_mean
    img_std = img.std(axis=(0, 1))
    img = img / f32(float(img_std) + eps)  # numpy 1.x: float32 scalar + python float -> float64
    assert img.dtype == np.float32
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)


def synthetic_window(h, w):
    """Exactly reproducible in TypeScript: integer hashing, one rounding to float32."""
    i = np.arange(h, dtype=np.int64)[:, None]
    j = np.arange(w, dtype=np.int64)[None, :]
    k = (i * 7919 + j * 104729) % 100003
    v = (k * k).astype(np.float64) / 4e6
    v[k % 19 == 0] = 0.0
    return v.astype(f32)


def listf(a):
    return [float(x) for x in np.asarray(a, dtype=np.float64).ravel()]


out = {}
# numpy float32 pairwise sums of an exactly reproducible sequence
seq = ((np.arange(1000, dtype=np.int64) * 7919 % 1000 - 500) / 37).astype(f32)
out["sum1000"] = float(seq.sum())
out["sum77"] = float(seq[:77].sum())
out["sum5"] = float(seq[:5].sum())
out["sum1000_f64"] = float(seq.astype(np.float64).sum())

# resize, bit-exact against OpenCV's generic path (IPP off)
cv2.ipp.setUseIPP(False)
small = synthetic_window(7, 5) / f32(1000)
out["resize_src_7x5"] = listf(small)
out["resize"] = {}
for (oh, ow) in [(3, 3), (4, 6), (11, 9), (7, 5), (16, 13)]:
    out["resize"][f"{oh}x{ow}"] = listf(cv2.resize(small, (ow, oh), interpolation=cv2.INTER_LINEAR))
even = synthetic_window(8, 10) / f32(1000)
out["resize_src_8x10"] = listf(even)
out["area2x_4x5"] = listf(cv2.resize(even, (5, 4), interpolation=cv2.INTER_LINEAR))

# full windows 400 x 300 (Hz, Time), C and Fortran order -> 128 x 128, IPP on (the default) and off
win = synthetic_window(400, 300)
out["window"] = {}
for ipp in (True, False):
    cv2.ipp.setUseIPP(ipp)
    for order, arr in (("C", np.ascontiguousarray(win)), ("F", np.asfortranarray(win))):
        res = seed_transform(arr, 128)
        key = f"{order}_{'ipp' if ipp else 'noipp'}"
        out["window"][key] = {
            "mean": float(res.astype(np.float64).mean()),
            "std": float(res.astype(np.float64).std()),
            "min": float(res.min()), "max": float(res.max()),
            "pixels": {f"{y},{x}": float(res[y, x]) for (y, x) in [(0, 0), (0, 127), (64, 64), (127, 0), (127, 127), (5, 77), (100, 3)]},
        }
cv2.ipp.setUseIPP(True)
# the intermediate stats of the z-score in both orders (float32 mean and std as numpy computes them)
for order, arr in (("C", np.ascontiguousarray(win)), ("F", np.asfortranarray(win))):
    img = np.log(np.clip(arr, f32(np.exp(-4)), f32(np.exp(8))))
    m = img.mean(axis=(0, 1))
    s = (img - m).std(axis=(0, 1))
    out[f"zstats_{order}"] = {"mean": float(m), "std": float(s)}
# a 512 x 512 upscale of the same window (the seed's size), IPP on
big = seed_transform(np.asfortranarray(win), 512)
out["window512"] = {"mean": float(big.astype(np.float64).mean()), "pixels": {f"{y},{x}": float(big[y, x]) for (y, x) in [(0, 0), (511, 511), (256, 100), (3, 400)]}}
print(json.dumps(out))
