"""Generator (not run by the test suite): ONE training step of the seed's model (resnet34d, AdamW,
KL loss on log_softmax) in PyTorch, from an init and a batch that cairn redraws bit for bit, for
test/ml/train/seed-step.test.ts. Writes test/fixtures/seed-step/resnet34d-<size>-b<batch>.json.

Run (python3-torch 1.13, numpy 1.24; the 512 px case holds ~7 GiB, so under the shared lock):
    /usr/bin/python3 test/golden/gen_seed_step.py --size 64 --batch 4
    flock /tmp/bigmem.lock /usr/bin/python3 test/golden/gen_seed_step.py --size 512 --batch 32
    /usr/bin/python3 test/golden/gen_seed_step.py --size 64 --batch 4 --noise   (fp32 vs fp64; writes nothing)
The 512 px run took 5.6 min wall (41 s user: the 2 cores were shared) and peaked at 6.8 GiB RSS.
`--dump F.npz` also writes w0, w1 and the gradients of every tensor, for a full diff against the
checkpoint the test keeps with CAIRN_SEED_STEP_KEEP.

What both sides draw, so that nothing of 85 MB has to be committed:
- the initial state_dict: entry i from numpy's RandomState(WEIGHT_SEED + i), resnet_d.py's `fill`
  (cairn: test/ml/train/seeded-state.ts);
- the windows: `batch + 1` images (the last is the validation window), each
  `2 * RandomState(DATA_SEED).random_sample(size * size) - 1` in one stream, rounded to float32
  (exact in both: a 53-bit double, times 2, minus 1);
- the soft labels: per window, `0.05 + random_sample()` for each class from RandomState(LABEL_SEED),
  divided by their sum taken left to right in float64, rounded to float32.
The step: model.train(); AdamW(lr, weight_decay) with torch's defaults otherwise; loss =
KLDivLoss(batchmean)(log_softmax(model(x)), t); backward; step (cairn: trainFold with a constant
schedule over one epoch of one batch, then an eval-mode validation loss of the updated model on the
validation window, which is this generator's `valLoss`).

Stored per state_dict entry (float64 sums of the float32 values) -- for a parameter: the sum of its
initial values (checks the redraw), and of the update u = w1 - w0: sum(u)/lr, sum(|u|)/lr, and u/lr
and torch's gradient at SAMPLES strided positions; of w1: sum, sum of squares, max |w1|. For a
buffer (BN running mean/var after the step's momentum update): sum, sum of squares, max abs and its
values at the strided positions. The positions are `sample_index` (the test computes the same).
"""
import argparse
import json
import math
import pathlib
import sys
import time

import numpy as np
import torch
from torch import optim

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from gen_train_parity import KLDivLossWithLogits  # noqa: E402
from resnet_d import seeded_resnet  # noqa: E402

OUT = HERE.parent / "fixtures" / "seed-step"
CONFIG = {
    "variant": "resnet34d",
    "inChans": 1,
    "classes": 6,
    # the seed's optimizer settings
    "lr": 1e-3,
    "weightDecay": 1e-2,
    "weightSeed": 3000,
    "dataSeed": 91,
    "labelSeed": 92,
    "labelFloor": 0.05,
    "samples": 32,
}


