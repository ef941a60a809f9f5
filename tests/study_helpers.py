"""Helpers the study tests share: the small L1 splits fixture and tiny sampler settings of the NAE and
MPDR tests, and the checks of a study.md's plot links."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from l1ad.artifacts import RunPaths
from training.data.splits import Splits, read_splits

# The short batches and Langevin chains of the NAE and MPDR tests.
TINY_CHAINS: dict[str, Any] = {"batch_size": 64, "latent_steps": 3, "visible_steps": 3}


def l1_splits_fixture(seed: int) -> Callable[..., Splits]:
    """A module fixture ``splits``: the splits of a small generated L1 run (``small_l1_run`` of conftest:
    1200 background events, 100 per signal) drawn with ``seed``."""

    @pytest.fixture(scope="module")
    def splits(small_l1_run: Callable[[int, int, int], Path]) -> Splits:
        return read_splits(RunPaths(small_l1_run(1200, 100, seed)).data.splits("l1"))

    return splits


def assert_plot_links(out: Path, study: str, n_plots: int) -> str:
    """The study.md in ``out`` starts with a heading and links ``n_plots`` figures under
    ``../studies/<study>/plots/``, each a PNG of real content in ``out/plots``; no temporary file is left.
    Returns the Markdown for further checks."""
    md = (out / "study.md").read_text()
    assert md.startswith("## ")
    links = [line.split("(")[-1].rstrip(")") for line in md.splitlines() if line.startswith("![")]
    assert len(links) == n_plots
    for link in links:
        assert link.startswith(f"../studies/{study}/plots/")
        png = out / "plots" / Path(link).name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert not list(out.rglob("*.partial"))
    return md
