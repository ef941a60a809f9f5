# ruff: noqa
# Issue 20 experiment script, kept as run so that docs/studies.md figures can be rerun (python scripts/study_diagnostics/<name>.py).
"""Is top separable from QCD (and from W/Z) at equal mass? A supervised CNN with Step I weights (upper bound
on what a mass-independent representation can give)."""

import sys

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
import numpy as np
import tensorflow as tf
from sklearn.metrics import roc_auc_score

from training.data.splits import read_splits
from training.nurd import importance_weights

s = read_splits(sys.argv[1])
T = s.test
rng = np.random.default_rng(0)
for bkg in (0, 1):
    idx = np.flatnonzero((T.y == bkg) | (T.y == 2))
    idx = rng.permutation(idx)
    X, y, m = T.X[idx], (T.y[idx] == 2).astype(int), T.nuisance[idx]
    w, _ = importance_weights(y, m)
    n = len(idx) // 2
    tf.keras.utils.set_random_seed(1)
    model = tf.keras.Sequential(
        [
            tf.keras.Input((20, 20, 1)),
            tf.keras.layers.Conv2D(16, 3, activation="relu"),
            tf.keras.layers.MaxPool2D(),
            tf.keras.layers.Conv2D(32, 3, activation="relu"),
            tf.keras.layers.MaxPool2D(),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(64, activation="relu"),
            tf.keras.layers.Dense(1),
        ]
    )
    model.compile("adam", tf.keras.losses.BinaryCrossentropy(from_logits=True))
    model.fit(X[:n], y[:n], sample_weight=w[:n], epochs=8, batch_size=256, verbose=0)
    p = model.predict(X[n:], verbose=0).ravel()
    print(
        f"top vs {['qcd', 'wz'][bkg]}: supervised CNN with mass-equalising weights: AUC weighted {roc_auc_score(y[n:], p, sample_weight=w[n:]):.3f}, unweighted {roc_auc_score(y[n:], p):.3f}; "
        f"Pearson(score, m) on bkg {np.corrcoef(p[y[n:] == 0], m[n:][y[n:] == 0])[0, 1]:.3f}",
        flush=True,
    )
