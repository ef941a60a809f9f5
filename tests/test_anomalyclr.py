"""Tests of AnomalyCLR on L1 objects: event inputs, augmentations, losses, encoder, training, save/load, resume."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from l1ad.config import AnomalyCLRConfig
from training.anomalyclr import (
    BLOCKS,
    OBJECT_PT_MIN,
    AnomalyCLR,
    ObjectEncoder,
    add_objects,
    anomaly_augment,
    physical_augment,
    scale_pt_met,
    split_objects,
    valid_layout,
)
from training.contrastive import anomclr_loss, anomclr_plus_loss, clr_loss
from training.data import l1generator
from training.data import l1objects as l1
from training.data.splits import read_splits
from training.l1_events import (
    SLOT_TYPE,
    load_preprocessor,
    mean_object_pt,
    object_features,
    particles_from_inputs,
    physical_objects,
)
from training.scorer import load_scorer

TINY = AnomalyCLRConfig(
    embed_dim=8,
    n_heads=2,
    n_layers=1,
    head_dims=(8, 4),
    epochs=1,
    batch_size=64,
    ae_hidden=(16, 8),
    ae_latent=3,
)


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def run_dir(small_l1_run) -> Path:
    return small_l1_run(1500, 150, 11)


@pytest.fixture(scope="module")
def splits(run_dir: Path):
    return read_splits(run_dir / "data" / "l1_splits.h5")


@pytest.fixture(scope="module")
def objects(run_dir: Path, splits) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    pre = load_preprocessor(run_dir)
    x = torch.as_tensor(splits.train.X[:400], dtype=torch.float64)
    return physical_objects(x, torch.as_tensor(pre.pt_mean), torch.as_tensor(pre.pt_std))


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _total_xy(pt: torch.Tensor, phi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Vector sum of MET and all visible objects (zero for a perfectly balanced reconstruction)."""
    return (pt * torch.cos(phi)).sum(1), (pt * torch.sin(phi)).sum(1)


def _counts(pt: torch.Tensor) -> torch.Tensor:
    return torch.stack([(pt[:, a:b] > 0).sum(1) for a, b, _ in BLOCKS], dim=1)


# --- event inputs -------------------------------------------------------------------------------


def test_inputs_invert_to_the_raw_particles(tmp_path: Path) -> None:
    path = tmp_path / "bkg.h5"
    l1generator.generate_l1_sample(path, "background", 300, seed=5)
    particles = l1.load_particles(path)
    pre = l1.L1Preprocessor().fit(particles)
    back = particles_from_inputs(pre.transform(particles), pre)
    assert back.shape == particles.shape
    np.testing.assert_array_equal(back[..., 3], particles[..., 3])
    np.testing.assert_array_equal(back[..., 1:3], particles[..., 1:3])
    np.testing.assert_allclose(back[..., 0], particles[..., 0], rtol=1e-5, atol=1e-4)
    assert np.array_equal(back[..., 0] > 0, particles[..., 0] > 0)


def test_object_features_layout(objects) -> None:
    pt, eta, phi = objects
    scale = mean_object_pt(np.stack([pt.numpy(), eta.numpy(), phi.numpy()], -1))
    feats, mask = object_features(pt, eta, phi, scale)
    assert feats.shape == (len(pt), 19, 7)
    assert mask[:, 0].all()
    assert torch.equal(mask[:, 1:], pt[:, 1:] > 0)
    filled = pt > 0
    torch.testing.assert_close(feats[..., 0][filled], pt[filled] / scale)
    assert (feats[..., 1].abs() <= 1).all() and (feats[..., 2].abs() <= 1).all()
    one_hot = feats[..., 3:]
    assert torch.equal(one_hot[filled].argmax(1), torch.as_tensor(SLOT_TYPE).expand_as(pt)[filled])
    assert (feats[~mask] == 0).all()
    # MET's one-hot is there even for a zero MET, so the always-attended slot is recognisable.
    assert (one_hot[:, 0, 0] == 1).all()


# --- augmentations ------------------------------------------------------------------------------


def test_valid_layout_accepts_real_events_and_catches_breaks(objects) -> None:
    pt, eta, phi = (t.clone() for t in objects)
    assert valid_layout(pt, eta, phi).all()
    two_jets = int(torch.nonzero(pt[:, 10] > 0)[0, 0])
    pt[two_jets, 10] = pt[two_jets, 9] + 5.0  # jets out of pT order
    empty = int(torch.nonzero(pt[:, 18] == 0)[0, 0])
    eta[empty, 18] = 0.3  # a ghost eta in an empty slot
    leptons = next(i for i in range(len(pt)) if i not in (two_jets, empty))
    pt[leptons, 1:9] = torch.where(pt[leptons, 1:9] > 0, 10.0, 0.0)  # no lepton above 23 GeV
    ok = valid_layout(pt, eta, phi)
    assert not ok[two_jets] and not ok[empty] and not ok[leptons]
    assert ok.sum() == len(pt) - 3


