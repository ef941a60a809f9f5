# ruff: noqa
# Issue 20 experiment script, kept as run so that docs/studies.md figures can be rerun (python scripts/study_diagnostics/<name>.py).
import sys

import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
from training.data.splits import read_splits

s = read_splits(sys.argv[1] if len(sys.argv) > 1 else "runs/default/data/jet_images_splits.h5")
X, y, m = s.test.X[..., 0], s.test.y, s.test.nuisance
size = X.shape[1]
hw = 0.8
pix = 2 * hw / size
c = (np.arange(size) + 0.5) * pix - hw
U, V = np.meshgrid(c, c, indexing="ij")
# image-computed mass proxy: m^2/pT^2 ~ sum_ij I_i I_j dR_ij^2 = 2 (sum I r^2 - |sum I r|^2) for unit-normalised I
mu_u = (X * U).sum((1, 2))
mu_v = (X * V).sum((1, 2))
r2 = (X * (U**2 + V**2)).sum((1, 2)) - mu_u**2 - mu_v**2
proxy = np.sqrt(np.maximum(r2, 0))
npix = (X > 0.01).sum((1, 2))
maxpix = X.max((1, 2))
for k, name in enumerate(["qcd", "wz", "top"]):
    sel = y == k
    print(
        name,
        "mass quantiles 10/50/90:",
        np.percentile(m[sel], [10, 50, 90]).round(1),
        "corr(m, width proxy)=%.3f" % np.corrcoef(m[sel], proxy[sel])[0, 1],
        "corr(m, npix>1%%)=%.3f" % np.corrcoef(m[sel], npix[sel])[0, 1],
        "corr(m, maxpix)=%.3f" % np.corrcoef(m[sel], maxpix[sel])[0, 1],
    )
# within a mass window, do qcd and wz differ?
from sklearn.metrics import roc_auc_score

for lo, hi in [(70, 80), (80, 90), (90, 100)]:
    sel = (y < 2) & (m > lo) & (m < hi)
    print(
        f"window {lo}-{hi}: n qcd {((y == 0) & sel).sum()} wz {((y == 1) & sel).sum()}",
        "AUC(wz vs qcd) width %.3f npix %.3f maxpix %.3f"
        % tuple(roc_auc_score(y[sel], f[sel]) for f in (proxy, npix, maxpix)),
    )
