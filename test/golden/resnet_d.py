"""timm's ResNet-D (resnet18d / resnet34d) in plain PyTorch, for golden generators where timm is not
installed (Debian's python3-torch has no timm). Same module tree, so the same state_dict names,
order and shapes as timm.create_model(variant, num_classes=..., in_chans=...); the forward is the
same computation (checked against timm's own outputs in check_resnet_d.py)."""
import math

import numpy as np
import torch
from torch import nn

BLOCKS = {"resnet18d": [2, 2, 2, 2], "resnet34d": [3, 4, 6, 3]}


class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.drop_block = nn.Identity()
        self.act1 = nn.ReLU(inplace=True)
        self.aa = nn.Identity()
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        shortcut = x
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        if self.downsample is not None:
            shortcut = self.downsample(shortcut)
        return self.act2(x + shortcut)


def avg_down(inplanes, planes, stride):
    pool = nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False) if stride != 1 else nn.Identity()
    return nn.Sequential(pool, nn.Conv2d(inplanes, planes, 1, 1, 0, bias=False), nn.BatchNorm2d(planes))


def scaled_width(channels, width):
    """src/ml/model/resnet.ts's scaledWidth: channels * width rounded half up, at least 1."""
    return max(1, int(math.floor(channels * width + 0.5)))


class ResNetD(nn.Module):
    def __init__(self, variant, num_classes, in_chans, width=1.0):
        """`width` scales every channel width as cairn's ResNet `width` does (1: timm's model)."""
        super().__init__()
        stem, stem_out = scaled_width(32, width), scaled_width(64, width)
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_chans, stem, 3, 2, 1, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True),
            nn.Conv2d(stem, stem, 3, 1, 1, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True),
            nn.Conv2d(stem, stem_out, 3, 1, 1, bias=False),
        )
        self.bn1 = nn.BatchNorm2d(stem_out)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = stem_out
        for i, (n, planes) in enumerate(zip(BLOCKS[variant], [scaled_width(c, width) for c in (64, 128, 256, 512)])):
            stride = 1 if i == 0 else 2
            blocks = []
            for b in range(n):
                s = stride if b == 0 else 1
                down = avg_down(inplanes, planes, s) if (s != 1 or inplanes != planes) else None
                blocks.append(BasicBlock(inplanes, planes, s, down))
                inplanes = planes
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, num_classes)

    def forward(self, x):
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.global_pool(x), 1))


def fill(name, shape, seed):
    """gen_resnet.py's deterministic weights: state_dict entry `name` from RandomState(seed),
    scaled by its kind (He by fan-in for convs, 1/sqrt(fan_in) for fc, near 1 for BN scales and
    running variances, small for the rest)."""
    v = np.random.RandomState(seed).standard_normal(int(np.prod(shape)) if shape else 1)
    if len(shape) == 4:
        v = v * math.sqrt(2.0 / (shape[1] * shape[2] * shape[3]))
    elif name == "fc.weight":
        v = v * math.sqrt(1.0 / shape[1])
    elif name.endswith("running_var"):
        v = 1.0 + 0.1 * np.abs(v)
    elif name.endswith(".weight"):
        v = 1.0 + 0.1 * v
    else:
        v = 0.1 * v
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def seeded_resnet(variant, num_classes, in_chans, seed):
    """A ResNetD whose state_dict entry i is `fill(name, shape, seed + i)` (num_batches_tracked: 0):
    the init the parity generators and cairn's tests redraw bit for bit."""
    model = ResNetD(variant, num_classes, in_chans)
    with torch.no_grad():
        for i, (name, t) in enumerate(model.state_dict().items()):
            if name.endswith("num_batches_tracked"):
                t.zero_()
            else:
                t.copy_(fill(name, list(t.shape), seed + i))
    return model
