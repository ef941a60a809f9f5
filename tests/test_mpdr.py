"""Tests of MPDR on L1 objects: physical negatives, the two-stage sampler, training, save/load, resume, study."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from l1ad.config import Config, MPDRConfig
from l1ad.errors import InputError
from l1ad.io import read_json, write_json
from tests.study_helpers import TINY_CHAINS, l1_splits_fixture
from training.data import l1objects as l1
from training.data.splits import write_splits
from training.mpdr import MPDR, ObjectSupport, projection_config
from training.nae import NormalizedAutoencoder
from training.scorer import load_scorer

TINY = MPDRConfig(
    ae_hidden=(16,),
    ae_latent=3,
    ae_epochs=2,
    energy_hidden=(16,),
    epochs=1,
    learning_rate=1e-3,
    **TINY_CHAINS,
)

pytestmark = pytest.mark.usefixtures("torch_one_thread")
splits = l1_splits_fixture(17)


@pytest.fixture(scope="module")
def projection(splits) -> NormalizedAutoencoder:
    return NormalizedAutoencoder(projection_config(TINY), 57, seed=1, device="cpu").fit(splits.train.X[:512])


def _untrained(energy: str, projection, X: np.ndarray) -> MPDR:
    """An MPDR whose support is calibrated but whose energy has not trained (0 epochs)."""
    return MPDR(dataclasses.replace(TINY, epochs=0), energy, seed=4, device="cpu", projection=projection).fit(
        X
    )


def test_negatives_are_physical_inputs(splits, projection) -> None:
    X = splits.train.X[:512]
    model = _untrained("scalar", projection, X)
    neg = model.sample_negatives(torch.as_tensor(X[:300]), torch.Generator().manual_seed(0))
    assert neg.z_tilde.shape == (300, 3) and neg.x_init.shape == neg.x.shape == (300, 57)
    assert neg.filled.shape == (300, 19) and neg.filled.dtype == torch.bool
    torch.testing.assert_close(neg.z_tilde.norm(dim=1), torch.ones(300))

    data_slots = X.reshape(-1, 19, 3)
    data_filled = data_slots[..., 0] != 0
    for x in (neg.x_init, neg.x):
        slots = x.reshape(-1, 19, 3).numpy()
        filled = neg.filled.numpy()
        # Empty slots are exactly zero, and the toolchain's rule (pT != 0 means an object) reads the
        # negatives' occupancy as the sampler fixed it.
        assert np.all(slots[~filled] == 0.0)
        np.testing.assert_array_equal(slots[..., 0] != 0, filled)
        # Filled slots come first within each class; slots the background never fills stay empty.
        for start, stop in l1.SLOT_RANGES.values():
            block = filled[:, start:stop].astype(int)
            assert np.all(np.diff(block, axis=1) <= 0)
        assert not filled[:, ~data_filled.any(axis=0)].any()
        assert filled[:, l1.MET_SLOT].all() and np.all(slots[:, l1.MET_SLOT, 1] == 0.0)
        # pT and eta inside the range background objects of that slot span; phi wrapped.
        for k in np.nonzero(data_filled.any(axis=0))[0]:
            present = data_slots[data_filled[:, k], k]
            got = slots[filled[:, k], k]
            assert np.all(got[:, :2] >= present[:, :2].min(axis=0) - 1e-6)
            assert np.all(got[:, :2] <= present[:, :2].max(axis=0) + 1e-6)
        assert np.all(np.abs(slots[..., 2]) <= math.pi + 1e-6)


def test_occupancy_calibration_reproduces_background_rates(splits, tmp_path: Path) -> None:
    X = splits.train.X[:800]
    rng = np.random.default_rng(3)
    decoded = X + rng.normal(0.0, 0.5, X.shape).astype(np.float32)  # a blurred stand-in for decodes
    support = ObjectSupport.fit(X, decoded)
    occupancy = support.occupancy(torch.as_tensor(decoded)).numpy()
    rate = (X.reshape(-1, 19, 3)[..., 0] != 0).mean(axis=0)
    np.testing.assert_allclose(occupancy.mean(axis=0), rate, atol=1.5 / len(X))
    # Round trip through JSON, never-filled slots (infinite thresholds) included.
    write_json(tmp_path / "support.json", support.to_dict())
    back = ObjectSupport.from_dict(read_json(tmp_path / "support.json"))
    torch.testing.assert_close(back.thresholds, support.thresholds)
    assert torch.isinf(support.thresholds).any()


def test_negatives_differ_from_their_seeds_and_are_reproducible(splits, projection) -> None:
    X = splits.train.X[:512]
    model = _untrained("reconstruction", projection, X)
    xb = torch.as_tensor(X[:200])
    neg = model.sample_negatives(xb, torch.Generator().manual_seed(1))
    assert torch.all((neg.x - xb).abs().amax(dim=1) > 1e-2)
    moved = (neg.x - neg.x_init).abs().amax(dim=1)
    assert torch.all(moved > 0)  # the input-space chain moves every negative
    # The occupancy comes from the decoded diffused projection, not from the seed: multiplicities vary.
    assert (neg.filled != (xb.reshape(-1, 19, 3)[..., 0] != 0)).any(dim=1).float().mean() > 0.1
    again = model.sample_negatives(xb, torch.Generator().manual_seed(1))
    other = model.sample_negatives(xb, torch.Generator().manual_seed(2))
    assert torch.equal(again.x, neg.x) and not torch.equal(other.x, neg.x)


@pytest.mark.parametrize("energy", ["scalar", "reconstruction"])
def test_training_lowers_data_energy_relative_to_negatives(splits, projection, energy: str) -> None:
    X, X_val = splits.train.X[:512], torch.as_tensor(splits.val.X[:200])

    def gap(model: MPDR) -> float:
        neg = model.sample_negatives(X_val, torch.Generator().manual_seed(5))
        with torch.no_grad():
            return float(model.energy(neg.x).mean() - model.energy(X_val).mean())

    before = _untrained(energy, projection, X)
    after = MPDR(dataclasses.replace(TINY, epochs=3), energy, seed=4, device="cpu", projection=projection)
    after.fit(X, splits.val.X[:200])
    assert len(after.history) == 3 and all(np.isfinite(h["val_energy"]) for h in after.history)
    assert gap(after) > gap(before) + 0.05, (gap(before), gap(after))


def test_spearman_of_the_diagnosis() -> None:
    from training.studies.mpdr import _spearman

    x = np.arange(50.0)
    assert _spearman(x, x**3) == pytest.approx(1.0) and _spearman(x, -x) == pytest.approx(-1.0)
    assert np.isnan(_spearman(x, np.ones(50)))


def test_save_load_round_trip(splits, projection, tmp_path: Path) -> None:
    X = splits.train.X[:256]
    for energy in ("scalar", "reconstruction"):
        model = MPDR(TINY, energy, seed=2, device="cpu", projection=projection).fit(X)
        model.save(tmp_path / energy)
        loaded = load_scorer(tmp_path / energy)
        assert isinstance(loaded, MPDR) and loaded.energy_kind == energy
        assert loaded.energy_reg == model.energy_reg and loaded.history == model.history
        np.testing.assert_array_equal(loaded.score(splits.test.X), model.score(splits.test.X))
        xb = torch.as_tensor(X[:50])
        a = model.sample_negatives(xb, torch.Generator().manual_seed(9))
        b = loaded.sample_negatives(xb, torch.Generator().manual_seed(9))
        torch.testing.assert_close(a.x, b.x)
    with pytest.raises(InputError, match="not 'mpdr'"):
        MPDR.load(tmp_path / "scalar" / "projection")
    with pytest.raises(ValueError, match="unknown MPDR energy"):
        MPDR(TINY, "flow")


def test_resume_reaches_the_uninterrupted_state(splits, projection, tmp_path: Path) -> None:
    X = splits.train.X[:256]
    two = dataclasses.replace(TINY, epochs=2)
    MPDR(TINY, "scalar", 6, "cpu", tmp_path, projection).fit(X)
    resumed = MPDR(two, "scalar", 6, "cpu", tmp_path, projection).fit(X)
    straight = MPDR(two, "scalar", 6, "cpu", projection=projection).fit(X)
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    np.testing.assert_array_equal(resumed.score(X), straight.score(X))


def _fake_study(run_dir: Path, name: str, method: str, label: str, splits, n_background: int) -> None:
    """A study of the run with one method scored by the sum of squared inputs (as its own study would write)."""
    from training.stage import write_scores
    from training.studies.common import aggregate_runs, per_signal, signal_figures

    config = Config()
    scores = (splits.test.X.astype(np.float64) ** 2).sum(axis=1)
    records = [{"seed": 1, "signals": signal_figures(scores, per_signal(splits), config)}]
    study_dir = run_dir / "studies" / name
    write_scores(study_dir / "scores" / f"{method}.h5", scores[None], splits.test.y, splits.classes, 1)
    signals = per_signal(splits)
    (study_dir / "study.json").write_text(
        json.dumps(
            {
                "title": f"the {name} study",
                "data": {
                    "source": "synthetic",
                    "n_train_events": 300,
                    "n_test_background": n_background,
                    "n_test_signal": {s: int(lab.sum()) for s, (_, lab) in signals.items()},
                },
                "device": "cpu",
                "timing": {"nae_epoch_seconds": {"mean": 2.0, "std": 0.0, "best": 2.0, "n": 1}},
                "methods": {method: {"label": label, "n_runs": 1, "aggregate": aggregate_runs(records)}},
            }
        )
    )


def test_study_writes_tables_plots_and_reads_other_studies(splits, tmp_path: Path) -> None:
    from training.studies.mpdr import run_mpdr_study

    run_dir = tmp_path / "run"
    write_splits(run_dir / "data" / "l1_splits.h5", splits)
    n_background = int(splits.is_background(splits.test.y).sum())
    _fake_study(run_dir, "nae", "nae", "NAE", splits, n_background)
    _fake_study(run_dir, "anomalyclr", "clr", "CLR + AE", splits, n_background + 1)  # another test set
    config = Config()
    config.train.device = "cpu"
    config.studies.mpdr = dataclasses.replace(TINY, max_train_events=300)
    out = tmp_path / "out"
    summary = run_mpdr_study(config, out, run_dir)
    study = json.loads((out / "study.json").read_text())
    assert list(study["methods"]) == ["ae_projection", "ae_same_epochs", "scalar", "reconstruction"]
    assert study["methods"]["ae_same_epochs"]["label"] == "AE (same epochs, 3)"
    assert list(study["external"]) == ["nae/nae"] and "anomalyclr" in study["external_skipped"]
    assert study["data"]["n_train_events"] == 300
    assert all(study["methods"][k]["epoch_seconds"]["mean"] > 0 for k in study["methods"])
    drawn = study["methods"]["scalar"]["negatives_first_seed"]
    assert drawn["background"]["n_objects"] > 1 and drawn["negatives"]["n_objects"] >= 1  # MET always there
    # the MPDR-S diagnosis: sign check, how far negatives are from their events, what the energy follows
    assert 0.0 <= drawn["energy_auc_negatives_vs_background"] <= 1.0
    assert drawn["decode_distance"] > 0 and drawn["chain_distance"] >= 0
    assert -1.0 <= drawn["energy_sum_pt_spearman"] <= 1.0
    assert summary["auc_mean"]["nae/nae"] == {
        s: round(a["auc"]["mean"], 4) for s, a in study["external"]["nae/nae"]["aggregate"].items()
    }
    md = (out / "study.md").read_text()
    assert md.startswith("## MPDR") and "| MPDR-S | 1 |" in md and "NAE [nae study]" in md
    assert "Sign check: the energy ranks negatives above background events" in md
    assert "The anomalyclr study is not in the table: trained or tested on other data." in md
    assert len(study["plots"]) == 2 * len(splits.signal_names())
    for name in study["plots"]:
        assert (out / "plots" / name).stat().st_size > 0 and f"../studies/mpdr/plots/{name}" in md
    assert isinstance(load_scorer(out / "models" / "reconstruction"), MPDR)
