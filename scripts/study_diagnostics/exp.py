# ruff: noqa
# Issue 20 experiment script, kept as run so that docs/studies.md figures can be rerun (python scripts/study_diagnostics/<name>.py).
"""Train NuRD variants on the jet-image splits and print diagnostics."""

import argparse
import dataclasses
import json
import sys
import time

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
import numpy as np

from nurd_setup import nurd_config, train_subset
from training import metrics
from training.data.splits import read_splits
from training.mahalanobis_head import mahalanobis
from training.nurd import NuRD

p = argparse.ArgumentParser()
p.add_argument("--splits", default="runs/default/data/jet_images_splits.h5")
p.add_argument("--lam", type=float, nargs="+", default=[0.0])
p.add_argument("--n", type=int, default=20000)
p.add_argument("--epochs", type=int, default=6)
p.add_argument("--steps", type=int, default=5)
p.add_argument("--warm", type=int, default=300)
p.add_argument("--extra", default="{}")
a = p.parse_args()
s = read_splits(a.splits)
X, y, m, _ = train_subset(s, min(a.n, len(s.train.X)))
T = s.test
base = nurd_config(
    epochs=a.epochs,
    critic_steps=a.steps,
    critic_warmup_steps=a.warm,
    **json.loads(a.extra),
)
from sklearn.linear_model import LinearRegression
from sklearn.neural_network import MLPRegressor

for lam in a.lam:
    t0 = time.time()
    sc = NuRD(dataclasses.replace(base, critic_lambda=lam), X.shape[1], 1).fit(
        X, s.val.X, y=y, nuisance=m, y_val=s.val.y
    )
    score = sc.score(T.X)
    r = sc.representation(T.X)
    q = T.y == 0
    sel = T.y != 1
    yb = (T.y < 2) | (T.y == 2)
    auc = metrics.auc((T.y == 2).astype(int), score)
    # parts of the score
    d = [mahalanobis(r, [st["mean"]], [st["cov"]]) for st in sc.head_stats]
    rq = r[q]
    mq = T.nuisance[q]
    half = len(rq) // 2
    lin = LinearRegression().fit(rq[:half], mq[:half]).score(rq[half:], mq[half:])
    mlp = MLPRegressor(hidden_layer_sizes=(64, 64), max_iter=300, random_state=0).fit(
        (rq[:half] - rq.mean(0)) / (rq.std(0) + 1e-9), (mq[:half] - mq.mean()) / mq.std()
    )
    r2 = mlp.score((rq[half:] - rq.mean(0)) / (rq.std(0) + 1e-9), (mq[half:] - mq.mean()) / mq.std())
    logit = (r @ sc.classifier_weights[0] + sc.classifier_weights[1]).ravel()
    bk = T.y < 2
    print(
        json.dumps(
            {
                "lam": lam,
                "auc_top": round(auc, 3),
                "auc_top_dqcd": round(metrics.auc((T.y == 2).astype(int), d[0]), 3),
                "auc_top_dwz": round(metrics.auc((T.y == 2).astype(int), d[1]), 3),
                "pearson_qcd": round(metrics.pearson(score[q], mq), 3),
                "pearson_dqcd": round(metrics.pearson(d[0][q], mq), 3),
                "pearson_dwz": round(metrics.pearson(d[1][q], mq), 3),
                "r2_lin_m_from_r_qcd": round(lin, 3),
                "r2_mlp": round(r2, 3),
                "auc_wz_vs_qcd_logit": round(metrics.auc(T.y[bk], logit[bk]), 3),
                "val_acc": sc.history.get("val_accuracy", [None])[-1],
                "log_odds": sc.history.get("critic_log_odds", [None])[-1],
                "sec": round(time.time() - t0),
            }
        ),
        flush=True,
    )
