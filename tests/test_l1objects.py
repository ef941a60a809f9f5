"""Tests of the ADC2021 L1-object family: generated files, loader validation, preprocessing, splits."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from l1ad.config import L1Data
from l1ad.errors import InputError
from training.data import l1generator
from training.data import l1objects as l1
from training.data.splits import read_splits

N_BACKGROUND, N_SIGNAL = 4000, 1000


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return l1generator.generate_l1_dataset(tmp_path_factory.mktemp("l1"), N_BACKGROUND, N_SIGNAL, seed=7)


@pytest.fixture(scope="module")
def particles(dataset: dict[str, Path]) -> dict[str, np.ndarray]:
    return {name: l1.load_particles(path) for name, path in dataset.items()}


def _write(path: Path, particles: np.ndarray | None, **extra: np.ndarray) -> Path:
    with h5py.File(path, "w") as f:
        if particles is not None:
            f.create_dataset("Particles", data=particles)
        for key, value in extra.items():
            f.create_dataset(key, data=value)
    return path


def _multiplicity(p: np.ndarray, cls: int) -> np.ndarray:
    start, stop = l1.SLOT_RANGES[cls]
    return (p[:, start:stop, 0] > 0).sum(1)


def _pair_mass(p: np.ndarray, slot: int) -> np.ndarray:
    """Invariant mass of the two leading objects from ``slot`` on, for events that have both."""
    a, b = p[:, slot], p[:, slot + 1]
    ok = b[:, 0] > 0
    a, b = a[ok].astype(np.float64), b[ok].astype(np.float64)
    return np.sqrt(2 * a[:, 0] * b[:, 0] * (np.cosh(a[:, 1] - b[:, 1]) - np.cos(a[:, 2] - b[:, 2])))


def test_files_have_the_real_layout(dataset: dict[str, Path]) -> None:
    assert {name: p.name for name, p in dataset.items()} == l1.SAMPLES
    for name, path in dataset.items():
        with h5py.File(path, "r") as f:
            assert set(f.keys()) == {"Particles", "Particles_Names", "Particles_Classes"}
            n = N_BACKGROUND if name == "background" else N_SIGNAL
            assert f["Particles"].shape == (n, 19, 4)
            assert f["Particles"].dtype.kind == "f"
            assert list(f["Particles_Names"][...]) == [b"Pt", b"Eta", b"Phi", b"Class"]
            assert list(f["Particles_Classes"][...]) == [
                b"MET_class_1",
                b"Four_Ele_class_2",
                b"Four_Mu_class_3",
                b"Ten_Jet_class_4",
            ]


def test_slot_classes_eta_ranges_ordering_and_empty_slots(particles: dict[str, np.ndarray]) -> None:
    for name, p in particles.items():
        pt, eta, phi, cls = (p[..., i] for i in range(4))
        filled = pt > 0
        assert np.all(filled[:, 0]) and np.all(cls[:, 0] == 1) and np.all(eta[:, 0] == 0), name
        assert np.all(np.abs(phi) <= np.pi + 1e-6), name
        for code, limit in ((2, 3.0), (3, 2.1), (4, 4.0)):
            start, stop = l1.SLOT_RANGES[code]
            block = slice(start, stop)
            assert np.all(cls[:, block][filled[:, block]] == code), name
            assert np.all(np.abs(eta[:, block]) < limit), name
            assert np.all(np.diff(pt[:, block], axis=1) <= 0), f"{name}: pT not ordered in class {code}"
        assert np.all(p[~filled] == 0), f"{name}: empty slots must be all zero"
        assert np.all(l1.passes_selection(p)), name


def test_background_shows_w_jacobian_and_z_peak(particles: dict[str, np.ndarray]) -> None:
    p = particles["background"]
    n_lep = _multiplicity(p, l1.CLASS_ELECTRON) + _multiplicity(p, l1.CLASS_MUON)
    single = (n_lep == 1) & (p[:, 0, 0] > 20)
    lead_lepton = p[single, 1:9, 0].max(1)
    assert 30 < np.median(lead_lepton) < 45  # W -> l nu Jacobian peak near m_W / 2
    masses = np.concatenate([_pair_mass(p, 1), _pair_mass(p, 5)])
    assert len(masses) > 100
    assert np.mean((masses > 81) & (masses < 101)) > 0.6  # Z -> l l dominates same-flavour pairs
    assert 0.5 < np.mean(n_lep == 1) < 0.95  # the mixture is mostly single-lepton W and QCD


def test_signals_differ_from_background_where_expected(particles: dict[str, np.ndarray]) -> None:
    bkg = particles["background"]

    def leptons(p: np.ndarray) -> float:
        return float(np.mean(_multiplicity(p, l1.CLASS_ELECTRON) + _multiplicity(p, l1.CLASS_MUON)))

    def met(p: np.ndarray) -> float:
        return float(p[:, 0, 0].mean())

    assert leptons(particles["Ato4l"]) > leptons(bkg) + 1.5
    assert met(particles["Ato4l"]) < met(bkg)
    assert met(particles["hChToTauNu"]) > 1.3 * met(bkg)
    assert np.mean(_multiplicity(particles["leptoquark"], l1.CLASS_JET)) > np.mean(
        _multiplicity(bkg, l1.CLASS_JET)
    )


def test_generation_is_seeded(tmp_path: Path) -> None:
    a, b, c = (tmp_path / f"{k}.h5" for k in "abc")
    l1generator.generate_l1_sample(a, "hToTauTau", 200, seed=3)
    l1generator.generate_l1_sample(b, "hToTauTau", 200, seed=3)
    l1generator.generate_l1_sample(c, "hToTauTau", 200, seed=4)
    assert np.array_equal(l1.load_particles(a), l1.load_particles(b))
    assert not np.array_equal(l1.load_particles(a), l1.load_particles(c))
    with pytest.raises(ValueError, match="unknown L1 process"):
        l1generator.generate_l1_sample(a, "Zprime", 10, seed=1)


def test_load_round_trip_cast_and_max_events(dataset: dict[str, Path], tmp_path: Path) -> None:
    path = dataset["Ato4l"]
    with h5py.File(path, "r") as f:
        raw = f["Particles"][...]
    loaded = l1.load_particles(path, chunk_events=333)
    assert loaded.dtype == np.float32
    assert np.array_equal(loaded, raw.astype(np.float32))
    assert np.array_equal(l1.load_particles(path, max_events=10), loaded[:10])

    # float64 file whose emptied slot keeps a phi (as some real files do): cast, and the slot is zeroed.
    events = raw[:5].astype(np.float64)
    events[:, 18, 2] = 1.25
    events[:, 18, 0] = 0.0
    loaded = l1.load_particles(_write(tmp_path / "f64.h5", events))
    assert loaded.dtype == np.float32
    assert np.all(loaded[:, 18] == 0)


def test_find_l1_files(dataset: dict[str, Path], tmp_path: Path) -> None:
    directory = next(iter(dataset.values())).parent
    assert l1.find_l1_files(directory) == dataset

    filtered = tmp_path / "filtered"
    filtered.mkdir()
    for path in dataset.values():
        shutil.copy(path, filtered / f"{path.stem}_filtered.h5")
    found = l1.find_l1_files(filtered)
    assert found["background"].name == "background_for_training_filtered.h5"
    assert set(found) == set(l1.SAMPLES)

    found["hChToTauNu"].unlink()
    with pytest.raises(InputError, match="hChToTauNu") as err:
        l1.find_l1_files(filtered)
    assert str(filtered) in str(err.value)

    shutil.copy(dataset["hChToTauNu"], filtered / "hChToTauNu_13TeV_PU20.h5")
    shutil.copy(dataset["hChToTauNu"], filtered / "hChToTauNu_13TeV_PU20_filtered.h5")
    with pytest.raises(InputError, match="twice"):
        l1.find_l1_files(filtered)
    with pytest.raises(InputError, match="not found"):
        l1.find_l1_files(tmp_path / "nowhere")


def _bad_files(tmp_path: Path, good: np.ndarray) -> dict[str, tuple[Path, str]]:
    """Each bad-input case: the file and a phrase its error must contain."""
    nan = good.copy()
    nan[3, 2, 1] = np.nan
    inf = good.copy()
    inf[1, 0, 0] = np.inf
    negative = good.copy()
    negative[0, 9, 0] = -5.0
    (tmp_path / "empty.h5").write_bytes(b"")
    (tmp_path / "text.h5").write_text("pT,eta,phi\n1,2,3\n")
    truncated = _write(tmp_path / "truncated.h5", np.repeat(good, 20, axis=0))
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    swapped = np.array([b"Eta", b"Pt", b"Phi", b"Class"])
    return {
        "missing key": (_write(tmp_path / "nokey.h5", None, Other=good), "missing key 'Particles'"),
        "wrong shape": (_write(tmp_path / "shape.h5", good[:, :, :3]), "shape"),
        "wrong slots": (_write(tmp_path / "slots.h5", good[:, :18]), "shape"),
        "non-numeric": (_write(tmp_path / "strings.h5", np.full((4, 19, 4), b"x")), "numeric"),
        "NaN": (_write(tmp_path / "nan.h5", nan), "NaN/Inf"),
        "Inf": (_write(tmp_path / "inf.h5", inf), "NaN/Inf"),
        "negative pT": (_write(tmp_path / "negative.h5", negative), "negative pT"),
        "no events": (_write(tmp_path / "zero.h5", good[:0]), "no events"),
        "wrong names": (_write(tmp_path / "names.h5", good, Particles_Names=swapped), "Particles_Names"),
        "empty file": (tmp_path / "empty.h5", "empty"),
        "not HDF5": (tmp_path / "text.h5", "not a readable HDF5"),
        "truncated": (truncated, "truncated"),
        "missing file": (tmp_path / "absent.h5", "not found"),
    }


def test_every_bad_input_raises_input_error_naming_the_file(
    particles: dict[str, np.ndarray], tmp_path: Path
) -> None:
    for case, (path, phrase) in _bad_files(tmp_path, particles["background"][:50]).items():
        with pytest.raises(InputError) as err:
            l1.load_particles(path)
        assert str(path) in str(err.value) and phrase in str(err.value), case


def test_preprocessor_fit_transform_and_json(particles: dict[str, np.ndarray], tmp_path: Path) -> None:
    bkg, sig = particles["background"], particles["hChToTauNu"]
    pre = l1.L1Preprocessor().fit(bkg)
    assert np.allclose(pre.pt_mean, bkg[..., 0].astype(np.float64).mean(0))
    assert not np.allclose(pre.pt_mean, l1.L1Preprocessor().fit(sig).pt_mean)

    x = pre.transform(sig)
    assert x.shape == (len(sig), 57) and x.dtype == np.float32
    x3 = x.reshape(-1, 19, 3)
    empty = sig[..., 0] == 0
    assert empty.any() and np.all(x3[empty] == 0)
    filled = ~empty
    assert np.allclose(x3[..., 1][filled], sig[..., 1][filled]) and np.allclose(
        x3[..., 2][filled], sig[..., 2][filled]
    )
    expected = (sig[:, 9, 0] - pre.pt_mean[9]) / pre.pt_std[9]
    assert np.allclose(x3[filled[:, 9], 9, 0], expected[filled[:, 9]], atol=1e-5)

    # A slot never filled in the fit sample (std 0) stays finite and zero when empty.
    sparse = bkg.copy()
    sparse[:, 18] = 0
    guarded = l1.L1Preprocessor().fit(sparse)
    assert guarded.pt_std[18] == 1.0 and np.all(np.isfinite(guarded.transform(sig)))

    path = tmp_path / "pre.json"
    pre.to_json(path)
    assert np.array_equal(l1.L1Preprocessor.from_json(path).transform(sig), x)


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '{"kind": "other", "pt_mean": [], "pt_std": []}',
        '{"kind": "l1_preprocessor", "pt_mean": [1, 2], "pt_std": [1, 2]}',
        '{"kind": "l1_preprocessor", "pt_mean": ' + str([0.0] * 19) + ', "pt_std": ' + str([0.0] * 19) + "}",
        '{"kind": "l1_preprocessor", "pt_mean": "abc", "pt_std": ' + str([1.0] * 19) + "}",
    ],
)
def test_preprocessor_rejects_malformed_json(tmp_path: Path, text: str) -> None:
    path = tmp_path / "pre.json"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        l1.L1Preprocessor.from_json(path)
    assert str(path) in str(err.value)


def test_prepare_l1_splits(
    dataset: dict[str, Path], particles: dict[str, np.ndarray], tmp_path: Path
) -> None:
    # Five background events that fail the trigger: prepare_l1 must remove and count them.
    files = dict(dataset)
    failing = particles["background"][:5].copy()
    failing[:, 1:9] = 0
    files["background"] = _write(
        tmp_path / "background_for_training.h5", np.concatenate([particles["background"], failing])
    )
    cfg = L1Data(test_background_fraction=0.4, validation_fraction=0.1)
    out, pre_path = tmp_path / "splits.h5", tmp_path / "pre.json"
    summary = l1.prepare_l1(cfg, files, out, pre_path, seed=5, chunk_events=1000)

    bkg = summary["samples"]["background"]
    assert bkg["n_removed"] == 5 and bkg["n_selected"] == N_BACKGROUND
    assert bkg["selection_efficiency"] == pytest.approx(N_BACKGROUND / (N_BACKGROUND + 5))
    assert summary["samples"]["hChToTauNu"]["mean_met"] > bkg["mean_met"]
    assert summary["samples"]["Ato4l"]["mean_n_electrons"] + summary["samples"]["Ato4l"]["mean_n_muons"] > 3

    splits = read_splits(out)
    assert splits.classes == ["background", *l1.SIGNALS]
    n_test_bkg = round(0.4 * N_BACKGROUND)
    n_val = round(0.1 * (N_BACKGROUND - n_test_bkg))
    assert len(splits.val.X) == n_val and len(splits.train.X) == N_BACKGROUND - n_test_bkg - n_val
    assert summary["counts"]["train"] == {"background": len(splits.train.X)}
    assert summary["counts"]["test"] == {"background": n_test_bkg, **{name: N_SIGNAL for name in l1.SIGNALS}}
    assert np.all(splits.train.y == 0) and np.all(splits.val.y == 0)
    assert np.bincount(splits.test.y).tolist() == [n_test_bkg] + [N_SIGNAL] * 4
    for split in (splits.train, splits.val, splits.test):
        assert split.X.shape[1] == 57 and split.X.dtype == np.float32

    # No signal row in train or val: every row there is a transformed background event.
    pre = l1.L1Preprocessor.from_json(pre_path)
    background_rows = {row.tobytes() for row in pre.transform(particles["background"])}
    signal_rows = {row.tobytes() for name in l1.SIGNALS for row in pre.transform(particles[name])}
    for split in (splits.train, splits.val):
        rows = {row.tobytes() for row in split.X}
        assert rows <= background_rows and not rows & signal_rows

    # The preprocessor was fit on the training background only: undo the scaling to recover it.
    pt = splits.train.X.reshape(-1, 19, 3)[..., 0].astype(np.float64)
    raw = np.where(pt != 0, pt * pre.pt_std + pre.pt_mean, 0.0)
    assert np.allclose(raw.mean(0), pre.pt_mean, rtol=1e-4, atol=1e-3)
    assert not np.allclose(l1.L1Preprocessor().fit(particles["background"]).pt_mean, pre.pt_mean, rtol=1e-4)


def test_rounding_noise_in_pt_is_clipped_and_counted(dataset: dict[str, Path], tmp_path: Path) -> None:
    """pT a few 1e-8 GeV below zero (or -0.0) is rounding: an empty slot, counted; -1 GeV is refused."""
    with h5py.File(dataset["Ato4l"], "r") as f:
        events = f["Particles"][:20].astype(np.float64)
    events[3, 18] = (-2e-8, 0.7, 1.1, 4.0)  # an emptied slot whose pT came out negative
    events[4, 17, 0] = -0.0
    clipped: dict[str, int] = {}
    loaded = l1.load_particles(_write(tmp_path / "noisy.h5", events), clipped=clipped)
    assert (
        clipped == {"Particles pT": 2} and np.all(loaded[3, 18] == 0) and not np.signbit(loaded[..., 0]).any()
    )
    events[3, 18, 0] = -1.0
    with pytest.raises(InputError, match="negative pT") as info:
        l1.load_particles(_write(tmp_path / "corrupt.h5", events))
    assert "corrupt.h5" in str(info.value)
