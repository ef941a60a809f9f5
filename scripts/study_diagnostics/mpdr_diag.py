# ruff: noqa
# Issue 20 experiment script, kept as run so that docs/studies.md figures can be rerun (python scripts/study_diagnostics/<name>.py).
import dataclasses
import json
import sys
import time

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
import numpy as np
import torch
from scipy.stats import spearmanr

from l1ad.config import MPDRConfig
from training import metrics
from training.data.l1objects import N_SLOTS
from training.data.splits import read_splits
from training.mpdr import MPDR

torch.set_num_threads(1)
s = read_splits("runs/default/data/l1_splits.h5")
rng = np.random.default_rng(1)
X = s.train.X[rng.choice(len(s.train.X), 30000, replace=False)].astype(np.float32)
T = s.test
ti = rng.choice(len(T.X), 40000, replace=False)
Xt, yt = T.X[ti].astype(np.float32), T.y[ti]
extra = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
cfg = dataclasses.replace(
    MPDRConfig(), **{k: tuple(v) if isinstance(v, list) else v for k, v in extra.items()}
)
t = time.time()
m = MPDR(cfg, "scalar", seed=1, device="cpu").fit(X)
e = m.score(Xt)


def sumpt(A):
    return A.reshape(-1, N_SLOTS, 3)[..., 0].sum(1)


def nobj(A):
    return (A.reshape(-1, N_SLOTS, 3)[..., 0] != 0).sum(1)


bk = yt == 0
out = {"cfg": extra, "sec": round(time.time() - t)}
for k, name in enumerate(s.classes):
    if k == 0:
        continue
    sel = bk | (yt == k)
    out[f"auc_{name}"] = round(metrics.auc((yt[sel] == k).astype(int), e[sel]), 3)
out["spearman_E_sumpt_bkg"] = round(spearmanr(e[bk], sumpt(Xt[bk])).correlation, 3)
out["spearman_E_nobj_bkg"] = round(spearmanr(e[bk], nobj(Xt[bk])).correlation, 3)
gen = torch.Generator().manual_seed(5)
xb = torch.as_tensor(Xt[bk][:2000])
neg = m.sample_negatives(xb, gen)
with torch.no_grad():
    dec_disp = float((neg.x_init - xb).norm(dim=1).mean())
    chain_disp = float((neg.x - neg.x_init).norm(dim=1).mean())
    en = m.energy(neg.x).numpy()
    ed = m.energy(xb).numpy()
    ei = m.energy(neg.x_init).numpy()
out.update(
    {
        "E_data": round(float(ed.mean()), 4),
        "E_neg": round(float(en.mean()), 4),
        "E_decoded_init": round(float(ei.mean()), 4),
        "sumpt_data": round(float(sumpt(xb.numpy()).mean()), 3),
        "sumpt_neg": round(float(sumpt(neg.x.numpy()).mean()), 3),
        "|x_init - x|": round(dec_disp, 3),
        "|x_neg - x_init|": round(chain_disp, 3),
        "auc_data_vs_neg_by_E": round(
            metrics.auc(np.r_[np.zeros(len(ed)), np.ones(len(en))], np.r_[ed, en]), 3
        ),
        "auc_data_vs_neg_by_sumpt(neg higher)": round(
            metrics.auc(
                np.r_[np.zeros(len(ed)), np.ones(len(en))], -np.r_[sumpt(xb.numpy()), sumpt(neg.x.numpy())]
            ),
            3,
        ),
    }
)
print(json.dumps(out), flush=True)