def test_physical_augment_keeps_layout_and_balance(objects) -> None:
    pt, eta, phi = objects
    new_pt, new_eta, new_phi = physical_augment(pt, eta, phi, _gen())
    assert valid_layout(new_pt, new_eta, new_phi).all()
    assert torch.equal(_counts(new_pt), _counts(pt))
    # The rotation moves every event; smearing moves pT by a few percent, never by more than half.
    assert (torch.cos(new_phi[:, 0] - phi[:, 0]) < 0.999).float().mean() > 0.9
    filled = pt[:, 1:] > 0
    ratio = new_pt[:, 1:].sum(1) / pt[:, 1:].sum(1)
    assert (ratio > 0.5).all() and (ratio < 2.0).all() and (ratio != 1).float().mean() > 0.9
    assert filled.sum() > 0
    # MET follows momentum balance: the magnitude of (MET + visible) is invariant under the augmentation.
    torch.testing.assert_close(torch.hypot(*_total_xy(new_pt, new_phi)), torch.hypot(*_total_xy(pt, phi)))


def test_add_objects(objects) -> None:
    pt, eta, phi = objects
    new_pt, new_eta, new_phi, changed = add_objects(pt, eta, phi, _gen(1))
    assert valid_layout(new_pt, new_eta, new_phi).all()
    assert changed.float().mean() > 0.9
    added = _counts(new_pt) - _counts(pt)
    assert (added >= 0).all() and torch.equal(added.sum(1) > 0, changed)
    # MET is recomputed so that MET + visible momentum is unchanged vector by vector.
    for a, b in zip(_total_xy(new_pt, new_phi), _total_xy(pt, phi), strict=True):
        torch.testing.assert_close(a, b)
    # Every original object survives; each new one lies between its class threshold and the event's largest pT.
    for i in range(50):
        for start, stop, cls in BLOCKS:
            old = sorted(pt[i, start:stop][pt[i, start:stop] > 0].tolist())
            now = new_pt[i, start:stop][new_pt[i, start:stop] > 0].tolist()
            assert all(any(abs(o - v) < 1e-12 for v in now) for o in old)
            fresh = [v for v in now if all(abs(o - v) > 1e-12 for o in old)]
            top = max(float(pt[i].max()), OBJECT_PT_MIN[cls])
            assert all(OBJECT_PT_MIN[cls] <= v <= top for v in fresh)


def test_split_objects_keeps_met_and_pt_sum(objects) -> None:
    pt, eta, phi = objects
    new_pt, new_eta, new_phi, changed = split_objects(pt, eta, phi, _gen(2))
    assert valid_layout(new_pt, new_eta, new_phi).all()
    assert changed.float().mean() > 0.5
    assert torch.equal(_counts(new_pt).sum(1) > _counts(pt).sum(1), changed)
    assert torch.equal(new_pt[:, 0], pt[:, 0]) and torch.equal(new_phi[:, 0], phi[:, 0])
    for start, stop, _ in BLOCKS:
        torch.testing.assert_close(new_pt[:, start:stop].sum(1), pt[:, start:stop].sum(1))
    for a, b in zip(_total_xy(new_pt, new_phi), _total_xy(pt, phi), strict=True):
        torch.testing.assert_close(a, b)


def test_split_keeps_the_selecting_lepton_above_threshold() -> None:
    # One 30 GeV electron carries the selection; one 40 GeV jet; MET 20 GeV.
    pt = torch.zeros(256, 19, dtype=torch.float64)
    eta = torch.zeros_like(pt)
    phi = torch.zeros_like(pt)
    pt[:, 0], phi[:, 0] = 20.0, 1.0
    pt[:, 1], eta[:, 1], phi[:, 1] = 30.0, 0.5, -1.0
    pt[:, 9], eta[:, 9], phi[:, 9] = 40.0, -1.0, 2.0
    new_pt, new_eta, new_phi, changed = split_objects(pt, eta, phi, _gen(3))
    assert valid_layout(new_pt, new_eta, new_phi).all()
    split_e = new_pt[:, 2] > 0
    assert split_e.any()
    assert (new_pt[split_e, 1] > l1.LEPTON_PT_CUT).all() and (new_pt[split_e, 2] >= 3.0).all()
    split_j = new_pt[:, 10] > 0
    assert split_j.any() and (new_pt[split_j, 9:11] >= 15.0).all()


