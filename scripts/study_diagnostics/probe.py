# ruff: noqa
# Issue 20 experiment script, kept as run so that docs/studies.md figures can be rerun (python scripts/study_diagnostics/<name>.py).
import sys

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
import numpy as np
import tensorflow as tf

from nurd_setup import nurd_config, train_subset
from training.data.splits import read_splits
from training.nurd import NuRD, _bce, build_critic, importance_weights

s = read_splits("runs/default/data/jet_images_splits.h5")
X, y, m, rng = train_subset(s, 20000)
lam = float(sys.argv[1])
sc = NuRD(nurd_config(epochs=6, critic_lambda=lam), 20, 1).fit(X, y=y, nuisance=m)
r = sc.representation(X).astype(np.float32)
w, _ = importance_weights(y, m)
z = ((m - m.mean()) / m.std()).astype(np.float32)
for name, rr in (("raw", r), ("std", (r - r.mean(0)) / r.std(0))):
    critic = build_critic(22, (256, 128, 68), 5)
    opt = tf.keras.optimizers.Adam(1e-3)
    yy = y.astype(np.float32)[:, None]
    zz = z[:, None]
    ww = w[:, None]

    @tf.function
    def stepc(a, b, c, d, e):
        with tf.GradientTape() as t:
            l = tf.reduce_sum(
                e
                * (
                    _bce(tf.zeros_like(b), critic(tf.concat([a, b, c], 1)))
                    + _bce(tf.ones_like(b), critic(tf.concat([a, b, d], 1)))
                )
            ) / (2 * tf.reduce_sum(e))
        opt.apply_gradients(zip(t.gradient(l, critic.trainable_variables), critic.trainable_variables))
        return l

    n = len(rr) // 2
    for it in range(3000):
        i = rng.choice(n, 256, replace=False)
        l = stepc(rr[i], yy[i], zz[i], zz[rng.permutation(i)], ww[i])
    j = np.arange(n, len(rr))
    jp = rng.permutation(j)
    lt = float(
        tf.reduce_mean(
            _bce(tf.zeros((len(j), 1)), critic(np.c_[rr[j], yy[j], zz[j]]))
            + _bce(tf.ones((len(j), 1)), critic(np.c_[rr[j], yy[j], zz[jp]]))
        )
        / 2
    )
    print(
        name, "held-out critic loss after 3000 steps", round(lt, 4), "train", round(float(l), 4), flush=True
    )
