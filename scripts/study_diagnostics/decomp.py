# ruff: noqa
# Issue 20 experiment script, kept as run so that docs/studies.md figures can be rerun (python scripts/study_diagnostics/<name>.py).
import sys

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
import numpy as np

from nurd_setup import nurd_config, train_subset
from training import metrics
from training.data.splits import read_splits
from training.mahalanobis_head import head_constants
from training.nurd import NuRD

s = read_splits(sys.argv[1])
X, y, m, _ = train_subset(s, 20000)
T = s.test
for lam in [float(v) for v in sys.argv[2:]]:
    sc = NuRD(nurd_config(epochs=6, critic_lambda=lam), 20, 1).fit(X, y=y, nuisance=m)
    r = sc.representation(T.X).astype(np.float64)
    L, b = head_constants(sc.head_stats[0]["mean"], sc.head_stats[0]["cov"])
    p = r @ L + b
    w = sc.classifier_weights[0].ravel().astype(np.float64)
    u = np.linalg.solve(L, w)
    u /= np.linalg.norm(u)
    par = (p @ u) ** 2
    perp = (p**2).sum(1) - par
    q = T.y == 0
    top = (T.y == 2).astype(int)
    print(
        lam,
        {
            k: (round(metrics.pearson(v[q], T.nuisance[q]), 3), round(metrics.auc(top, v), 3))
            for k, v in (("d_qcd", (p**2).sum(1)), ("classifier_dir", par), ("other_19", perp))
        },
        flush=True,
    )
