"""Reproducibility on the CPU: the same config and seed give the same artifacts.

* the data stage (numpy generators, HDF5 writers): byte-identical files in two run directories;
* numpy / scikit-learn scores (OC-SVM): identical arrays;
* TensorFlow scorers (the train stage: OCDN, L1 AE, NuRD) and a PyTorch scorer (Deep SVDD): AUCs
  equal to 1e-3 (the contract; on one CPU they come out identical).
A different seed must change each of them, so the comparisons can fail. The first run directory is the
session's tiny run (conftest.py), made in another process; test_interrupt compares two whole runs. What a GPU does and does not reproduce: README "Reproducibility".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from l1ad.artifacts import RunPaths
from l1ad.config import DEPLOYED, load_config
from l1ad.pipeline import run_stage
from training.data.splits import read_splits
from training.deep_svdd import DeepSVDD
from training.ocsvm import OneClassSVMScorer
from training.stage import auc_per_signal, read_scores


def files_of(folder: Path) -> dict[Path, bytes]:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def two_runs(tiny_run, tmp_path_factory):
    """The data and train stages of the TINY config in two run directories: the session's tiny run and
    one more run here."""
    config, tiny_dir, _ = tiny_run
    run_dir = tmp_path_factory.mktemp("repro") / "b"
    run_stage(load_config(config), run_dir, "train")
    return [tiny_dir, run_dir]


@pytest.fixture(scope="module")
def dijet(two_runs):
    splits = read_splits(RunPaths(two_runs[0]).data.splits("dijet"))
    return splits.train.X[:3000], splits.test.X, splits.test.y


def test_data_stage_is_byte_identical(two_runs) -> None:
    a, b = (files_of(RunPaths(run).data.root) for run in two_runs)
    assert set(a) == set(b) and len(a) >= 9  # splits, preprocessing and the generated raw files
    different = [str(name) for name in a if a[name] != b[name]]
    assert different == []
    # nothing in them names the run directory (or the stage's temporary folder)
    for run in two_runs:
        for name, content in files_of(RunPaths(run).data.root).items():
            if name.suffix == ".json":
                assert str(run) not in content.decode(), name


def test_tensorflow_scorers_reproduce_auc(two_runs) -> None:
    for name, family in ((m.name, m.family) for m in DEPLOYED.values()):
        a, b = (read_scores(RunPaths(run).train.scores(name)) for run in two_runs)
        splits = read_splits(RunPaths(two_runs[0]).data.splits(family))
        auc_a, auc_b = (
            auc_per_signal(s[0][0], splits.test.y, splits.classes, splits.n_background_classes)
            for s in (a, b)
        )
        assert set(auc_a) == set(auc_b) and auc_a
        for signal, value in auc_a.items():
            assert abs(value - auc_b[signal]) <= 1e-3, (name, signal, value, auc_b[signal])


def test_tensorflow_seed_matters(two_runs) -> None:
    """A different seed trains another OCDN: the comparison above can fail."""
    from l1ad.config import OCDNConfig
    from training.ocdn import OCDN

    splits = read_splits(RunPaths(two_runs[0]).data.splits("dijet"))
    X, Xt = splits.train.X[:4000], splits.test.X[:500]
    scores = [
        OCDN(OCDNConfig(hidden=(16,), epochs=1), n_inputs=5, seed=s).fit(X).score(Xt) for s in (1, 1, 2)
    ]
    np.testing.assert_array_equal(scores[0], scores[1])
    assert not np.allclose(scores[0], scores[2])


def test_ocsvm_scores_are_identical(dijet) -> None:
    X, Xt, _ = dijet
    fit = [OneClassSVMScorer(nu=0.1, n_train=1000, seed=s).fit(X).score(Xt) for s in (1, 1, 2)]
    np.testing.assert_array_equal(fit[0], fit[1])
    assert not np.array_equal(fit[0], fit[2])  # another subsample


def test_torch_scorer_reproduces_auc(dijet, torch_one_thread) -> None:
    X, Xt, yt = dijet

    def auc(seed: int) -> tuple[float, np.ndarray]:
        model = DeepSVDD(
            n_inputs=5, hidden=(16,), rep_dim=8, epochs=2, batch_size=256, seed=seed, device="cpu"
        )
        scores = model.fit(X).score(Xt)
        return auc_per_signal(scores, yt, ["background", "signal"], 1)["signal"], scores

    (auc_a, scores_a), (auc_b, _), (_, scores_c) = auc(1), auc(1), auc(2)
    assert abs(auc_a - auc_b) <= 1e-3
    assert not np.allclose(scores_a, scores_c)
