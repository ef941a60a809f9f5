"""Tests of the background rate samples (training/data/rate.py): model-ready like the test set, the same
events whether the chunks run here or on Dask, and a threshold set on them passes the expected fraction.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from l1ad.config import Config
from training.data import rate
from training.data.splits import read_splits


@pytest.fixture(scope="module")
def l1_run(small_l1_run) -> Path:
    return small_l1_run(6000, 500, seed=5)


def _config(n: int, chunk: int, workers: int = 1) -> Config:
    config = Config()
    config.data.rate_sample, config.data.chunk_events = n, chunk
    config.cluster.workers = workers
    return config


def test_rate_events_are_preprocessed_as_the_test_background(l1_run: Path) -> None:
    """Same generator, same fitted preprocessing: per-input means and the empty-slot pattern agree with
    the test set's background within sampling noise (independent events, another seed)."""
    test = read_splits(l1_run / "data" / "l1_splits.h5").test
    background = test.X[test.y == 0]
    events = rate.rate_chunk(
        _config(20_000, 20_000), "l1", l1_run / "data", np.random.SeedSequence(9), 20_000
    )
    assert events.shape == (20_000, background.shape[1]) and events.dtype == np.float32
    # empty slots stay exactly 0 in both; the filled fraction per input agrees to a few percent
    np.testing.assert_allclose((events != 0).mean(0), (background != 0).mean(0), atol=0.04)
    np.testing.assert_allclose(events.mean(0), background.mean(0), atol=0.1)


def test_dask_chunks_equal_the_chunks_computed_here(l1_run: Path, tmp_path: Path) -> None:
    """Each chunk has a seed of its own: the file written on a 1-worker LocalCluster holds exactly the events
    each chunk gives when computed directly, in order."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "l1_preprocessing.json").write_bytes((l1_run / "data" / "l1_preprocessing.json").read_bytes())
    config = _config(2_500, 1_000)
    info = rate.write_rate_samples(config, ["l1"], data_dir, log=lambda line: None)
    assert info["l1"]["events"] == 2_500 and info["l1"]["file"] == "data/l1_rate.h5"
    seeds = np.random.SeedSequence(config.run.seed + 101).spawn(3)
    expected = np.concatenate(
        [
            rate.rate_chunk(config, "l1", data_dir, seed, n)
            for seed, n in zip(seeds, (1000, 1000, 500), strict=True)
        ]
    )
    with h5py.File(data_dir / "l1_rate.h5", "r") as f:
        np.testing.assert_array_equal(f["X"][:], expected)


def test_jet_image_rate_events_are_unit_normalised_background() -> None:
    config = _config(300, 300)
    config.data.jet_images.image_size = 8
    events = rate.rate_chunk(config, "jet_images", Path("."), np.random.SeedSequence(1), 300)
    assert events.shape == (300, 8, 8, 1)
    np.testing.assert_allclose(events.sum(axis=(1, 2, 3), dtype=np.float64), 1.0, rtol=1e-5)
