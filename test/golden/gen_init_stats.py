"""Generator (not run by the test suite): per-tensor statistics of timm's random init of ResNet-D,
for test/ml/model/init-distribution.test.ts (cairn's init must have the same distribution).

timm's ResNet.init_weights, as timm 1.0 does it: every Conv2d kaiming_normal_(mode="fan_out",
nonlinearity="relu"); BatchNorm weight 1, bias 0 (PyTorch's default); zero_init_last: each block's
last BN weight 0; the classifier keeps nn.Linear's default init (kaiming_uniform_(a=sqrt(5)):
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias). Run on resnet_d.py's module tree.

Run:  /usr/bin/python3 test/golden/gen_init_stats.py > test/fixtures/parity/init-stats.json
"""
import json
import pathlib
import sys

import torch
from torch import nn

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from resnet_d import BasicBlock, ResNetD  # noqa: E402

SEEDS = [0, 1, 2, 3, 4]
VARIANT = "resnet18d"


def timm_init(model):
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    for m in model.modules():
        if isinstance(m, BasicBlock):
            nn.init.zeros_(m.bn2.weight)


stats = {}
for seed in SEEDS:
    torch.manual_seed(seed)
    model = ResNetD(VARIANT, 6, 1)  # nn.Linear / nn.BatchNorm2d defaults drawn here
    timm_init(model)
    params = dict(model.named_parameters())
    for name, t in params.items():
        v = t.detach().double().flatten()
        s = stats.setdefault(name, {"numel": v.numel(), "mean": [], "std": []})
        s["mean"].append(float(v.mean()))
        s["std"].append(float(v.std(unbiased=False)))
print(json.dumps({"generator": f"test/golden/gen_init_stats.py (torch {torch.__version__})", "variant": VARIANT, "seeds": SEEDS, "tensors": stats}))
