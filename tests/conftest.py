"""Fixtures shared by the test modules of the torch scorers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def torch_one_thread() -> Iterator[None]:
    """Tiny tensors gain nothing from threads; on a shared CPU extra threads only wait on each other."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def small_l1_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int, int, int], Path]:
    """Make a run directory whose data stage holds small real-layout L1 splits and their preprocessing."""
    from l1ad.config import L1Data
    from training.data import l1objects as l1

    def make(n_background: int, n_signal: int, seed: int) -> Path:
        root = tmp_path_factory.mktemp("run")
        files = l1.generate_l1_dataset(root / "raw", n_background=n_background, n_signal=n_signal, seed=seed)
        l1.prepare_l1(
            L1Data(n_background=n_background, n_signal=n_signal),
            files,
            root / "data" / "l1_splits.h5",
            root / "data" / "l1_preprocessing.json",
            seed=1,
            chunk_events=1000,
        )
        return root

    return make
