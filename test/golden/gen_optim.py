"""Generator (not run by the test suite): golden values for test/ml/train/schedule.test.ts and
test/ml/train/adamw.test.ts, from torch.optim.AdamW + torch.optim.lr_scheduler.OneCycleLR.

Run: python3 test/golden/gen_optim.py   (torch 2.13 CPU). Paste the printed JSON into the tests.
"""
import json
import numpy as np
import torch
from torch import optim
from torch.optim import lr_scheduler


def schedule(epochs, steps_per_epoch, max_lr, pct_start, div_factor, final_div_factor, **kw):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = optim.AdamW([p], lr=max_lr, weight_decay=1e-2)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=max_lr, epochs=epochs, steps_per_epoch=steps_per_epoch,
                                    pct_start=pct_start, div_factor=div_factor,
                                    final_div_factor=final_div_factor, **kw)
    lrs, betas = [], []
    for _ in range(epochs * steps_per_epoch):
        lrs.append(opt.param_groups[0]["lr"])
        betas.append(opt.param_groups[0]["betas"][0])
        opt.step()
        sched.step()
    # the lr the scheduler leaves after the very last step (never used by an optimizer step)
    return {"lr": lrs, "beta1": betas, "after_last": opt.param_groups[0]["lr"]}


out = {}
# the seed's config: 9 epochs, 278 steps per epoch (8910 training windows // 32), pct_start 0
seed = schedule(9, 278, 1e-3, 0.0, 25, 0.4)
idx = [0, 1, 2, 100, 277, 278, 1000, 1250, 2000, 2500, 2501]
out["seed"] = {"index": idx, "lr": [seed["lr"][i] for i in idx], "beta1": [seed["beta1"][i] for i in idx],
               "after_last": seed["after_last"], "total": len(seed["lr"])}
out["small"] = schedule(3, 4, 1e-3, 0.0, 25, 0.4)
out["warmup"] = schedule(2, 5, 0.01, 0.3, 10, 100.0)
out["linear3"] = schedule(2, 5, 0.01, 0.25, 10, 100.0, anneal_strategy="linear", three_phase=True)

# AdamW with OneCycle (beta1 cycles) over 5 steps, two parameters, fixed gradients.
rng = np.random.default_rng(7)
p1 = rng.standard_normal((3, 2)).astype(np.float32)
p2 = rng.standard_normal((4,)).astype(np.float32)
grads = [[rng.standard_normal((3, 2)).astype(np.float32) * 0.1, rng.standard_normal((4,)).astype(np.float32)]
         for _ in range(5)]
grads[3][1][2] = 0.0  # a zero gradient entry
t1 = torch.nn.Parameter(torch.from_numpy(p1.copy()))
t2 = torch.nn.Parameter(torch.from_numpy(p2.copy()))
opt = optim.AdamW([t1, t2], lr=1e-2, weight_decay=1e-2)
sched = lr_scheduler.OneCycleLR(opt, max_lr=1e-2, epochs=1, steps_per_epoch=5, pct_start=0.0, div_factor=25,
                                final_div_factor=0.4)
steps = []
for g1, g2 in grads:
    lr = opt.param_groups[0]["lr"]
    beta1 = opt.param_groups[0]["betas"][0]
    t1.grad = torch.from_numpy(g1.copy())
    t2.grad = torch.from_numpy(g2.copy())
    opt.step()
    sched.step()
    s1, s2 = opt.state[t1], opt.state[t2]
    steps.append({"lr": lr, "beta1": beta1,
                  "p1": t1.detach().numpy().ravel().tolist(), "p2": t2.detach().numpy().ravel().tolist(),
                  "m2": s2["exp_avg"].numpy().ravel().tolist(), "v2": s2["exp_avg_sq"].numpy().ravel().tolist()})
out["adamw"] = {"p1": p1.ravel().tolist(), "p2": p2.ravel().tolist(),
                "grads": [[g1.ravel().tolist(), g2.ravel().tolist()] for g1, g2 in grads], "steps": steps}

# plain AdamW (constant lr, default betas), with a non-default weight decay
q = torch.nn.Parameter(torch.tensor([0.5, -1.5, 2.0]))
opt = optim.AdamW([q], lr=0.1, weight_decay=0.5)
plain = []
for k in range(4):
    q.grad = torch.tensor([0.3 * (k + 1), -0.2, 0.0])
    opt.step()
    plain.append(q.detach().numpy().tolist())
out["plain"] = plain
print(json.dumps(out))
