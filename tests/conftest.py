"""Fixtures shared by several test modules (the tiny pipeline run, torch thread caps, small L1 splits),
and the order in which pytest-xdist hands the test files out."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.pipeline_helpers import build_tiny_run

# The slowest test files, slowest first (BENCHMARKS.md, "Test suite"). scripts/test.sh hands whole files to
# the two workers in collection order (--dist loadfile --no-loadscope-reorder): started first, the long
# files run beside each other and the short ones fill the gaps, instead of one long file running alone
# at the end. The files that read the shared tiny run come after test_pipeline.py, which builds it.
SLOWEST_FIRST = (
    "test_interrupt.py",
    "test_byo_shapes.py",
    "test_pipeline.py",
    "test_ci_templates.py",
    "test_hgq.py",
    "test_sharded_csim.py",
    "test_scan_resume.py",
    "test_gate_starved.py",
    "test_byo.py",
    "test_efficiency_gate.py",
    "test_parallel_studies.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the files of ``SLOWEST_FIRST`` first, in that order; the others keep pytest's order."""
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    """(config, run directory, gate failures) of one uninterrupted run of TINY (tests/pipeline_helpers.py).

    Built once per session: under pytest-xdist the first worker that needs it builds it in the session's
    common temporary folder while holding a lock, and the other worker waits for it and reads the same
    run. The tests only read it; those that rerun stages copy it first."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # every worker's basetemp sits in the session's folder
    with open(shared / "tiny_run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return build_tiny_run(shared / "tiny_run")


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
    from training.data import l1generator
    from training.data import l1objects as l1

    def make(n_background: int, n_signal: int, seed: int) -> Path:
        root = tmp_path_factory.mktemp("run")
        files = l1generator.generate_l1_dataset(
            root / "raw", n_background=n_background, n_signal=n_signal, seed=seed
        )
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
