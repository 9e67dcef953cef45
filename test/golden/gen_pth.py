"""Generator (not run by the test suite): the PyTorch checkpoints of test/ml/model/pth.test.ts, in
test/fixtures/ml/pth/, made with Debian's python3-torch 1.13 in torch.save's default (zip) format.

Run:  /usr/bin/python3 test/golden/gen_pth.py      (Debian bookworm's python3-torch 1.13, numpy)

- tiny-resnet18d.pth: what the seed's training notebook saves, `torch.save(model.state_dict(), ...)`
  of its wrapper (`self.model = timm.create_model(...)`, so every name starts with `model.`), for a
  resnet18d (in_chans 1, 6 classes) narrowed to width 1/16 (cairn's ResNet `width`) to stay small.
  Weights: resnet_d.fill, entry i from RandomState(1000 + i); num_batches_tracked = 1000 + i.
- tiny-resnet18d.safetensors: the same tensors under timm's names (no wrapper prefix), written
  byte for byte as safetensors.torch.save_file does (Debian has no safetensors package).
- tiny-resnet18d-logits.json: torch's eval-mode logits of that model on a fixed input.
- dtypes.pth: the storage and tensor forms a state dict may hold: float16, bfloat16, float64,
  int64 and int32 tensors, a 0-d tensor, a transposed (non-contiguous) view, two views into one
  storage at different offsets, an nn.Parameter (torch._utils._rebuild_parameter); with their
  values in dtypes.json.
- Refused pickles, each in a zip laid out as torch writes it (`<name>/data.pkl`, `<name>/version`):
  os-system.pth (protocol 2 by hand: GLOBAL os.system, REDUCE, touching MARKER when unpickled by
  Python), builtins-eval.pth (a valid OrderedDict whose second value is built by builtins.eval),
  posix-system.pth (what Python's own pickler writes for a __reduce__ to os.system at protocol 4:
  STACK_GLOBAL posix.system), whole-model.pth (`torch.save(model)`: the module pickled, not its
  state dict; names __main__.HMSHBACSpecModel).
"""
import collections
import json
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from resnet_d import ResNetD, fill

OUT = Path(__file__).resolve().parents[1] / "fixtures" / "ml" / "pth"
WIDTH = 1 / 16
IMG = 32
MARKER = "/tmp/cairn-pth-os-system-marker"


class HMSHBACSpecModel(nn.Module):
    """The seed's wrapper: the timm model as `self.model`."""

    def __init__(self):
        super().__init__()
        self.model = ResNetD("resnet18d", num_classes=6, in_chans=1, width=WIDTH)

    def forward(self, x):
        return self.model(x)


def seq(n):
    return ((((np.arange(n, dtype=np.int64) * 7919) % 1000) - 500) / 37).astype(np.float32)


SAFETENSORS_DTYPE = {torch.float32: "F32", torch.int64: "I64"}
# The reference's writer order: dtype, widest first (I64 before F32), then name.
DTYPE_RANK = {"I64": 0, "F32": 1}


def save_safetensors(state, file):
    """safetensors.torch.save_file's bytes for float32 / int64 tensors, metadata {"format": "pt"}."""
    items = sorted(state.items(), key=lambda kv: (DTYPE_RANK[SAFETENSORS_DTYPE[kv[1].dtype]], kv[0].encode()))
    header, blobs, at = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in items:
        data = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": SAFETENSORS_DTYPE[t.dtype], "shape": list(t.shape), "data_offsets": [at, at + len(data)]}
        blobs.append(data)
        at += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    file.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def tiny_model():
    torch.manual_seed(0)
    model = HMSHBACSpecModel().eval()
    with torch.no_grad():
        for i, (name, t) in enumerate(model.model.state_dict().items()):
            if name.endswith("num_batches_tracked"):
                t.fill_(1000 + i)
            else:
                t.copy_(fill(name, tuple(t.shape), 1000 + i))
    return model


def zip_like_torch(file, records):
    """A zip with torch's layout: `<stem>/<record>`, stored (torch never compresses)."""
    stem = file.stem
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in records:
            z.writestr(f"{stem}/{name}", data)


