"""Generator (not run by the test suite): golden values for test/ml/predict/metric.test.ts and
test/ml/train/loss.test.ts.

- the Kaggle HMS metric (kaggle_kl_div.score, micro and macro average), re-typed below from the
  published metric source (https://www.kaggle.com/code/metric/kullback-leibler-divergence);
- torch's nn.KLDivLoss(reduction="batchmean") on log_softmax(logits) and its gradient.

Run: python3 test/golden/gen_metric_loss.py   (pandas 3, numpy 2.4, torch 2.13 CPU)
"""
import json
import numpy as np
import pandas as pd
import pandas.api.types
import torch


def kl_divergence(solution, submission, epsilon, micro_average, sample_weights):
    for col in solution.columns:
        if not pandas.api.types.is_float_dtype(solution[col]):
            solution[col] = solution[col].astype(float)
        submission[col] = np.clip(submission[col], epsilon, 1 - epsilon)
        y_nonzero_indices = solution[col] != 0
        solution[col] = solution[col].astype(float)
        solution.loc[y_nonzero_indices, col] = solution.loc[y_nonzero_indices, col] * np.log(
            solution.loc[y_nonzero_indices, col] / submission.loc[y_nonzero_indices, col])
        solution.loc[~y_nonzero_indices, col] = 0
    if micro_average:
        return np.average(solution.sum(axis=1), weights=sample_weights)
    return np.average(solution.mean())


def score(solution, submission, row_id_column_name, epsilon=10**-15, micro_average=True, weights=None):
    solution = solution.copy()
    submission = submission.copy()
    del solution[row_id_column_name]
    del submission[row_id_column_name]
    return kl_divergence(solution, submission, epsilon, micro_average, weights)


out = {}
out["doc1"] = score(pd.DataFrame({'id': range(4), 'ham': [0, 1, 1, 0], 'spam': [1, 0, 0, 1]}),
                    pd.DataFrame({'id': range(4), 'ham': [.1, .9, .8, .35], 'spam': [.9, .1, .2, .65]}), 'id')
sol = pd.DataFrame({'id': range(3), 'ham': [0, 0.5, 0.5], 'spam': [0.1, 0.5, 0.5], 'other': [0.9, 0, 0]})
sub = pd.DataFrame({'id': range(3), 'ham': [0.2, 0.3, 0.5], 'spam': [0.1, 0.5, 0.5], 'other': [0.7, 0.2, 0]})
out["doc3"] = score(sol, sub, 'id')
out["doc3_macro"] = score(sol, sub, 'id', micro_average=False)

# random votes (many zeros) against softmax predictions, 6 classes, 301 rows (> one pairwise block)
rng = np.random.default_rng(3)
classes = ["seizure_vote", "lpd_vote", "gpd_vote", "lrda_vote", "grda_vote", "other_vote"]
votes = rng.integers(0, 4, size=(301, 6)) * (rng.random((301, 6)) < 0.5)
votes[votes.sum(axis=1) == 0, 0] = 1
y = votes / votes.sum(axis=1, keepdims=True)
logits = rng.standard_normal((301, 6)) * 2
p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
p[0, 2] = 0.0  # an exact zero prediction (clipped to 1e-15)
p[0] /= p[0].sum()
w = rng.random(301)
soldf = pd.DataFrame(y, columns=classes); soldf.insert(0, "label_id", range(301))
subdf = pd.DataFrame(p, columns=classes); subdf.insert(0, "label_id", range(301))
out["rand_votes"] = votes.ravel().tolist()
out["rand_logits"] = logits.ravel().tolist()
out["rand_micro"] = score(soldf, subdf, "label_id")
out["rand_macro"] = score(soldf, subdf, "label_id", micro_average=False)
out["rand_weighted"] = score(soldf, subdf, "label_id", weights=pd.Series(w))
out["rand_weights"] = w.tolist()
cells = pd.DataFrame(y, columns=classes).copy()
s2 = pd.DataFrame(p, columns=classes).copy()
for c in classes:
    s2[c] = np.clip(s2[c], 1e-15, 1 - 1e-15)
    nz = cells[c] != 0
    cells.loc[nz, c] = cells.loc[nz, c] * np.log(cells.loc[nz, c] / s2.loc[nz, c])
out["rand_per_class"] = cells.mean().tolist()

# torch KLDivLoss(batchmean) on log_softmax, float32, and its gradient w.r.t. the logits
lg = torch.tensor(logits[:7].astype(np.float32), requires_grad=True)
tg = torch.tensor(y[:7].astype(np.float32))
loss = torch.nn.KLDivLoss(reduction="batchmean")(torch.nn.functional.log_softmax(lg, dim=1), tg)
loss.backward()
out["loss_logits"] = lg.detach().numpy().ravel().tolist()
out["loss_targets"] = tg.numpy().ravel().tolist()
out["loss"] = loss.item()
out["loss_grad"] = lg.grad.numpy().ravel().tolist()
# the validation loss over all 301 rows at once
allp = torch.nn.functional.log_softmax(torch.tensor(logits.astype(np.float32)), dim=1)
out["val_loss"] = torch.nn.KLDivLoss(reduction="batchmean")(allp, torch.tensor(y.astype(np.float32))).item()
print(json.dumps(out))
