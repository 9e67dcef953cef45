"""Generator (not run by the test suite): test/fixtures/ml/tiny-torch.safetensors, a small state
dict saved by safetensors.torch.save_file (torch 2.13, safetensors 0.8), for the byte-level tests in
test/ml/model/safetensors.test.ts. Every value is an exactly reproducible function of its index:

    seq(n)[i] = float32(((i * 7919) % 1000 - 500) / 37)

Run: python3 test/golden/gen_safetensors.py
"""
from pathlib import Path
import numpy as np
import torch
import safetensors.torch as st


def seq(n):
    return torch.from_numpy((((np.arange(n, dtype=np.int64) * 7919) % 1000 - 500) / 37).astype(np.float32))


state = {
    "conv1.0.weight": seq(4 * 1 * 3 * 3).reshape(4, 1, 3, 3),
    "bn1.weight": seq(4) + 1,
    "bn1.running_mean": seq(4) * 0.5,
    "bn1.num_batches_tracked": torch.tensor(1234567890123, dtype=torch.int64),
    "fc.weight": seq(6 * 4).reshape(6, 4),
    "fc.bias": seq(6),
    "half.weight": seq(300).half(),          # float32 -> float16, round to nearest even
    "bf.weight": seq(300).bfloat16(),        # float32 -> bfloat16, round to nearest even
    "f64.weight": torch.from_numpy(((np.arange(5) * 7919) % 1000 - 500) / 37.0),
    "idx.i32": torch.tensor([-3, 0, 7], dtype=torch.int32),
}
out = Path(__file__).resolve().parents[1] / "fixtures" / "ml" / "tiny-torch.safetensors"
st.save_file(state, str(out), metadata={"format": "pt"})
print(out, out.stat().st_size)
