"""Generator (not run by the test suite): golden values for test/ml/model/ops.test.ts, from PyTorch.

Run:  python3 test/golden/gen_ml_ops.py > test/ml/model/ops-golden.ts   (torch 2.13 CPU, numpy 2.4)

Inputs are NOT stored: every tensor is drawn from numpy's legacy RandomState(seed).standard_normal in
PyTorch layout (NCHW / OIHW / [out, in]) and cast to float32; the test draws the same values with
src/data/random-state.ts and transposes them. Outputs and gradients are written in TF.js layout
(NHWC / HWIO / [in, out]) as flat lists. Each gradient is of loss = sum(y * r) with r drawn likewise.
"""
import json

import numpy as np
import torch
import torch.nn.functional as F

torch.use_deterministic_algorithms(True)


def draw(seed, shape, scale=1.0, offset=0.0):
    rs = np.random.RandomState(seed)
    n = int(np.prod(shape)) if shape else 1
    return torch.from_numpy((rs.standard_normal(n) * scale + offset).astype(np.float32).reshape(shape))


def nhwc(t):
    return t.detach().permute(0, 2, 3, 1).contiguous().flatten().tolist()


def hwio(t):
    return t.detach().permute(2, 3, 1, 0).contiguous().flatten().tolist()


def flat(t):
    return t.detach().contiguous().flatten().tolist()


out = {}

# --- conv2d: PyTorch symmetric padding -------------------------------------------------------
convs = []
for case in [
    dict(name="3x3 s2 p1 odd", x=[2, 3, 7, 6], w=[4, 3, 3, 3], stride=2, padding=1, seed=11),
    dict(name="3x3 s1 p1", x=[2, 5, 5, 4], w=[6, 5, 3, 3], stride=1, padding=1, seed=12),
    dict(name="1x1 s1 p0", x=[3, 4, 3, 5], w=[5, 4, 1, 1], stride=1, padding=0, seed=13),
    dict(name="7x7 s2 p3", x=[1, 2, 9, 10], w=[3, 2, 7, 7], stride=2, padding=3, seed=14),
]:
    s = case["seed"]
    x = draw(s, case["x"]).requires_grad_()
    w = draw(s + 100, case["w"], scale=0.3).requires_grad_()
    y = F.conv2d(x, w, stride=case["stride"], padding=case["padding"])
    r = draw(s + 200, list(y.shape))
    (y * r).sum().backward()
    convs.append({**case, "y": nhwc(y), "yShape": list(y.shape), "dx": nhwc(x.grad), "dw": hwio(w.grad)})
out["conv"] = convs

# --- batch norm: train (batch stats, running update with unbiased var), eval, fused ReLU ---------
bns = []
for case in [
    dict(name="train", x=[3, 5, 4, 3], seed=21, relu=False),
    dict(name="train relu", x=[2, 4, 3, 5], seed=22, relu=True),
]:
    s = case["seed"]
    n, c, h, w_ = case["x"]
    x = draw(s, case["x"], scale=2.0, offset=0.5).requires_grad_()
    bn = torch.nn.BatchNorm2d(c)
    with torch.no_grad():
        bn.weight.copy_(draw(s + 1, [c], scale=0.5, offset=1.0))
        bn.bias.copy_(draw(s + 2, [c], scale=0.5))
        bn.running_mean.copy_(draw(s + 3, [c], scale=0.3))
        bn.running_var.copy_(draw(s + 4, [c], scale=0.2, offset=1.0).abs())
    rm0 = bn.running_mean.clone()
    rv0 = bn.running_var.clone()
    bn.eval()
    y_eval = bn(x)
    if case["relu"]:
        y_eval = F.relu(y_eval)
    bn.train()
    y = bn(x)
    if case["relu"]:
        y = F.relu(y)
    r = draw(s + 5, list(y.shape))
    (y * r).sum().backward()
    bns.append({
        **case,
        "yEval": nhwc(y_eval),
        "y": nhwc(y),
        "runningMean": flat(bn.running_mean),
        "runningVar": flat(bn.running_var),
        "numBatchesTracked": int(bn.num_batches_tracked),
        "dx": nhwc(x.grad),
        "dweight": flat(bn.weight.grad),
        "dbias": flat(bn.bias.grad),
    })
    assert torch.equal(rm0, draw(s + 3, [c], scale=0.3))
out["batchNorm"] = bns

# --- max pool 3x3/2 pad 1 (padding = -inf) ------------------------------------------------------
pools = []
for case in [
    dict(name="odd", x=[2, 3, 7, 7], seed=31, negative=False),
    dict(name="even negative", x=[2, 3, 6, 6], seed=32, negative=True),
]:
    x = draw(case["seed"], case["x"])
    if case["negative"]:
        x = -x.abs() - 1.0
    x.requires_grad_()
    y = F.max_pool2d(x, 3, 2, 1)
    r = draw(case["seed"] + 200, list(y.shape))
    (y * r).sum().backward()
    pools.append({**case, "y": nhwc(y), "yShape": list(y.shape), "dx": nhwc(x.grad)})
out["maxPool"] = pools

# --- avg pool 2x2/2 ceil_mode count_include_pad=False (timm's ResNet-D shortcut) ----------------
avgs = []
for case in [dict(name="odd", x=[2, 3, 5, 5], seed=41), dict(name="mixed", x=[1, 2, 4, 7], seed=42)]:
    x = draw(case["seed"], case["x"]).requires_grad_()
    y = F.avg_pool2d(x, 2, 2, ceil_mode=True, count_include_pad=False)
    r = draw(case["seed"] + 200, list(y.shape))
    (y * r).sum().backward()
    avgs.append({**case, "y": nhwc(y), "yShape": list(y.shape), "dx": nhwc(x.grad)})
out["avgPool"] = avgs

# --- global average pool + linear ----------------------------------------------------------------
x = draw(51, [2, 3, 4, 5]).requires_grad_()
y = x.mean(dim=(2, 3))
r = draw(251, list(y.shape))
(y * r).sum().backward()
out["globalAvgPool"] = {"x": [2, 3, 4, 5], "seed": 51, "y": flat(y), "dx": nhwc(x.grad)}

x = draw(61, [4, 7]).requires_grad_()
w = draw(62, [5, 7], scale=0.4).requires_grad_()
b = draw(63, [5]).requires_grad_()
y = F.linear(x, w, b)
r = draw(261, list(y.shape))
(y * r).sum().backward()
out["linear"] = {
    "x": [4, 7], "w": [5, 7], "seeds": [61, 62, 63, 261],
    "y": flat(y), "dx": flat(x.grad), "dw": flat(w.grad.t()), "db": flat(b.grad),
}

print("// Generated by test/golden/gen_ml_ops.py (PyTorch " + torch.__version__ + "); do not edit.")
print("/* eslint-disable */")
print("export const OPS_GOLDEN = " + json.dumps(out))
