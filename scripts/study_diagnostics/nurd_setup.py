# ruff: noqa
# Issue 20 experiment scripts' shared set-up (decomp.py, exp.py, probe.py), imported after their
# sys.path line puts the repository root first.
"""The NuRD diagnostics' training subset and base network, in one place for the three scripts."""

import numpy as np

from l1ad.config import NuRDConfig
from training.data.splits import Splits


def train_subset(s: Splits, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.random.Generator]:
    """``n`` training events drawn (in file order) under seed 0: (X, y, nuisance, the generator, to draw on)."""
    rng = np.random.default_rng(0)
    keep = np.sort(rng.choice(len(s.train.X), n, replace=False))
    return s.train.X[keep], s.train.y[keep].astype(int), s.train.nuisance[keep], rng


def nurd_config(**settings) -> NuRDConfig:
    """The diagnostics' NuRD network (two convolutions, 64-wide dense, 20-dim representation) with ``settings``."""
    return NuRDConfig(
        filters=(16, 32), kernel_size=3, strides=1, pool=True, dense=(64,), representation_dim=20, **settings
    )