def test_scale_pt_met(objects) -> None:
    pt, eta, phi = objects
    new_pt, new_eta, new_phi, changed = scale_pt_met(pt, eta, phi, _gen(4))
    assert valid_layout(new_pt, new_eta, new_phi).all() and changed.all()
    assert torch.equal(new_eta, eta) and torch.equal(new_phi, phi)
    f_met = new_pt[:, 0] / pt[:, 0]
    filled = pt[:, 1:] > 0
    f_obj = torch.where(filled, new_pt[:, 1:] / torch.where(filled, pt[:, 1:], 1.0), torch.nan)
    f_obj_event = torch.nanmean(f_obj, dim=1)
    # One common factor for all objects of an event.
    assert torch.allclose(
        torch.nan_to_num(f_obj - f_obj_event[:, None]), torch.zeros_like(pt[:, 1:]), atol=1e-9
    )
    met_only = (f_obj_event == 1) & (f_met != 1)
    both = torch.isclose(f_met, f_obj_event) & (f_obj_event > 1)
    obj_only = (f_met == 1) & (f_obj_event > 1)
    assert (met_only | both | obj_only).all()
    assert met_only.any() and both.any() and obj_only.any()
    assert (f_met >= 0.5).all() and (f_met <= 5).all() and (f_obj_event <= 5).all()


def test_anomaly_augment_one_per_event_and_subsets(objects) -> None:
    pt, eta, phi = objects
    new_pt, new_eta, new_phi, applied = anomaly_augment(pt, eta, phi, _gen(5))
    assert valid_layout(new_pt, new_eta, new_phi).all() and applied.all()
    differs = (new_pt != pt).any(1) | (new_phi != phi).any(1)
    assert differs.all()
    only_split = anomaly_augment(pt, eta, phi, _gen(6), names=("split",))
    assert valid_layout(*only_split[:3]).all()
    unchanged = ~only_split[3]
    assert torch.equal(only_split[0][unchanged], pt[unchanged])
    with pytest.raises(ValueError, match="subset"):
        anomaly_augment(pt, eta, phi, _gen(), names=("rotate",))


# --- losses -------------------------------------------------------------------------------------


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()))


def test_losses_equal_loop_computations() -> None:
    g = _gen(7)
    b, tau = 4, 0.3
    h_i, h_j, h_k = (torch.randn(b, 3, generator=g, dtype=torch.float64) for _ in range(3))
    views = list(h_i) + list(h_j)
    clr = anom = plus = 0.0
    for a in range(2 * b):
        event, partner = a % b, (a + b) % (2 * b)
        s_pos = _cos(views[a], views[partner])
        s_anom = _cos(h_i[event], h_k[event])
        everyone = sum(math.exp(_cos(views[a], views[c]) / tau) for c in range(2 * b) if c != a)
        negatives = sum(
            math.exp(_cos(views[a], views[c]) / tau) for c in range(2 * b) if c not in (a, partner)
        )
        clr += -math.log(math.exp(s_pos / tau) / everyone)
        anom += -math.log(math.exp((s_pos - s_anom) / tau) / negatives)
        plus += -math.log(math.exp((s_pos - s_anom) / tau))
    assert clr_loss(h_i, h_j, tau).item() == pytest.approx(clr / (2 * b), rel=1e-12)
    assert anomclr_loss(h_i, h_j, h_k, tau).item() == pytest.approx(anom / (2 * b), rel=1e-12)
    assert anomclr_plus_loss(h_i, h_j, h_k, tau).item() == pytest.approx(plus / (2 * b), rel=1e-12)


# --- encoder and scorer -------------------------------------------------------------------------


def test_encoder_is_permutation_invariant_and_ignores_empty_slots(objects) -> None:
    torch.manual_seed(0)
    enc = ObjectEncoder(8, 2, 2, (8, 4)).double().eval()
    feats, mask = object_features(*objects, 30.0)
    perm = torch.randperm(19)
    with torch.no_grad():
        ref = enc.represent(feats, mask)
        torch.testing.assert_close(enc.represent(feats[:, perm], mask[:, perm]), ref)
        noisy = feats.clone()
        noisy[~mask] = 7.0  # garbage in masked slots must not leak into the representation
        torch.testing.assert_close(enc.represent(noisy, mask), ref)
        assert enc(feats, mask).shape == (len(feats), 4)