def proto2_string(text):
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def os_system_pickle():
    # PROTO 2, GLOBAL os.system, the command as a 1-tuple, REDUCE, STOP: os.system(command) when unpickled.
    return b"\x80\x02" + b"cos\nsystem\n" + proto2_string(f"touch {MARKER}") + b"\x85" + b"R" + b"."


def builtins_eval_pickle():
    # OrderedDict() with "fc.bias" = 1 (allowed so far), then "fc.weight" = builtins.eval("...").
    return (
        b"\x80\x02"
        + b"ccollections\nOrderedDict\n)R"
        + b"(" + proto2_string("fc.bias") + b"K\x01"
        + proto2_string("fc.weight") + b"cbuiltins\neval\n" + proto2_string("__import__('os').system('touch " + MARKER + "')") + b"\x85R"
        + b"u."
    )


class SystemCall:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    model = tiny_model()
    torch.save(model.state_dict(), OUT / "tiny-resnet18d.pth")
    save_safetensors(model.model.state_dict(), OUT / "tiny-resnet18d.safetensors")
    x = torch.from_numpy(seq(2 * IMG * IMG).reshape(2, 1, IMG, IMG) / 10)
    with torch.no_grad():
        logits = model(x)
    (OUT / "tiny-resnet18d-logits.json").write_text(
        json.dumps({"input": "seq(2*32*32) / 10 as [2, 1, 32, 32]", "width": WIDTH, "logits": logits.flatten().tolist()}) + "\n"
    )

    base = torch.arange(12, dtype=torch.float32) / 4
    dtypes = collections.OrderedDict(
        [
            ("half", torch.from_numpy(seq(7)).half()),
            ("bf16", torch.from_numpy(seq(5)).bfloat16()),
            ("f64", torch.from_numpy(seq(4).astype(np.float64) / 3)),
            ("i64", torch.tensor([-5, 0, 1234567890123], dtype=torch.int64)),
            ("i32", torch.tensor([-3, 0, 7], dtype=torch.int32)),
            ("scalar", torch.tensor(2.5)),
            ("transposed", torch.from_numpy(seq(6)).reshape(2, 3).t()),
            ("view_a", base[2:8].view(2, 3)),
            ("view_b", base[6:]),
            ("param", nn.Parameter(torch.from_numpy(seq(3)))),
        ]
    )
    torch.save(dtypes, OUT / "dtypes.pth")
    (OUT / "dtypes.json").write_text(
        json.dumps({k: {"shape": list(v.shape), "values": v.detach().double().flatten().tolist()} for k, v in dtypes.items()}) + "\n"
    )

    version = b"3\n"
    zip_like_torch(OUT / "os-system.pth", [("data.pkl", os_system_pickle()), ("version", version)])
    zip_like_torch(OUT / "builtins-eval.pth", [("data.pkl", builtins_eval_pickle()), ("version", version)])
    zip_like_torch(OUT / "posix-system.pth", [("data.pkl", pickle.dumps(SystemCall(), protocol=4)), ("version", version)])
    torch.save(model, OUT / "whole-model.pth")

    # The fixtures are live: Python's unpickler runs the payload (torch.load(weights_only=False) would).
    for payload in (os_system_pickle(), pickle.dumps(SystemCall(), protocol=4)):
        Path(MARKER).unlink(missing_ok=True)
        pickle.loads(payload)
        assert Path(MARKER).exists(), "the payload did not run"
        Path(MARKER).unlink()
    # And torch's own weights-only loader reads the state dicts (and refuses the payloads).
    assert torch.load(OUT / "tiny-resnet18d.pth", weights_only=True).keys() == model.state_dict().keys()
    for bad in ("os-system.pth", "builtins-eval.pth", "posix-system.pth", "whole-model.pth"):
        try:
            torch.load(OUT / bad, weights_only=True)
        except pickle.UnpicklingError:
            continue
        raise AssertionError(f"torch.load(weights_only=True) read {bad}")
    assert not Path(MARKER).exists()
    for f in sorted(OUT.iterdir()):
        print(f"{f.name}: {f.stat().st_size} bytes")


if __name__ == "__main__":
    main()
