"""Dijet family: the generator writes the real features layout, the loader reads every accepted form,
bad inputs fail with one line naming the file, and the data stage splits without signal leakage."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from l1ad.config import DijetData
from l1ad.errors import InputError
from training.data.dijet import (
    FEATURE_COLUMNS,
    FEATURE_NAMES,
    PUBLISHED_SR_MARGINALS,
    derive_features,
    generate_dijet_features,
    load_dijet,
    prepare_dijet,
    sideband_mask,
    signal_region_mask,
)
from training.data.splits import read_splits


@pytest.fixture(scope="module")
def small_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dijet") / "events_anomalydetection_v2.features.h5"
    generate_dijet_features(path, n_background=60_000, n_signal=4_000, seed=3)
    return path


def _prepared(n: int = 200, labels: bool = True, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [rng.uniform(2.5, 4.5, n), rng.uniform(0.02, 0.3, n), rng.uniform(0.0, 0.5, n), rng.random((n, 2))]
    )
    return np.column_stack([x, rng.integers(0, 2, n)]) if labels else x


def test_generator_writes_the_pandas_fixed_layout(small_file: Path) -> None:
    with h5py.File(small_file, "r") as f:
        g = f["df"]
        assert sorted(g.keys()) == ["axis0", "axis1", "block0_items", "block0_values"]
        assert g.attrs["pandas_type"] == b"frame" and g.attrs["nblocks"] == 1 and g.attrs["ndim"] == 2
        values = g["block0_values"]
        assert values.shape == (64_000, 15) and values.dtype == np.float64
        assert [c.decode() for c in g["block0_items"][...]] == list(FEATURE_COLUMNS)
        assert [c.decode() for c in g["axis0"][...]] == list(FEATURE_COLUMNS)
        assert g["axis1"].dtype == np.int64 and np.array_equal(g["axis1"][...], np.arange(64_000))
        label = values[:, 14]
    assert np.count_nonzero(label == 1) == 4_000 and np.count_nonzero(label == 0) == 60_000
    # Shuffled together: signal spread over the whole file, not appended at its end.
    assert 0.4 < np.flatnonzero(label == 1).mean() / 64_000 < 0.6
    assert not list(small_file.parent.glob("*.partial"))


def test_generator_is_seeded(tmp_path: Path) -> None:
    paths = [tmp_path / f"{name}.h5" for name in ("a", "b", "c")]
    for path, seed in zip(paths, (5, 5, 6), strict=True):
        generate_dijet_features(path, 2_000, 200, seed)
    tables = []
    for path in paths:
        with h5py.File(path, "r") as f:
            tables.append(f["df/block0_values"][...])
    assert np.array_equal(tables[0], tables[1]) and not np.array_equal(tables[0], tables[2])


def test_derive_features_on_a_hand_computed_event() -> None:
    # Back-to-back jets along x: light jet (100 GeV) first in the file, heavy jet (300 GeV) second.
    row = np.array([[1000, 0, 0, 100, 0.5, 0.3, 0.1, -1000, 0, 0, 300, 0.4, 0.1, 0.05, 1.0]])
    mjj = (np.hypot(1000, 100) + np.hypot(1000, 300)) / 1000
    expected = [mjj, 0.1, 0.2, 0.6, 0.25]
    np.testing.assert_allclose(derive_features(row)[0], expected, rtol=1e-6)
    swapped = np.concatenate([row[:, 7:14], row[:, 0:7], row[:, 14:]], axis=1)
    np.testing.assert_allclose(derive_features(swapped)[0], expected, rtol=1e-6)
    row[0, 4] = row[0, 5] = 0.0  # a single-constituent jet: tau1 = tau2 = 0
    assert derive_features(row)[0, 3] == 0.0


def test_load_round_trip_is_chunk_independent(small_file: Path) -> None:
    features, labels = load_dijet(small_file, chunk_events=7_777)
    with h5py.File(small_file, "r") as f:
        table = f["df/block0_values"][...]
    assert features.shape == (64_000, 5) and features.dtype == np.float32 and labels.dtype == np.int8
    np.testing.assert_array_equal(features, derive_features(table))
    np.testing.assert_array_equal(labels, table[:, 14].astype(np.int8))
    one_chunk, _ = load_dijet(small_file, chunk_events=1_000_000)
    np.testing.assert_array_equal(features, one_chunk)


def test_signal_region_marginals_match_published(tmp_path: Path) -> None:
    path = tmp_path / "marginals.h5"
    generate_dijet_features(path, n_background=300_000, n_signal=20_000, seed=11)
    features, labels = load_dijet(path)
    in_sr = signal_region_mask(features[:, 0])
    background, signal = features[in_sr & (labels == 0)], features[in_sr & (labels == 1)]
    for i, name in enumerate(FEATURE_NAMES):
        published = PUBLISHED_SR_MARGINALS["background_mean"][name]
        assert background[:, i].mean() == pytest.approx(published, rel=0.2), name
        if name in PUBLISHED_SR_MARGINALS["signal_median"]:
            published = PUBLISHED_SR_MARGINALS["signal_median"][name]
            assert np.median(signal[:, i]) == pytest.approx(published, rel=0.2), name
    # Falling QCD spectrum vs a 3.5 TeV resonance: the SR holds a minority of background, most signal.
    assert 0.05 < in_sr[labels == 0].mean() < 0.3 and in_sr[labels == 1].mean() > 0.6
    assert sideband_mask(features[:, 0])[labels == 0].mean() > 0.8


def test_region_masks_are_disjoint_and_cover_the_edges() -> None:
    mjj = np.array([2.3, 2.4, 3.3, 3.5, 3.7, 4.6, 4.7])
    np.testing.assert_array_equal(signal_region_mask(mjj), [0, 0, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(sideband_mask(mjj), [0, 1, 1, 0, 1, 1, 0])


@pytest.mark.parametrize("form", ["npy5", "npy6", "h5_data", "h5_only_dataset"])
def test_prepared_arrays_load(tmp_path: Path, form: str) -> None:
    array = _prepared(labels=form != "npy5")
    if form.startswith("npy"):
        path = tmp_path / "prepared.npy"
        np.save(path, array)
    else:
        path = tmp_path / "prepared.h5"
        with h5py.File(path, "w") as f:
            f.create_dataset("data" if form == "h5_data" else "features/sr", data=array)
    features, labels = load_dijet(path, chunk_events=64)
    np.testing.assert_array_equal(features, array[:, :5].astype(np.float32))
    if form == "npy5":
        assert labels is None
    else:
        np.testing.assert_array_equal(labels, array[:, 5])


def _frame_file(path: Path, values: np.ndarray, names: list[str]) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset("df/block0_values", data=values)
        f.create_dataset("df/block0_items", data=np.array(names, dtype="S"))


def _bad_input(kind: str, tmp_path: Path) -> Path:
    """A file with one defect each; its name carries the defect so the message check is specific."""
    good = _prepared(50)
    suffix = ".npy" if kind.startswith("npy") else ".h5"
    path = tmp_path / f"bad_{kind}{suffix}"
    if kind == "missing":
        return path
    if kind in ("npy_empty", "h5_empty"):
        path.touch()
    elif kind == "h5_truncated":
        generate_dijet_features(tmp_path / "whole.h5", 500, 50, 1)
        blob = (tmp_path / "whole.h5").read_bytes()
        path.write_bytes(blob[: len(blob) // 2])
    elif kind == "h5_garbage":
        path.write_bytes(b"not an hdf5 file at all" * 100)
    elif kind == "npy_truncated":
        np.save(path, good)
        path.write_bytes(path.read_bytes()[:300])
    elif kind == "h5_missing_key":
        with h5py.File(path, "w") as f:
            f.create_dataset("a", data=good)
            f.create_dataset("b", data=good)
    elif kind == "h5_frame_without_values":
        with h5py.File(path, "w") as f:
            f.create_dataset("df/block0_items", data=np.array(FEATURE_COLUMNS, dtype="S"))
    elif kind == "h5_raw_particles":  # the 2101-column raw events file handed in by mistake
        _frame_file(path, np.zeros((10, 2101)), [str(i) for i in range(2101)])
    elif kind == "npy_columns":
        np.save(path, good[:, :4])
    elif kind == "npy_text":
        np.save(path, good.astype(str))
    elif kind == "h5_text":
        with h5py.File(path, "w") as f:
            f.create_dataset("data", data=good.astype("S8"))
    elif kind in ("npy_nan", "npy_inf"):
        good[17, 2] = np.nan if kind == "npy_nan" else np.inf
        np.save(path, good)
    elif kind == "h5_frame_nan":
        table = np.ones((20, 15))
        table[3, 4] = np.nan
        _frame_file(path, table, list(FEATURE_COLUMNS))
    elif kind == "npy_label":
        good[7, 5] = 2.0
        np.save(path, good)
    elif kind == "h5_frame_label":
        table = np.ones((20, 15))
        table[5, 14] = 0.5
        _frame_file(path, table, list(FEATURE_COLUMNS))
    elif kind == "csv_extension":
        path = tmp_path / "bad_extension.csv"
        np.savetxt(path, good)
    return path


BAD_INPUTS = {
    "missing": "not found",
    "npy_empty": "empty",
    "h5_empty": "empty",
    "h5_truncated": "truncated",
    "h5_garbage": "not a readable HDF5",
    "npy_truncated": "truncated",
    "h5_missing_key": "missing key",
    "h5_frame_without_values": "missing key 'df/block0_values'",
    "h5_raw_particles": "2101 columns",
    "npy_columns": "shape (50, 4)",
    "npy_text": "expected a numeric array",
    "h5_text": "expected a numeric array",
    "npy_nan": "NaN/Inf",
    "npy_inf": "NaN/Inf",
    "h5_frame_nan": "NaN/Inf",
    "npy_label": "expected 0 or 1",
    "h5_frame_label": "expected 0 or 1",
    "csv_extension": "unknown extension '.csv'",
}


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_bad_inputs_raise_one_line_naming_the_file(tmp_path: Path, kind: str) -> None:
    path = _bad_input(kind, tmp_path)
    with pytest.raises(InputError) as info:
        load_dijet(path, chunk_events=16)
    message = str(info.value)
    assert path.name in message and BAD_INPUTS[kind] in message and "\n" not in message


def test_frame_columns_are_matched_by_name_and_label_is_optional(tmp_path: Path, small_file: Path) -> None:
    with h5py.File(small_file, "r") as f:
        table = f["df/block0_values"][:500]
    reversed_path, unlabelled_path = tmp_path / "reversed.h5", tmp_path / "blackbox.h5"
    _frame_file(reversed_path, table[:, ::-1], list(FEATURE_COLUMNS[::-1]))
    _frame_file(unlabelled_path, table[:, :14], list(FEATURE_COLUMNS[:14]))
    features, labels = load_dijet(reversed_path)
    np.testing.assert_array_equal(features, derive_features(table))
    np.testing.assert_array_equal(labels, table[:, 14])
    features, labels = load_dijet(unlabelled_path)
    np.testing.assert_array_equal(features, derive_features(table))
    assert labels is None


def test_prepare_dijet_splits_and_fits_the_scaler_on_background_train_only(
    small_file: Path, tmp_path: Path
) -> None:
    cfg = DijetData(test_background_fraction=0.25, n_test_signal=1_000)
    out, scaler = tmp_path / "splits.h5", tmp_path / "preprocessing.json"
    summary = prepare_dijet(cfg, small_file, out, scaler, seed=1, chunk_events=10_000)
    splits = read_splits(out)

    features, labels = load_dijet(small_file)
    in_sr = signal_region_mask(features[:, 0])
    n_bkg = int(np.count_nonzero(in_sr & (labels == 0)))
    n_test = round(0.25 * n_bkg)
    n_val = round(0.1 * (n_bkg - n_test))
    assert summary["n_signal_region_background"] == n_bkg
    assert (summary["n_train"], summary["n_val"], summary["n_test_background"]) == (
        n_bkg - n_test - n_val,
        n_val,
        n_test,
    )
    assert summary["n_test_signal"] == 1_000 < summary["n_signal_region_signal"]
    assert len(splits.train.X) == summary["n_train"] and len(splits.val.X) == n_val
    assert np.count_nonzero(splits.test.y == 1) == 1_000 and np.count_nonzero(splits.test.y == 0) == n_test

    # Find each split's source events by their mjj, carried unscaled as the nuisance; float32 mjj can repeat,
    # so a tie goes to the candidate nearest the de-standardised features.
    saved = json.loads(scaler.read_text())
    order = np.argsort(features[:, 0], kind="stable")
    sorted_mjj = features[order, 0]

    def source_rows(split) -> np.ndarray:
        raw = split.X * np.array(saved["std"]) + np.array(saved["mean"])
        lo = np.searchsorted(sorted_mjj, split.nuisance, side="left")
        hi = np.searchsorted(sorted_mjj, split.nuisance, side="right")
        assert np.all(hi > lo)
        idx = order[lo]
        for i in np.flatnonzero(hi - lo > 1):
            candidates = order[lo[i] : hi[i]]
            idx[i] = candidates[np.argmin(np.abs(features[candidates] - raw[i]).sum(axis=1))]
        np.testing.assert_allclose(features[idx], raw, atol=1e-5)
        return idx

    train_idx, val_idx = source_rows(splits.train), source_rows(splits.val)
    assert not labels[train_idx].any() and not labels[val_idx].any()
    assert np.all(splits.train.y == 0) and np.all(splits.val.y == 0)
    assert np.all(in_sr[train_idx]) and np.all(in_sr[source_rows(splits.test)])

    assert saved["features"] == list(FEATURE_NAMES)
    raw_train = features[train_idx].astype(np.float64)
    np.testing.assert_allclose(saved["mean"], raw_train.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(saved["std"], raw_train.std(axis=0), rtol=1e-6)
    # Fitting on the whole SR (test background and signal included) would move the dm mean by far more.
    all_sr_dm = features[in_sr, 2].astype(np.float64).mean()
    assert abs(all_sr_dm - saved["mean"][2]) > 0.01
    np.testing.assert_allclose(splits.train.X, (raw_train - saved["mean"]) / saved["std"], atol=1e-5)
    assert splits.train.X.dtype == np.float32
    assert summary["background_mean"]["mjj"] == pytest.approx(
        features[in_sr & (labels == 0), 0].mean(), rel=1e-6
    )


@pytest.mark.parametrize("defect", ["no_labels", "no_signal_in_sr", "nan"])
def test_prepare_dijet_leaves_nothing_behind_on_bad_input(tmp_path: Path, defect: str) -> None:
    array = _prepared(500, labels=defect != "no_labels")
    if defect == "no_signal_in_sr":
        array[:, 5] = 0
    if defect == "nan":
        array[100, 0] = np.nan
    source = tmp_path / f"{defect}.npy"
    np.save(source, array)
    out, scaler = tmp_path / "out" / "splits.h5", tmp_path / "out" / "preprocessing.json"
    expected = {"no_labels": "no label column", "no_signal_in_sr": "no signal events", "nan": "NaN/Inf"}[
        defect
    ]
    with pytest.raises(InputError, match=expected) as info:
        prepare_dijet(DijetData(), source, out, scaler, seed=1, chunk_events=128)
    assert source.name in str(info.value)
    assert not out.exists() and not scaler.exists()
    assert not list(tmp_path.rglob("*.partial"))


def test_published_rounding_noise_is_clipped_and_counted(small_file: Path, tmp_path: Path) -> None:
    """The real features layout with masses of -2e-8 TeV (E^2 - p^2 rounding), -0.0 and tau ratios at the
    edges loads with the noise set to 0 and counted; a mass of -1 GeV is still refused in one line."""
    with h5py.File(small_file, "r") as f:
        table = f["df/block0_values"][:4000].copy()
    mj1, mj2, tau2j1 = (FEATURE_COLUMNS.index(c) for c in ("mj1", "mj2", "tau2j1"))
    table[[10, 500, 3999], mj1] = -2e-8 * 1000.0  # -2e-8 TeV in the file's GeV
    table[20, mj2] = -0.0
    table[30, tau2j1] = -3e-9
    table[40, FEATURE_COLUMNS.index("tau1j1")] = 0.0  # tau21 of exactly 0 (one constituent)
    table[50, tau2j1] = table[50, FEATURE_COLUMNS.index("tau1j1")]  # tau21 of exactly 1
    noisy = tmp_path / "lhco_rnd_features.h5"
    _frame_file(noisy, table, list(FEATURE_COLUMNS))
    clipped: dict[str, int] = {}
    features, _ = load_dijet(noisy, chunk_events=1000, clipped=clipped)
    assert clipped == {"mj1": 3, "mj2": 1, "tau2j1": 1}
    assert np.all(features[:, 1] >= 0) and not np.signbit(features[:, 1:3]).any()
    summary = prepare_dijet(
        DijetData(), noisy, tmp_path / "s.h5", tmp_path / "p.json", seed=1, chunk_events=1000
    )
    assert summary["clipped_noise"] == clipped

    table[10, mj1] = -1.0  # -1 GeV: not rounding
    corrupt = tmp_path / "corrupt.h5"
    _frame_file(corrupt, table, list(FEATURE_COLUMNS))
    with pytest.raises(
        InputError, match=r"column 'mj1' of 'df' holds a negative value -1 \(event 10\)"
    ) as info:
        load_dijet(corrupt)
    assert "corrupt.h5" in str(info.value) and "\n" not in str(info.value)
    prepared = _prepared(200)
    prepared[5, 1] = -2e-8  # prepared arrays hold masses in TeV
    np.save(tmp_path / "prepared.npy", prepared)
    clipped = {}
    features, _ = load_dijet(tmp_path / "prepared.npy", clipped=clipped)
    assert clipped == {"mj_min": 1} and features[5, 1] == 0.0