def test_fit_score_save_load(run_dir: Path, splits, tmp_path: Path) -> None:
    pre = load_preprocessor(run_dir)
    X, X_val = splits.train.X[:512], splits.val.X[:128]
    model = AnomalyCLR(dataclasses.replace(TINY, ae_epochs=2), pre, "anomclr", seed=3, device="cpu").fit(
        X, X_val
    )
    assert len(model.history) == 1 and np.isfinite(model.history[0]["loss"])
    reps = model.representations(splits.test.X[:300])
    assert reps.shape == (300, 8) and np.isfinite(reps).all()
    scores = model.score(splits.test.X)
    assert scores.shape == (len(splits.test.X),) and np.isfinite(scores).all() and scores.std() > 0
    model.save(tmp_path / "m")
    loaded = load_scorer(tmp_path / "m")
    assert isinstance(loaded, AnomalyCLR) and loaded.loss == "anomclr"
    np.testing.assert_allclose(loaded.score(splits.test.X), scores, rtol=1e-5)


@pytest.mark.parametrize("loss", ["clr", "anomclr_plus"])
def test_other_losses_train(run_dir: Path, splits, loss: str) -> None:
    model = AnomalyCLR(TINY, load_preprocessor(run_dir), loss, seed=2, device="cpu")
    model.fit_encoder(splits.train.X[:256])
    assert np.isfinite(model.history[0]["loss"])


def test_resume_reaches_the_uninterrupted_state(run_dir: Path, splits, tmp_path: Path) -> None:
    pre = load_preprocessor(run_dir)
    X = splits.train.X[:256]
    two = dataclasses.replace(TINY, epochs=2)
    AnomalyCLR(TINY, pre, "anomclr", seed=4, device="cpu", checkpoint_dir=tmp_path).fit_encoder(X)
    resumed = AnomalyCLR(two, pre, "anomclr", seed=4, device="cpu", checkpoint_dir=tmp_path).fit_encoder(X)
    straight = AnomalyCLR(two, pre, "anomclr", seed=4, device="cpu").fit_encoder(X)
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    for key, value in straight.encoder.state_dict().items():
        assert torch.equal(resumed.encoder.state_dict()[key], value), key
    # Another seed is another training: its checkpoint is not taken over.
    other = AnomalyCLR(two, pre, "anomclr", seed=5, device="cpu", checkpoint_dir=tmp_path).fit_encoder(X)
    assert [h["epoch"] for h in other.history] == [1, 2]
    assert not torch.equal(other.encoder.embedding.weight, straight.encoder.embedding.weight)


def test_study_writes_tables_plots_and_optional_sections(run_dir: Path, tmp_path: Path) -> None:
    from l1ad.config import AEConfig, Config
    from training.studies.anomalyclr import run_anomalyclr_study

    config = Config()
    config.train.device = "cpu"
    config.train.ae = AEConfig(epochs=1)
    config.studies.anomalyclr = dataclasses.replace(
        TINY,
        losses=("clr", "anomclr"),
        max_train_events=300,
        ae_epochs=1,
        n_ae_seeds=2,
        representation_dims=(4,),
    )
    # The ablation runs when the config names augmentation subsets.
    config.studies.anomalyclr.augmentation_subsets = ("split", "add+scale")
    out = tmp_path / "out"
    summary = run_anomalyclr_study(config, out, run_dir)
    study = __import__("json").loads((out / "study.json").read_text())
    assert list(study["methods"]) == ["ae_raw", "ae_compact", "clr", "anomclr"]
    assert all(m["n_runs"] == 2 for m in study["methods"].values())
    assert set(study["ablation"]) == {"split", "add+scale"} and set(study["scan"]) == {"dim 4"}
    auc = study["methods"]["anomclr"]["aggregate"]["Ato4l"]["auc"]
    assert 0 <= auc["mean"] <= 1 and auc["n"] == 2
    assert summary["auc_mean"]["clr"]["Ato4l"] == pytest.approx(
        study["methods"]["clr"]["aggregate"]["Ato4l"]["auc"]["mean"], abs=1e-4
    )
    md = (out / "study.md").read_text()
    assert (
        md.startswith("## AnomalyCLR") and "synthetic" in md and "Ablation" in md and "dimension scan" in md
    )
    for name in study["plots"]:
        assert (out / "plots" / name).stat().st_size > 0
        assert f"../studies/anomalyclr/plots/{name}" in md
    assert load_scorer(out / "models" / "anomclr_seed1").loss == "anomclr"


def test_study_rejects_unknown_augmentation_subset(run_dir: Path, tmp_path: Path) -> None:
    from l1ad.config import Config
    from training.studies.anomalyclr import run_anomalyclr_study

    config = Config()
    config.studies.anomalyclr = dataclasses.replace(TINY)
    config.studies.anomalyclr.augmentation_subsets = ("add+rotate",)
    with pytest.raises(ValueError, match="rotate"):
        run_anomalyclr_study(config, tmp_path / "out", run_dir)
    assert not (tmp_path / "out").exists()
