"""Local check (not run by npm test; used by test/ml/model/checkpoint.test.ts under CAIRN_TORCH=1).

argv: variant imagenet.safetensors adapted.safetensors
- writes a random "ImageNet" checkpoint of timm's model (in_chans=3, 1000 classes, non-trivial BN
  running stats) to imagenet.safetensors;
- lets timm itself load it as pretrained weights into a 1-channel, 6-class model
  (pretrained_cfg_overlay=dict(file=...): timm's load_pretrained, adapt_input_conv, classifier
  dropped) and writes that model's state dict to adapted.safetensors.
"""
import sys
import timm
import torch
from safetensors.torch import save_file

variant, imagenet, adapted = sys.argv[1:4]
torch.manual_seed(0)
src = timm.create_model(variant, pretrained=False, num_classes=1000, in_chans=3)
with torch.no_grad():
    for name, buf in src.named_buffers():
        if name.endswith("running_mean"):
            buf.normal_()
        elif name.endswith("running_var"):
            buf.uniform_(0.5, 2.0)
        elif name.endswith("num_batches_tracked"):
            buf.fill_(123)
save_file(src.state_dict(), imagenet)
dst = timm.create_model(variant, pretrained=True, pretrained_cfg_overlay=dict(file=imagenet), num_classes=6, in_chans=1)
save_file(dst.state_dict(), adapted)
print("ok")
