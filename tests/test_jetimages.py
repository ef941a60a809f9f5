"""Jet-image family: generator physics, the hls4ml file layout, rebinning, the loader's checks, splits."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from scipy.stats import ks_2samp

from l1ad.config import JetImageData
from l1ad.errors import InputError
from l1ad.io import read_json
from training.data.jetgenerator import generate_chunk, generate_jet_images
from training.data.jetimages import (
    CLASSES,
    JET_FEATURE_NAMES,
    jet_marginals,
    load_jet_images,
    prepare_jet_images,
    rebin_images,
)
from training.data.splits import read_splits

SIZE = 32
HALF_WIDTH = 0.8
COL = {name: i for i, name in enumerate(JET_FEATURE_NAMES)}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    path = tmp_path_factory.mktemp("jets") / "jets.h5"
    generate_jet_images(path, n_qcd=4000, n_wz=2000, n_top=2000, image_size=SIZE, seed=11)
    with h5py.File(path, "r") as f:
        data = {key: f[key][...] for key in ("jetImage", "jets", "jetFeatureNames")}
    return path, data


def _flag(jets: np.ndarray, name: str) -> np.ndarray:
    return jets[:, COL[name]] == 1


def _girth(images: np.ndarray) -> np.ndarray:
    """pT-weighted mean distance of the pixels from the image centre."""
    centres = (np.arange(SIZE) + 0.5) * 2 * HALF_WIDTH / SIZE - HALF_WIDTH
    radius = np.hypot(centres[:, None], centres[None, :])
    return (images * radius).sum(axis=(1, 2)) / images.sum(axis=(1, 2))


def test_generated_file_has_the_hls4ml_layout(generated):
    _, data = generated
    images, jets, names = data["jetImage"], data["jets"], data["jetFeatureNames"]
    assert images.shape == (8000, SIZE, SIZE) and images.dtype == np.float32
    assert jets.shape == (8000, 59) and jets.dtype == np.float32
    assert names.dtype.kind == "S" and [n.decode() for n in names] == list(JET_FEATURE_NAMES)
    assert list(JET_FEATURE_NAMES[-6:]) == ["j_g", "j_q", "j_w", "j_z", "j_t", "j_undef"]
    onehot = jets[:, -6:]
    assert np.isin(onehot, (0, 1)).all() and (onehot.sum(axis=1) == 1).all()
    assert onehot[:, 5].sum() == 0
    assert (
        onehot[:, 0].sum() + onehot[:, 1].sum() == 4000 and min(onehot[:, 0].sum(), onehot[:, 1].sum()) > 1500
    )
    assert (
        onehot[:, 2].sum() + onehot[:, 3].sum() == 2000 and min(onehot[:, 2].sum(), onehot[:, 3].sum()) > 700
    )
    assert onehot[:, 4].sum() == 2000
    label = np.argmax(onehot, axis=1)
    assert len(np.unique(label[:50])) >= 3  # classes are shuffled together, not written in blocks
    assert (images >= 0).all() and np.isfinite(jets).all()
    pt = jets[:, COL["j_pt"]]
    # Truth pT in 500-700 GeV; the reconstructed pT is smeared and top jets lose some out of the cone.
    assert 440 < np.percentile(pt, 1) and np.percentile(pt, 99) < 730
    assert np.median(pt[pt < 600]) < 560  # falling spectrum: more jets at the low edge
    # The image holds the jet's constituents: its total is the scalar pT sum, close to the jet pT.
    ratio = images.sum(axis=(1, 2)) / pt
    assert 0.99 < np.median(ratio) < 1.05
    assert (jets[:, COL["j_multiplicity"]] >= 1).all()
    assert (np.abs(jets[:, COL["j_eta"]]) < 2.3).all()


def test_generation_is_seeded(tmp_path):
    arrays = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        generate_jet_images(tmp_path / f"{name}.h5", 40, 40, 20, 16, seed)
        with h5py.File(tmp_path / f"{name}.h5", "r") as f:
            arrays.append((f["jetImage"][...], f["jets"][...]))
    assert all(np.array_equal(x, y) for x, y in zip(arrays[0], arrays[1], strict=True))
    assert not np.array_equal(arrays[0][1], arrays[2][1])


def test_mass_peaks_and_qcd_spectrum(generated):
    _, data = generated
    jets = data["jets"]
    mass = jets[:, COL["j_mass"]]
    for flag, pole in (("j_w", 80.4), ("j_z", 91.2), ("j_t", 172.8)):
        median = np.median(mass[_flag(jets, flag)])
        assert abs(median - pole) < 0.15 * pole, (flag, median)
    qcd = mass[_flag(jets, "j_g") | _flag(jets, "j_q")]
    wz = mass[_flag(jets, "j_w") | _flag(jets, "j_z")]
    assert ks_2samp(qcd, wz).statistic > 0.3
    iqr = lambda m: np.subtract(*np.percentile(m, [75, 25]))  # noqa: E731
    assert iqr(qcd) > 3 * iqr(wz)  # falling Sudakov spectrum vs resonance peaks
    # Gluons radiate more (colour factor CA > CF): heavier jets than quarks at the same pT.
    assert np.median(mass[_flag(jets, "j_g")]) > 1.3 * np.median(mass[_flag(jets, "j_q")])


def test_prong_structure_and_quark_gluon_widths(generated):
    _, data = generated
    images, jets = data["jetImage"], data["jets"]
    girth = _girth(images)
    g, q = _flag(jets, "j_g"), _flag(jets, "j_q")
    wz, top = _flag(jets, "j_w") | _flag(jets, "j_z"), _flag(jets, "j_t")
    assert np.median(girth[top]) > 1.5 * np.median(girth[wz])
    assert np.median(girth[wz]) > 1.2 * np.median(girth[g | q])
    assert np.median(girth[g]) > 1.5 * np.median(girth[q])
    mult = jets[:, COL["j_multiplicity"]]
    assert mult[g].mean() > 1.2 * mult[q].mean()
    # Not a trivial anomaly: a sizeable share of top jets looks no wider than a typical W/Z jet.
    assert np.mean(girth[top] < np.percentile(girth[wz], 75)) > 0.1


def test_rebin_preserves_totals():
    rng = np.random.default_rng(0)
    images = rng.exponential(size=(5, 100, 100)).astype(np.float32) * (rng.random((5, 100, 100)) < 0.05)
    blocks = rebin_images(images, 20)
    assert blocks.shape == (5, 20, 20) and blocks.dtype == np.float32
    np.testing.assert_allclose(blocks.sum(axis=(1, 2)), images.sum(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(blocks[2, 3, 7], images[2, 15:20, 35:40].sum(), rtol=1e-5)
    area = rebin_images(images, 32)
    assert area.shape == (5, 32, 32)
    np.testing.assert_allclose(area.sum(axis=(1, 2)), images.sum(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(rebin_images(np.ones((1, 3, 3)), 2), np.full((1, 2, 2), 2.25), rtol=1e-6)
    np.testing.assert_array_equal(rebin_images(images, 100), images)
    for bad_size in (0, -3, 2.5):
        with pytest.raises(ValueError):
            rebin_images(images, bad_size)
    with pytest.raises(ValueError):
        rebin_images(images[0], 10)


def _write_real_layout(path, flags, names=JET_FEATURE_NAMES, image_key="jetImage", n_pixels=100, mutate=None):
    """A small file in the hls4ml jetImage_*_150p_*.h5 layout, one event per entry of ``flags``."""
    rng = np.random.default_rng(len(flags))
    n = len(flags)
    images = (
        rng.exponential(5.0, (n, n_pixels, n_pixels)) * (rng.random((n, n_pixels, n_pixels)) < 0.01)
    ).astype(np.float32)
    jets = rng.normal(size=(n, len(names))).astype(np.float32)
    jets[:, -6:] = 0
    for i, flag in enumerate(flags):
        if flag in names:
            jets[i, list(names).index(flag)] = 1
    if "j_mass" in names:
        jets[:, list(names).index("j_mass")] = rng.uniform(10, 250, n)
    if "j_pt" in names:
        jets[:, list(names).index("j_pt")] = rng.uniform(500, 700, n)
    if mutate:
        images, jets = mutate(images, jets)
    with h5py.File(path, "w") as f:
        f.create_dataset(image_key, data=images)
        f.create_dataset("jets", data=jets)
        f.create_dataset("jetFeatureNames", data=np.array(names, dtype="S"))
        f.create_dataset("jetConstituentList", data=np.zeros((n, 150, 16), dtype=np.float32))
    return images, jets


REAL_FLAGS = ["j_g", "j_q", "j_w", "j_z", "j_t", "j_undef", None, "j_t", "j_q", "j_w"]


def test_real_layout_loads_and_rebins(tmp_path):
    path = tmp_path / "jetImage_7_150p_0_10000.h5"
    raw, jets = _write_real_layout(path, REAL_FLAGS)
    images, label, mass, pt = load_jet_images(path, 20)
    kept = np.array([f not in ("j_undef", None) for f in REAL_FLAGS])
    assert images.shape == (8, 20, 20) and images.dtype == np.float32
    assert label.dtype == np.int8 and label.tolist() == [0, 0, 1, 1, 2, 2, 0, 1]
    assert mass.dtype == np.float32 and pt.dtype == np.float32
    np.testing.assert_array_equal(mass, jets[kept, COL["j_mass"]])
    np.testing.assert_array_equal(pt, jets[kept, COL["j_pt"]])
    np.testing.assert_allclose(images.sum(axis=(1, 2)), raw[kept].sum(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(images[1, 4, 9], raw[1, 20:25, 45:50].sum(), rtol=1e-5)
    # Chunk boundaries (including a chunk with no kept event) do not change the result.
    small = load_jet_images(path, 20, chunk_events=2)
    for a, b in zip(small, (images, label, mass, pt), strict=True):
        np.testing.assert_array_equal(a, b)


def test_generated_file_loads(generated):
    path, data = generated
    images, label, mass, pt = load_jet_images(path, 16, chunk_events=3000)
    truth = np.argmax(data["jets"][:, -6:], axis=1)
    np.testing.assert_array_equal(label, np.array([0, 0, 1, 1, 2])[truth])
    assert images.shape == (8000, 16, 16)
    np.testing.assert_allclose(images.sum(axis=(1, 2)), data["jetImage"].sum(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_array_equal(mass, data["jets"][:, COL["j_mass"]])
    np.testing.assert_array_equal(pt, data["jets"][:, COL["j_pt"]])


def _set(index, value):
    def mutate(images, jets):
        jets[index] = value
        return images, jets

    return mutate


def _renamed(old, new):
    return tuple(new if n == old else n for n in JET_FEATURE_NAMES)


BAD_FILES = {
    "missing jetImage": dict(image_key="images"),
    "image not square": dict(mutate=lambda im, j: (im[:, :, :50], j)),
    "image NaN": dict(mutate=lambda im, j: (np.where(np.arange(100) == 3, np.nan, im).astype(np.float32), j)),
    "jets Inf": dict(mutate=_set((4, 2), np.inf)),
    "jets event count": dict(mutate=lambda im, j: (im, j[:-1])),
    "no j_mass": dict(names=_renamed("j_mass", "j_m")),
    "one-hot missing": dict(names=_renamed("j_t", "j_top")),
    "two flags": dict(mutate=_set((0, COL["j_w"]), 1.0)),
    "flag not 0/1": dict(mutate=_set((1, COL["j_q"]), 0.5)),
    "names length": dict(names=JET_FEATURE_NAMES[:-1]),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_real_layout_raises_input_error(tmp_path, case):
    path = tmp_path / "bad.h5"
    kwargs = dict(BAD_FILES[case])
    if case == "names length":
        # jets keeps 59 columns while the names list only 58
        _write_real_layout(path, REAL_FLAGS)
        with h5py.File(path, "a") as f:
            del f["jetFeatureNames"]
            f.create_dataset("jetFeatureNames", data=np.array(kwargs["names"], dtype="S"))
    else:
        _write_real_layout(path, REAL_FLAGS, **kwargs)
    with pytest.raises(InputError, match=str(path)):
        load_jet_images(path, 20)


def _h5(path, **datasets):
    with h5py.File(path, "w") as f:
        for key, value in datasets.items():
            f.create_dataset(key, data=value)


def test_malformed_files_raise_input_error(tmp_path):
    names = np.array(JET_FEATURE_NAMES, dtype="S")
    cases = {
        "empty.h5": lambda p: p.write_bytes(b""),
        "text.h5": lambda p: p.write_text("not hdf5"),
        "no_events.h5": lambda p: _h5(
            p,
            jetImage=np.zeros((0, 10, 10), np.float32),
            jets=np.zeros((0, 59), np.float32),
            jetFeatureNames=names,
        ),
        "strings.h5": lambda p: _h5(
            p, jetImage=np.full((3, 2, 2), b"x"), jets=np.zeros((3, 59), np.float32), jetFeatureNames=names
        ),
        "no_names.h5": lambda p: _h5(p, jetImage=np.zeros((3, 10, 10), np.float32), jets=np.zeros((3, 59))),
        "numeric_names.h5": lambda p: _h5(
            p,
            jetImage=np.zeros((3, 10, 10), np.float32),
            jets=np.zeros((3, 59)),
            jetFeatureNames=np.arange(59),
        ),
        "flat_jets.h5": lambda p: _h5(
            p, jetImage=np.zeros((3, 10, 10), np.float32), jets=np.zeros(59), jetFeatureNames=names
        ),
        "no_class.h5": lambda p: _h5(
            p, jetImage=np.zeros((3, 10, 10), np.float32), jets=np.zeros((3, 59)), jetFeatureNames=names
        ),
    }
    for name, make in cases.items():
        path = tmp_path / name
        make(path)
        with pytest.raises(InputError, match=str(path)):
            load_jet_images(path, 5)
    with pytest.raises(InputError, match="not found"):
        load_jet_images(tmp_path / "absent.h5", 5)


def test_truncated_file_raises_input_error(tmp_path):
    path = tmp_path / "truncated.h5"
    generate_jet_images(path, 300, 300, 100, 32, 2)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=str(path)):
        load_jet_images(path, 16)


def test_prepare_writes_normalised_splits_without_top_in_training(tmp_path):
    source = tmp_path / "jets.h5"
    generate_jet_images(source, 600, 400, 150, 16, 3)
    cfg = JetImageData(image_size=8, test_fraction=0.3)
    summary = prepare_jet_images(
        cfg, source, tmp_path / "splits.h5", tmp_path / "pre.json", seed=1, chunk_events=500
    )
    splits = read_splits(tmp_path / "splits.h5")
    assert splits.classes == list(CLASSES) and splits.n_background_classes == 2
    for name in ("train", "val"):
        part = getattr(splits, name)
        assert set(np.unique(part.y)) == {0, 1}
    assert set(np.unique(splits.test.y)) == {0, 1, 2}
    assert (splits.test.y == 2).sum() == 150
    assert summary["counts"]["test"] == {"qcd": 180, "wz": 120, "top": 150}
    assert summary["counts"]["val"] == {"qcd": 42, "wz": 28}
    assert summary["counts"]["train"] == {"qcd": 378, "wz": 252}
    for part in (splits.train, splits.val, splits.test):
        assert part.X.shape[1:] == (8, 8, 1) and part.X.dtype == np.float32
        np.testing.assert_allclose(part.X.sum(axis=(1, 2, 3)), 1.0, rtol=1e-5)
        assert part.nuisance.shape == part.y.shape and part.nuisance.dtype == np.float32
    # The nuisance is the generator's jet mass, unchanged.
    with h5py.File(source, "r") as f:
        jets = f["jets"][...]
    all_mass = np.concatenate([p.nuisance for p in (splits.train, splits.val, splits.test)])
    np.testing.assert_allclose(np.sort(all_mass), np.sort(jets[:, COL["j_mass"]]))
    assert abs(summary["mean_mass_gev"]["top"] - jets[jets[:, COL["j_t"]] == 1, COL["j_mass"]].mean()) < 1e-3
    assert -1 <= summary["mass_label_correlation_qcd_vs_wz"] <= 1
    assert summary["mass_label_mutual_information_bits"] > 0.1  # mass tells QCD from W/Z
    marginals = summary["marginals"]  # the generator's checks, recorded with the data
    assert set(marginals["classes"]) == set(CLASSES)
    assert {"wz_vs_qcd_at_fixed_mass", "top_vs_qcd_at_fixed_mass"} <= set(marginals)
    pre = read_json(tmp_path / "pre.json")
    assert "total pT" in pre["normalisation"] and pre["input_shape"] == [8, 8, 1]
    assert pre["nuisance"].startswith("jet mass")


def test_prepare_reads_a_directory_and_needs_every_class(tmp_path):
    folder = tmp_path / "real"
    folder.mkdir()
    for i in range(2):
        _write_real_layout(folder / f"jetImage_{i}_150p_0_10000.h5", REAL_FLAGS * 3)
    cfg = JetImageData(image_size=10, test_fraction=0.3)
    summary = prepare_jet_images(cfg, folder, tmp_path / "s.h5", tmp_path / "p.json", seed=0, chunk_events=7)
    n = {split: sum(counts.values()) for split, counts in summary["counts"].items()}
    assert sum(n.values()) == 2 * 3 * 8  # two files, j_undef and unflagged events dropped
    assert summary["counts"]["test"]["top"] == 2 * 3 * 2
    assert len(read_json(tmp_path / "p.json")["source"]) == 2
    no_top = tmp_path / "no_top.h5"
    _write_real_layout(no_top, ["j_g", "j_q", "j_w", "j_z"] * 5)
    with pytest.raises(InputError, match="no top jets"):
        prepare_jet_images(cfg, no_top, tmp_path / "s2.h5", tmp_path / "p2.json", seed=0, chunk_events=7)
    assert not (tmp_path / "s2.h5").exists()


def test_rounding_noise_in_pixels_and_jet_pt_is_clipped_and_counted(tmp_path):
    """Pixel pT a few 1e-7 GeV below zero, or -0.0, is rounding: set to 0 and counted; -1 GeV is refused."""

    def pixels(*values):
        def mutate(images, jets):
            images[0, 10, 10], images[2, 0, 0] = values
            return images, jets

        return mutate

    path = tmp_path / "jetImage_noisy.h5"
    _write_real_layout(path, REAL_FLAGS, mutate=pixels(-3e-7, -0.0))
    clipped = {}
    images, *_ = load_jet_images(path, 20, clipped=clipped)
    assert clipped == {"jetImage pixel pT": 2} and not np.signbit(images).any()
    _write_real_layout(path, REAL_FLAGS, mutate=pixels(-1.0, 0.0))
    with pytest.raises(InputError, match="pixel pT"):
        load_jet_images(path, 20)


def test_qcd_mass_follows_the_double_log_sudakov():
    """The hardest emission's rho = z (1 - z) theta^2 / R^2 has P(rho < x) = Sigma(x) / Sigma(rho_max) with the
    plain-jet-mass radiator Sigma = exp(-(alpha_s C / 2 pi) ln^2 rho); the second emission comes below it."""
    from training.data import jetgenerator as gen

    n = 40_000
    for gluon, colour in ((False, gen._CF), (True, gen._CA)):
        frac, pos, _, cone = gen._qcd_prongs(np.random.default_rng(3), np.full(n, 600.0), np.full(n, gluon))
        z2 = frac[:, 2] / (frac[:, 0] + frac[:, 2])
        core = (
            pos[:, 0] * (1.0 - z2)[:, None] + pos[:, 2] * z2[:, None]
        )  # the core before its second emission
        theta = np.linalg.norm(pos[:, 1] - core, axis=1)
        z = frac[:, 1]
        rho = z * (1.0 - z) * (theta / gen._JET_R) ** 2
        theta2 = np.linalg.norm(pos[:, 2] - pos[:, 0], axis=1)
        rho2 = z2 * (1.0 - z2) * (theta2 / gen._JET_R) ** 2
        a = gen._ALPHA_S * colour / (2.0 * np.pi)
        for x in (0.003, 0.01, 0.05):
            expected = np.exp(-a * np.log(x) ** 2) / np.exp(-a * np.log(gen._RHO_MAX) ** 2)
            assert np.mean(rho < x) == pytest.approx(expected, abs=0.012), (gluon, x)
        assert (rho2 <= rho * (1 + 1e-9)).all() and (
            frac > 0
        ).all()  # ordered, three partons in every QCD jet
        np.testing.assert_allclose(frac.sum(axis=1), 1.0)
        assert (cone == gen._COLOURED_CONE).all()


def test_colour_singlets_radiate_inside_their_prongs():
    """W/Z (and the W in a top) are colour singlets: at equal mass their radiation is more compact than QCD's,
    while the pT-weighted width, which measures the mass, barely tells them apart (checked on the marginals
    the data stage records)."""
    rng = np.random.default_rng(5)
    cls = np.repeat(np.arange(3), [6000, 3000, 3000]).astype(np.int8)
    sub = rng.random(len(cls)) < 0.5
    images, rows = generate_chunk(rng, cls, sub, 20, HALF_WIDTH)
    images /= images.sum(axis=(1, 2), keepdims=True)
    marginals = jet_marginals(images, cls, rows[:, COL["j_mass"]], HALF_WIDTH)
    fixed = marginals["wz_vs_qcd_at_fixed_mass"]
    assert min(fixed["n"]) > 200
    assert fixed["auc_n_pixels"] < 0.25  # W/Z light up fewer pixels than QCD jets of the same mass
    assert abs(fixed["auc_width"] - 0.5) < 0.15  # ... while the width is set by the mass
    qcd = marginals["classes"]["qcd"]
    assert qcd["pearson_mass_width"] > 0.9  # the image encodes the mass: m ~ pT x width
    # QCD masses from radiation: a falling spectrum peaking well below the W (pT 500-700 GeV, R = 0.8)
    assert 35.0 < qcd["mass_quantiles_10_50_90_gev"][1] < 80.0
    assert 80.0 < marginals["classes"]["wz"]["mass_quantiles_10_50_90_gev"][1] < 95.0
    assert 160.0 < marginals["classes"]["top"]["mass_quantiles_10_50_90_gev"][1] < 180.0
