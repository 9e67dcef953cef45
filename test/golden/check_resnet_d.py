"""Checks resnet_d.py against timm's own numbers in test/ml/model/resnet-golden.ts (made by
gen_resnet.py with timm): state_dict layout, eval and train logits, BN buffers, gradient norms.

Run:  /usr/bin/python3 test/golden/check_resnet_d.py   (Debian python3-torch)"""
import json
import math
import pathlib
import sys

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from resnet_d import ResNetD, fill  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
text = (HERE.parent / "ml" / "resnet-golden.ts").read_text()
golden = json.loads(text[text.index("{"):].rstrip().rstrip(";"))


def z(seed, n):
    return np.random.RandomState(seed).standard_normal(n)


for variant in ["resnet18d", "resnet34d"]:
    m = ResNetD(variant, 6, 1)
    params = {n for n, _ in m.named_parameters()}
    mine = [[n, "param" if n in params else ("counter" if n.endswith("num_batches_tracked") else "buffer"), list(t.shape)] for n, t in m.state_dict().items()]
    assert mine == golden["layouts"][variant], f"{variant}: state_dict layout differs"
    assert sum(p.numel() for p in m.parameters()) == golden["paramCounts"][variant]

f = golden["forward"]
model = ResNetD("resnet18d", 6, 1)
with torch.no_grad():
    for i, (name, t) in enumerate(model.state_dict().items()):
        if name.endswith("num_batches_tracked"):
            t.zero_()
        else:
            t.copy_(fill(name, list(t.shape), f["weightSeed"] + i))
x = torch.from_numpy(z(f["inputSeed"], int(np.prod(f["input"]))).astype(np.float32).reshape(f["input"]))
model.eval()
with torch.no_grad():
    le = model(x).flatten().numpy()
model.train()
lt = model(x)
r = torch.from_numpy(z(f["cotangentSeed"], lt.numel()).astype(np.float32).reshape(lt.shape))
(lt * r).sum().backward()


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


report = {
    "logitsEval": rel(le, f["logitsEval"]),
    "logitsTrain": rel(lt.detach().flatten().numpy(), f["logitsTrain"]),
    "gradNorms": max(abs(float(p.grad.double().norm()) - g) / max(g, 1e-12) for (n, p), (_, g) in zip(model.named_parameters(), f["gradNorms"])),
    "bn1.running_mean": rel(model.state_dict()["bn1.running_mean"].numpy(), f["buffersAfterTrain"]["bn1.running_mean"]),
}
print(json.dumps(report))
assert all(v < 1e-4 for v in report.values()), report
print("resnet_d.py matches timm")