def sample_index(n, samples):
    """`samples` strided positions in a flattened tensor of n values (all of them if n <= samples),
    each shifted inside its stride so that they do not all fall on the same kernel tap."""
    s = min(samples, n)
    gap = n // s
    return [(k * n) // s + (k * 7919) % gap for k in range(s)]


def make_batch(cfg, size, batch):
    rs = np.random.RandomState(cfg["dataSeed"])
    images = (2.0 * rs.random_sample((batch + 1) * size * size) - 1.0).astype(np.float32)
    images = images.reshape(batch + 1, 1, size, size)
    rl = np.random.RandomState(cfg["labelSeed"])
    labels = np.zeros((batch + 1, cfg["classes"]), np.float32)
    for i in range(batch + 1):
        v = [cfg["labelFloor"] + float(rl.random_sample()) for _ in range(cfg["classes"])]
        total = 0.0
        for x in v:
            total += x  # left to right, as the test sums
        labels[i] = [x / total for x in v]
    return images, labels


def init_model(cfg, dtype):
    return seeded_resnet(cfg["variant"], cfg["classes"], cfg["inChans"], cfg["weightSeed"]).to(dtype)


def one_step(cfg, images, labels, batch, dtype):
    """The step; returns (loss, valLoss, w0, w1, grads) as float64 numpy arrays by state_dict name."""
    model = init_model(cfg, dtype)
    params = dict(model.named_parameters())
    w0 = {k: v.detach().double().numpy().copy() for k, v in model.state_dict().items()}
    x = torch.from_numpy(images[:batch]).to(dtype)
    t = torch.from_numpy(labels[:batch]).to(dtype)
    optimizer = optim.AdamW(params=model.parameters(), lr=cfg["lr"], weight_decay=cfg["weightDecay"])
    model.train()
    optimizer.zero_grad()
    loss = KLDivLossWithLogits()(model(x), t)
    loss.backward()
    grads = {k: p.grad.detach().double().numpy().copy() for k, p in params.items()}
    optimizer.step()
    w1 = {k: v.detach().double().numpy().copy() for k, v in model.state_dict().items()}
    model.eval()
    with torch.no_grad():
        val = KLDivLossWithLogits()(model(torch.from_numpy(images[batch:]).to(dtype)), torch.from_numpy(labels[batch:]).to(dtype))
    return loss.item(), val.item(), w0, w1, grads


def g(x, digits):
    return float(f"{x:.{digits}g}")


def describe(cfg, name, w0, w1, grads):
    a0, a1 = w0[name].ravel(), w1[name].ravel()
    if name.endswith("num_batches_tracked"):
        return {"name": name, "kind": "counter", "value": int(a1[0])}
    idx = sample_index(a1.size, cfg["samples"])
    stats = {"sum": float(a1.sum()), "sumSq": float((a1 * a1).sum()), "maxAbs": float(np.abs(a1).max())}
    if name not in grads:
        return {"name": name, "kind": "buffer", "shape": list(w1[name].shape), "init": {"sum": float(a0.sum())}, "after": stats,
                "sample": [g(a1[i], 9) for i in idx]}
    lr = cfg["lr"]
    u = (a1 - a0) / lr
    gr = grads[name].ravel()
    return {
        "name": name,
        "kind": "param",
        "shape": list(w1[name].shape),
        "init": {"sum": float(a0.sum())},
        "after": stats,
        "update": {"sum": float(u.sum()), "sumAbs": float(np.abs(u).sum())},
        "gradRms": float(math.sqrt((gr * gr).mean())),
        "updateSample": [g(u[i], 7) for i in idx],
        "gradSample": [g(gr[i], 3) for i in idx],
    }


def noise(cfg, images, labels, batch):
    """PyTorch fp32 against PyTorch fp64 on the same step: the float noise the test's tolerances allow."""
    l32, v32, _, a, g32 = one_step(cfg, images, labels, batch, torch.float32)
    l64, v64, _, b, g64 = one_step(cfg, images, labels, batch, torch.float64)
    print(f"loss fp32 {l32!r} fp64 {l64!r} rel {abs(l32 - l64) / abs(l64):.3g}; val rel {abs(v32 - v64) / abs(v64):.3g}")
    worst_flip, flips, total, worst_u, worst_buf = 0.0, 0, 0, 0.0, 0.0
    init = {k: v.numpy() for k, v in init_model(cfg, torch.float64).state_dict().items()}
    for name in b:
        if name.endswith("num_batches_tracked"):
            continue
        if name not in g64:
            d = np.abs(a[name] - b[name]).max() / max(np.abs(b[name]).max(), 1e-30)
            worst_buf = max(worst_buf, d)
            continue
        u32, u64 = (a[name] - init[name]) / cfg["lr"], (b[name] - init[name]) / cfg["lr"]
        rms = math.sqrt((g64[name] ** 2).mean())
        flipped = np.abs(u32 - u64) > 0.5
        flips += int(flipped.sum())
        total += u64.size
        if flipped.any():
            worst_flip = max(worst_flip, float((np.abs(g64[name][flipped]) / rms).max()))
        worst_u = max(worst_u, float(np.abs(u32 - u64)[~flipped].max()))
    print(f"update sign flips: {flips} of {total} ({flips / total:.3g}); largest |grad|/rms(grad) at a flip: {worst_flip:.3g}")
    print(f"largest |u32 - u64|/lr elsewhere: {worst_u:.3g}; largest running-stat difference / max abs: {worst_buf:.3g}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--noise", action="store_true", help="compare fp32 with fp64, write nothing")
    ap.add_argument("--dump", help="also write w0, w1 and the gradients of every tensor to this .npz (for a full diff)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = {**CONFIG, "imgSize": args.size, "batchSize": args.batch}
    images, labels = make_batch(cfg, args.size, args.batch)
    if args.noise:
        noise(cfg, images, labels, args.batch)
        return
    start = time.perf_counter()
    loss, val, w0, w1, grads = one_step(cfg, images, labels, args.batch, torch.float32)
    seconds = time.perf_counter() - start
    golden = {
        "generator": f"test/golden/gen_seed_step.py (torch {torch.__version__}, numpy {np.__version__})",
        "config": cfg,
        "loss": loss,
        "valLoss": val,
        "tensors": [describe(cfg, name, w0, w1, grads) for name in w1],
    }
    if args.dump:
        np.savez(args.dump, **{f"w0:{k}": v for k, v in w0.items()}, **{f"w1:{k}": v for k, v in w1.items()},
                 **{f"grad:{k}": v for k, v in grads.items()})
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"{cfg['variant']}-{args.size}-b{args.batch}.json"
    out.write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    print(f"{out.name}: loss {loss!r} valLoss {val!r}; step {seconds:.1f} s")


if __name__ == "__main__":
    main()
