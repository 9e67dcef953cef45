"""Local check (not run by npm test; used by test/ml/model/checkpoint.test.ts under CAIRN_TORCH=1).

argv: variant ours.safetensors theirs.safetensors input.f32
- loads OUR checkpoint strictly into timm.create_model(variant, num_classes=6, in_chans=1);
- prints the eval-mode logits of the NHWC float32 input (2 x 64 x 64 x 1) as JSON;
- writes THEIR checkpoint: every float tensor + 0.5, every counter + 7, via safetensors.torch.
"""
import json
import sys
import numpy as np
import timm
import torch
from safetensors.torch import load_file, save_file

variant, ours, theirs, input_file = sys.argv[1:5]
model = timm.create_model(variant, pretrained=False, num_classes=6, in_chans=1)
model.load_state_dict(load_file(ours), strict=True)
model.eval()
x = np.fromfile(input_file, dtype=np.float32).reshape(2, 64, 64, 1).transpose(0, 3, 1, 2).copy()
with torch.no_grad():
    logits = model(torch.from_numpy(x))
state = {k: (v + 7 if v.dtype == torch.int64 else v + 0.5) for k, v in model.state_dict().items()}
save_file(state, theirs, metadata={"format": "pt"})
print(json.dumps({"logits": logits.numpy().ravel().tolist()}))
