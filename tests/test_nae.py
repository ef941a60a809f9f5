"""Tests of the PyTorch autoencoders: Langevin sampling, the NAE and plain AE, save/load and resume."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from l1ad.config import NAEConfig
from l1ad.errors import InputError
from tests.study_helpers import TINY_CHAINS, l1_splits_fixture
from training.nae import AEParams, NormalizedAutoencoder, TorchAutoencoder, langevin
from training.scorer import load_scorer
from training.torch_scorer import EpochCheckpoint

TINY = NAEConfig(hidden=(16, 8), latent=3, pretrain_epochs=1, epochs=1, learning_rate=1e-4, **TINY_CHAINS)

pytestmark = pytest.mark.usefixtures("torch_one_thread")
splits = l1_splits_fixture(13)


def test_langevin_samples_the_boltzmann_distribution() -> None:
    # E = x^2 / 2 at temperature T: the chain x <- (1 - s / T) x + sigma * eps has the stationary variance
    # sigma^2 / (1 - (1 - s / T)^2), which approaches T when sigma^2 = 2 s (the continuum limit).
    step, noise, temperature = 0.05, 0.2, 2.0
    gen = torch.Generator().manual_seed(0)
    x0 = torch.full((20_000, 1), 5.0, dtype=torch.float64)
    layer = torch.nn.Linear(1, 1).double()
    x = langevin(x0, lambda x: 0.5 * (x**2).sum(1) + 0 * layer(x).sum(1), 400, step, noise, temperature, gen)
    decay = 1 - step / temperature
    expected = noise**2 / (1 - decay**2)
    assert float(x.mean()) == pytest.approx(0.0, abs=0.05)
    assert float(x.var()) == pytest.approx(expected, rel=0.03)
    assert layer.weight.grad is None and not x.requires_grad


def test_langevin_projection_keeps_samples_on_the_sphere() -> None:
    gen = torch.Generator().manual_seed(1)
    z0 = torch.nn.functional.normalize(torch.randn(100, 4, generator=gen), dim=1)
    project = lambda z: torch.nn.functional.normalize(z, dim=1)  # noqa: E731
    z = langevin(z0, lambda z: (z[:, 0] - 1) ** 2, 50, 0.1, 0.05, 1.0, gen, project)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(100))
    assert float(z[:, 0].mean()) > float(z0[:, 0].mean()) + 0.3  # drawn towards the low-energy pole


def test_nae_trains_and_scores(splits) -> None:
    X, X_val = splits.train.X[:512], splits.val.X[:128]
    nae = NormalizedAutoencoder(TINY, 57, seed=3, device="cpu").fit(X, X_val)
    assert len(nae.history["pretrain"]) == 1 and len(nae.history["nae"]) == 1
    last = nae.history["nae"][0]
    assert all(np.isfinite(last[k]) for k in ("energy", "negative_energy", "loss", "val_energy"))
    scores = nae.score(splits.test.X)
    assert scores.shape == (len(splits.test.X),) and np.isfinite(scores).all() and (scores >= 0).all()
    plain = nae.plain_autoencoder()
    plain_scores = plain.score(splits.test.X)
    assert np.isfinite(plain_scores).all() and not np.allclose(plain_scores, scores)
    # The energy is the sum of squared residuals of the reconstruction.
    x = torch.as_tensor(splits.test.X[:5])
    with torch.no_grad():
        direct = ((x - nae.net(x)) ** 2).sum(1).numpy()
    np.testing.assert_allclose(scores[:5], direct, rtol=1e-5)


def test_negatives_stay_in_the_data_box(splits) -> None:
    X = splits.train.X[:256]
    nae = NormalizedAutoencoder(dataclasses.replace(TINY, epochs=0), 57, seed=1, device="cpu").fit(X)
    x_neg = nae.sample_negatives(200, torch.Generator().manual_seed(2))
    assert x_neg.shape == (200, 57) and torch.isfinite(x_neg).all()
    assert (x_neg >= torch.as_tensor(X.min(0)) - 1e-6).all() and (
        x_neg <= torch.as_tensor(X.max(0)) + 1e-6
    ).all()


def test_save_load_round_trip(splits, tmp_path: Path) -> None:
    X = splits.train.X[:256]
    nae = NormalizedAutoencoder(TINY, 57, seed=2, device="cpu").fit(X)
    nae.save(tmp_path / "nae")
    loaded = load_scorer(tmp_path / "nae")
    assert isinstance(loaded, NormalizedAutoencoder)
    np.testing.assert_array_equal(loaded.score(splits.test.X), nae.score(splits.test.X))
    np.testing.assert_array_equal(loaded.lower, nae.lower)

    ae = TorchAutoencoder(
        AEParams(hidden=(16,), latent=2, epochs=1, standardize=True), 57, seed=2, device="cpu"
    )
    ae.fit(X)
    ae.save(tmp_path / "ae")
    loaded_ae = load_scorer(tmp_path / "ae")
    assert isinstance(loaded_ae, TorchAutoencoder) and loaded_ae.params.standardize
    np.testing.assert_array_equal(loaded_ae.score(splits.test.X), ae.score(splits.test.X))
    with pytest.raises(InputError, match="not 'nae'"):
        NormalizedAutoencoder.load(tmp_path / "ae")


def test_resume_reaches_the_uninterrupted_state(splits, tmp_path: Path) -> None:
    X = splits.train.X[:256]
    two = dataclasses.replace(TINY, pretrain_epochs=2, epochs=2)
    stopped = dataclasses.replace(two, epochs=1)
    NormalizedAutoencoder(stopped, 57, seed=5, device="cpu", checkpoint_dir=tmp_path).fit(X)
    resumed = NormalizedAutoencoder(two, 57, seed=5, device="cpu", checkpoint_dir=tmp_path).fit(X)
    straight = NormalizedAutoencoder(two, 57, seed=5, device="cpu").fit(X)
    assert [h["epoch"] for h in resumed.history["nae"]] == [1, 2]
    for key, value in straight.net.state_dict().items():
        assert torch.equal(resumed.net.state_dict()[key], value), key
    np.testing.assert_array_equal(resumed.score(X), straight.score(X))

    ae_two = AEParams(hidden=(16,), latent=2, epochs=2)
    TorchAutoencoder(dataclasses.replace(ae_two, epochs=1), 57, 6, "cpu", tmp_path / "ae").fit(X)
    ae_resumed = TorchAutoencoder(ae_two, 57, 6, "cpu", tmp_path / "ae").fit(X)
    ae_straight = TorchAutoencoder(ae_two, 57, 6, "cpu").fit(X)
    np.testing.assert_array_equal(ae_resumed.score(X), ae_straight.score(X))


def test_checkpoint_for_other_settings_is_ignored_and_torn_file_is_named(splits, tmp_path: Path) -> None:
    X = splits.train.X[:128]
    NormalizedAutoencoder(TINY, 57, seed=7, device="cpu", checkpoint_dir=tmp_path).fit(X)
    other = dataclasses.replace(TINY, latent_steps=4)
    fresh = NormalizedAutoencoder(other, 57, seed=7, device="cpu", checkpoint_dir=tmp_path).fit(X)
    straight = NormalizedAutoencoder(other, 57, seed=7, device="cpu").fit(X)
    np.testing.assert_array_equal(fresh.score(X), straight.score(X))
    (tmp_path / "torn.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="torn.pt"):
        EpochCheckpoint(tmp_path / "torn.pt", "x").restore({})


def test_study_writes_tables_and_plots(splits, tmp_path: Path) -> None:
    import json

    from l1ad.config import AEConfig, Config
    from training.data.splits import write_splits
    from training.studies.nae import run_nae_study

    run_dir = tmp_path / "run"
    write_splits(run_dir / "data" / "l1_splits.h5", splits)
    config = Config()
    config.train.device = "cpu"
    config.train.ae = AEConfig(epochs=1)
    config.studies.nae = dataclasses.replace(TINY, max_train_events=300)
    out = tmp_path / "out"
    summary = run_nae_study(config, out, run_dir)
    study = json.loads((out / "study.json").read_text())
    assert set(study["methods"]) == {"ae_pretrained", "ae_same_epochs", "nae", "ae_compact"}
    assert study["data"]["n_train_events"] == 300
    ratios = study["methods"]["nae"]["per_run"][0]["energy_ratio"]
    assert set(ratios) == set(splits.signal_names()) and all(r > 0 for r in ratios.values())
    assert summary["auc_mean"]["nae"] == {
        s: round(a["auc"]["mean"], 4) for s, a in study["methods"]["nae"]["aggregate"].items()
    }
    md = (out / "study.md").read_text()
    assert md.startswith("## Normalized autoencoder") and "Suppressed outlier reconstruction" in md
    too_well = study["reconstructed_too_well"]
    assert set(too_well) == set(ratios)
    for r in too_well.values():
        assert 0.0 <= r["ae_below_background_10pct"] <= r["ae_below_background_median"] <= 1.0
    assert "### Signal events the AE reconstructs too well" in md
    for name in study["plots"]:
        assert (out / "plots" / name).stat().st_size > 0 and f"../studies/nae/plots/{name}" in md
    assert isinstance(load_scorer(out / "models" / "nae"), NormalizedAutoencoder)


def test_reconstructed_too_well_places_events_among_the_background() -> None:
    from training.studies.nae import reconstructed_too_well

    labels = np.r_[np.zeros(100), np.ones(4)].astype(int)
    sel = np.ones(104, dtype=bool)
    ae = np.r_[np.arange(100.0), [5.0, 20.0, 70.0, 200.0]]  # two signal events below the background median
    nae = np.r_[np.arange(100.0), [60.0, 20.0, 70.0, 200.0]]  # the NAE lifts one of them above it
    r = reconstructed_too_well(ae, nae, {"sig": (sel, labels)})["sig"]
    assert r["ae_below_background_median"] == 0.5 and r["nae_below_background_median"] == 0.25
    assert r["ae_below_background_10pct"] == 0.25 and r["nae_lifts_above_median"] == 0.5
    assert r["percentile_ae"] == pytest.approx((0.06 + 0.21) / 2)
