"""Jet images for the NuRD family: the hls4ml LHC jet layout, its loader and the preprocessing into splits.

QCD and W/Z jets are the labelled backgrounds and top jets the anomaly; the jet mass is the nuisance
that differs between the background classes and that a nuisance-robust representation must ignore.
The synthetic files come from ``training.data.jetgenerator``.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from l1ad.config import JetImageData
from l1ad.errors import InputError
from l1ad.h5read import (
    ENERGY_NOISE_GEV,
    MAX_GEV,
    clip_noise,
    open_h5,
    require_dataset,
    require_strings,
    require_within,
    tally,
)
from l1ad.io import require_finite, write_json
from training.data.splits import Split, Splits, write_splits

CLASSES = ("qcd", "wz", "top")

# Column names of `jets` in the hls4ml LHC jet dataset (Zenodo 3602260, 150-particle files).
JET_FEATURE_NAMES = (
    "j_ptfrac", "j_pt", "j_eta", "j_mass",
    "j_tau1_b1", "j_tau2_b1", "j_tau3_b1", "j_tau1_b2", "j_tau2_b2", "j_tau3_b2",
    "j_tau32_b1", "j_tau32_b2", "j_zlogz",
    "j_c1_b0", "j_c1_b1", "j_c1_b2", "j_c2_b1", "j_c2_b2",
    "j_d2_b1", "j_d2_b2", "j_d2_a1_b1", "j_d2_a1_b2",
    "j_m2_b1", "j_m2_b2", "j_n2_b1", "j_n2_b2",
    "j_tau1_b1_mmdt", "j_tau2_b1_mmdt", "j_tau3_b1_mmdt", "j_tau1_b2_mmdt", "j_tau2_b2_mmdt", "j_tau3_b2_mmdt",
    "j_tau32_b1_mmdt", "j_tau32_b2_mmdt",
    "j_c1_b0_mmdt", "j_c1_b1_mmdt", "j_c1_b2_mmdt", "j_c2_b1_mmdt", "j_c2_b2_mmdt",
    "j_d2_b1_mmdt", "j_d2_b2_mmdt", "j_d2_a1_b1_mmdt", "j_d2_a1_b2_mmdt",
    "j_m2_b1_mmdt", "j_m2_b2_mmdt", "j_n2_b1_mmdt", "j_n2_b2_mmdt",
    "j_mass_trim", "j_mass_mmdt", "j_mass_prun", "j_mass_sdb2", "j_mass_sdm1",
    "j_multiplicity",
    "j_g", "j_q", "j_w", "j_z", "j_t", "j_undef",
)  # fmt: skip

# One-hot truth columns -> class index in CLASSES; j_undef (or no flag) marks events that are dropped.
_CLASS_OF_FLAG = {"j_g": 0, "j_q": 0, "j_w": 1, "j_z": 1, "j_t": 2}

_RAW_CHUNK_BYTES = 256 << 20  # load_jet_images: at most this many bytes of raw images in memory at once


def _overlap_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) share of each input pixel falling into each output pixel; columns sum to 1."""
    edges_in = np.linspace(0.0, 1.0, n_in + 1)
    edges_out = np.linspace(0.0, 1.0, n_out + 1)
    lo = np.maximum(edges_out[:-1, None], edges_in[None, :-1])
    hi = np.minimum(edges_out[1:, None], edges_in[None, 1:])
    return (np.clip(hi - lo, 0.0, None) * n_in).astype(np.float32)


def rebin_images(images: np.ndarray, size: int) -> np.ndarray:
    """Rebin (N, H, W) images to (N, size, size), preserving each image's total.

    When ``size`` divides H and W, pixel blocks are summed exactly; otherwise each input pixel's
    content is shared among the output pixels it overlaps in proportion to the overlapping area
    (also exact in the total, up to float rounding). Raises ``ValueError`` on a bad shape or size.
    """
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"expected images of shape (N, H, W), got {images.shape}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    n, h, w = images.shape
    if h < 1 or w < 1:
        raise ValueError(f"images have an empty axis: {images.shape}")
    images = images.astype(np.float32, copy=False)
    if (h, w) == (size, size):
        return images.copy()
    if h % size == 0 and w % size == 0:
        return images.reshape(n, size, h // size, size, w // size).sum(axis=(2, 4))
    return _overlap_matrix(h, size) @ images @ _overlap_matrix(w, size).T


def _feature_names(f: h5py.File, path: Path, n_columns: int) -> list[str]:
    names = require_strings(f, "jetFeatureNames", path, "names of the `jets` columns")
    if len(names) != n_columns:
        raise InputError(path, f"'jetFeatureNames' names {len(names)} columns but 'jets' has {n_columns}")
    return names


def _read_block(ds: h5py.Dataset, start: int, stop: int, path: Path, what: str) -> np.ndarray:
    try:
        block = ds[start:stop]
    except OSError as exc:
        raise InputError(path, f"'{what}' could not be read, file truncated? ({exc})") from None
    return require_finite(block, path, f"{what} (events {start}-{stop})")


def load_jet_images(
    path: str | Path, image_size: int, chunk_events: int = 10_000, clipped: dict[str, int] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read a jet-image file (hls4ml ``jetImage_*.h5`` layout or the generator's) rebinned to ``image_size``.

    Returns (images (N, S, S) float32 pT per pixel, class index (N,) int8 into CLASSES, jet mass
    (N,) float32 GeV, jet pT (N,) float32 GeV). The class comes from the one-hot columns located by
    name in ``jetFeatureNames`` (j_g, j_q -> qcd; j_w, j_z -> wz; j_t -> top); events flagged j_undef
    or with no flag are dropped. Images are read ``chunk_events`` at a time, fewer when a chunk of
    raw images would exceed 256 MiB, so memory is one raw chunk plus the rebinned result.
    ``jetConstituentList`` is not read. Every problem is an ``InputError`` naming the file.
    """
    path = Path(path)
    if chunk_events < 1:
        raise ValueError(f"chunk_events must be >= 1, got {chunk_events}")
    with open_h5(path) as f:
        image_ds = require_dataset(f, "jetImage", path, ndim=3, floating=True)
        jets_ds = require_dataset(f, "jets", path, ndim=2, floating=True)
        n, h, w = image_ds.shape
        if h != w:
            raise InputError(path, f"'jetImage' has shape {image_ds.shape}, expected square images (N, S, S)")
        if jets_ds.shape[0] != n:
            raise InputError(path, f"'jets' holds {jets_ds.shape[0]} events but 'jetImage' holds {n}")
        names = _feature_names(f, path, jets_ds.shape[1])
        column = {name: i for i, name in enumerate(names)}
        for needed in ("j_pt", "j_mass"):
            if needed not in column:
                raise InputError(path, f"'jetFeatureNames' has no '{needed}' column")
        missing = [flag for flag in _CLASS_OF_FLAG if flag not in column]
        if missing:
            raise InputError(
                path, f"one-hot class columns missing from 'jetFeatureNames': {', '.join(missing)}"
            )
        flags = list(_CLASS_OF_FLAG) + (["j_undef"] if "j_undef" in column else [])
        flag_cols = [column[name] for name in flags]
        flag_class = np.array([_CLASS_OF_FLAG.get(name, -1) for name in flags], dtype=np.int8)

        labels, masses, pts = [], [], []
        for start in range(0, n, chunk_events):
            stop = min(start + chunk_events, n)
            block = _read_block(jets_ds, start, stop, path, "jets")
            onehot = block[:, flag_cols]
            if not np.isin(onehot, (0, 1)).all():
                raise InputError(
                    path, f"one-hot class columns hold values other than 0/1 (events {start}-{stop})"
                )
            n_flags = onehot.sum(axis=1)
            if (n_flags > 1).any():
                bad = start + int(np.argmax(n_flags > 1))
                raise InputError(path, f"event {bad} has more than one class flag set")
            label = np.where(n_flags == 1, flag_class[np.argmax(onehot, axis=1)], -1).astype(np.int8)
            labels.append(label)
            tally(clipped, "j_pt", clip_noise(block[:, column["j_pt"]], ENERGY_NOISE_GEV))
            require_within(block[:, column["j_pt"]], path, "'jets' column j_pt", 0.0, MAX_GEV, " GeV", start)
            require_within(
                block[:, column["j_mass"]], path, "'jets' column j_mass", -MAX_GEV, MAX_GEV, " GeV", start
            )
            masses.append(block[:, column["j_mass"]].astype(np.float32))
            pts.append(block[:, column["j_pt"]].astype(np.float32))
        label = np.concatenate(labels)
        keep = label >= 0
        if not keep.any():
            raise InputError(path, "no event carries a qcd, W/Z or top class flag")

        out = np.empty((int(keep.sum()), image_size, image_size), dtype=np.float32)
        step = max(1, min(chunk_events, _RAW_CHUNK_BYTES // max(1, h * w * image_ds.dtype.itemsize)))
        filled = 0
        for start in range(0, n, step):
            stop = min(start + step, n)
            chunk_keep = keep[start:stop]
            if not chunk_keep.any():
                continue
            raw = _read_block(image_ds, start, stop, path, "jetImage")
            tally(clipped, "jetImage pixel pT", clip_noise(raw, ENERGY_NOISE_GEV))
            require_within(raw, path, "'jetImage' pixel pT", 0.0, MAX_GEV, " GeV", start)
            raw = raw[chunk_keep]
            out[filled : filled + len(raw)] = rebin_images(raw, image_size)
            filled += len(raw)
    return out, label[keep], np.concatenate(masses)[keep], np.concatenate(pts)[keep]


def _split_indices(
    rng: np.random.Generator, label: np.ndarray, test_fraction: float
) -> dict[str, list[np.ndarray]]:
    """Per background class: test share ``test_fraction``, validation 10% of the rest; top: test only."""
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for c in range(len(CLASSES)):
        idx = rng.permutation(np.flatnonzero(label == c))
        if CLASSES[c] == "top":
            parts["test"].append(idx)
            continue
        n_test = int(round(test_fraction * len(idx)))
        n_val = int(round(0.1 * (len(idx) - n_test)))
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    return parts


def _rank_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a positive value > a negative one) + half the ties (Mann-Whitney); NaN when a side is empty."""
    if len(positive) == 0 or len(negative) == 0:
        return float("nan")
    values = np.concatenate([positive, negative])
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    # average ranks of ties
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ranks = np.bincount(inverse, weights=ranks)[inverse] / counts[inverse]
    n_pos = len(positive)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * len(negative)))


# Fixed-mass windows (GeV) in which the backgrounds and the signal are compared image by image.
WZ_WINDOW = (75.0, 100.0)
TOP_WINDOW = (150.0, 190.0)


def jet_marginals(images: np.ndarray, label: np.ndarray, mass: np.ndarray, half_width: float = 0.8) -> dict:
    """The marginals the generator is checked against, measured on (N, S, S) images normalised to unit pT.

    Per class: jet-mass quantiles (10/50/90%). Image observables per jet: the pT-weighted angular spread
    ``width`` = sqrt(sum_i I_i |r_i - r_c|^2) (m / pT ~ width for a massless-constituent jet, so it measures
    the mass through the image) and ``n_pixels``, the pixels holding more than 1% of the jet pT (the spread
    of the radiation). Reported: Pearson(mass, width) per class (how far the image encodes the mass), and
    at fixed mass, AUC of W/Z against QCD in ``WZ_WINDOW`` and of top against QCD in ``TOP_WINDOW`` for
    each observable (AUC > 0.5: the first class has the larger value). At fixed mass the width carries
    little (AUC near 0.5); what separates the classes there is the radiation pattern.
    """
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 4:
        images = images[..., 0]
    label, mass = np.asarray(label), np.asarray(mass, dtype=np.float64)
    size = images.shape[1]
    centres = (np.arange(size) + 0.5) * (2.0 * half_width / size) - half_width
    u, v = np.meshgrid(centres, centres, indexing="ij")
    mean_u, mean_v = (images * u).sum(axis=(1, 2)), (images * v).sum(axis=(1, 2))
    spread = (images * (u**2 + v**2)).sum(axis=(1, 2)) - mean_u**2 - mean_v**2
    observables = {"width": np.sqrt(np.maximum(spread, 0.0)), "n_pixels": (images > 0.01).sum(axis=(1, 2))}
    out: dict = {"classes": {}}
    for c, name in enumerate(CLASSES):
        sel = label == c
        if sel.sum() < 2:
            continue
        out["classes"][name] = {
            "n": int(sel.sum()),
            "mass_quantiles_10_50_90_gev": [float(q) for q in np.percentile(mass[sel], [10, 50, 90])],
            "pearson_mass_width": float(np.corrcoef(mass[sel], observables["width"][sel])[0, 1]),
        }
    for key, (first, window) in {"wz_vs_qcd": (1, WZ_WINDOW), "top_vs_qcd": (2, TOP_WINDOW)}.items():
        inside = (mass > window[0]) & (mass < window[1])
        a, b = inside & (label == first), inside & (label == 0)
        out[f"{key}_at_fixed_mass"] = {
            "window_gev": list(window),
            "n": [int(a.sum()), int(b.sum())],
            **{f"auc_{o}": _rank_auc(vals[a], vals[b]) for o, vals in observables.items()},
        }
    return out


def _binned_mutual_information(values: np.ndarray, label: np.ndarray, n_bins: int = 20) -> float:
    """I(value; label) in bits with quantile bins: catches the dependence a correlation misses.

    QCD and W/Z can share a mean mass while their spectra differ (broad vs peaked).
    """
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1)[1:-1]))
    joint = np.zeros((len(edges) + 1, 2))
    np.add.at(joint, (np.searchsorted(edges, values, side="right"), label), 1.0)
    joint /= joint.sum()
    expected = joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log2(joint[nz] / expected[nz])).sum())


def normalise_pt(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each image divided by its total pT (in place where possible), empty images dropped: (images, kept mask)."""
    total = images.sum(axis=(1, 2), dtype=np.float64)
    nonempty = total > 0
    if not nonempty.all():
        images, total = images[nonempty], total[nonempty]
    images /= total.astype(np.float32)[:, None, None]
    return images, nonempty


def prepare_jet_images(
    cfg: JetImageData, source: Path, out_path: Path, preprocessing_path: Path, seed: int, chunk_events: int
) -> dict:
    """Load ``source``, normalise each image to unit total pT and write train/val/test splits.

    ``source`` is one jet-image file or a directory of ``jetImage_*.h5`` files (concatenated). Each
    image is divided by its total pT so the model sees the shape of the energy flow, not its scale
    (images with no pT are dropped). QCD and W/Z are split into train/val/test (test share
    ``cfg.test_fraction``, validation 10% of the rest); top goes to test only. Splits carry X
    (N, S, S, 1) float32, y (0 qcd, 1 W/Z, 2 top) and the jet mass in GeV as nuisance. The choices
    are recorded in ``preprocessing_path`` (JSON). Returns counts per split and class, the mean mass
    per class and the correlation of mass with the QCD-vs-W/Z label.
    """
    source = Path(source)
    if not 0.0 < cfg.test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {cfg.test_fraction}")
    size = cfg.image_size
    if source.is_dir():
        files = sorted(source.glob("jetImage_*.h5"))
        if not files:
            raise InputError(source, "directory holds no jetImage_*.h5 files")
    else:
        files = [source]
    clipped: dict[str, int] = {}
    loaded = [load_jet_images(p, size, chunk_events, clipped) for p in files]
    images = np.concatenate([x[0] for x in loaded]) if len(loaded) > 1 else loaded[0][0]
    label, mass, pt = (np.concatenate([x[i] for x in loaded]) for i in (1, 2, 3))
    del loaded

    images, nonempty = normalise_pt(images)
    n_empty = int((~nonempty).sum())
    if n_empty:
        label, mass, pt = (a[nonempty] for a in (label, mass, pt))
    for c, name in enumerate(CLASSES):
        if not (label == c).any():
            raise InputError(source, f"no {name} jets in the input: every class is needed for the splits")

    # marginals on at most 20k jets (fixed seed): the checks of the generator, also recorded for real data
    rows = np.sort(np.random.default_rng(seed + 1).permutation(len(images))[:20_000])
    marginals = jet_marginals(images[rows], label[rows], mass[rows])
    rng = np.random.default_rng(seed)
    parts = _split_indices(rng, label, cfg.test_fraction)
    split_arrays = {}
    for name, pieces in parts.items():
        idx = rng.permutation(np.concatenate(pieces))
        if len(idx) == 0:
            raise InputError(source, f"too few jets: the {name} split would be empty")
        split_arrays[name] = Split(X=images[idx][..., None], y=label[idx].astype(np.int8), nuisance=mass[idx])
    del images

    write_splits(
        out_path,
        Splits(
            train=split_arrays["train"],
            val=split_arrays["val"],
            test=split_arrays["test"],
            classes=list(CLASSES),
            n_background_classes=2,
            attrs={"family": "jet_images", "nuisance": "jet_mass_gev", "image_size": size},
        ),
    )
    background = label < 2
    mass_corr = float(np.corrcoef(mass[background], label[background])[0, 1])
    summary = {
        "counts": {
            name: {CLASSES[c]: int((s.y == c).sum()) for c in range(len(CLASSES)) if name == "test" or c < 2}
            for name, s in split_arrays.items()
        },
        "mean_mass_gev": {CLASSES[c]: float(mass[label == c].mean()) for c in range(len(CLASSES))},
        "mean_pt_gev": {CLASSES[c]: float(pt[label == c].mean()) for c in range(len(CLASSES))},
        "mass_label_correlation_qcd_vs_wz": mass_corr,
        "mass_label_mutual_information_bits": _binned_mutual_information(mass[background], label[background]),
        "marginals": marginals,
        "n_dropped_empty": n_empty,
        "clipped_noise": clipped,  # values within noise of 0 set to 0 (h5read.ENERGY_NOISE_GEV)
    }
    write_json(
        preprocessing_path,
        {
            "family": "jet_images",
            "source": [str(p) for p in files],
            "image_size": size,
            "input_shape": [size, size, 1],
            "rebinning": "pixel blocks summed when the size divides the raw size, else area-weighted",
            "normalisation": "each image divided by its total pT (sum of pixels); empty images dropped",
            "classes": list(CLASSES),
            "n_background_classes": 2,
            "nuisance": "jet mass (GeV, j_mass), unscaled",
            "split": {
                "test_fraction": cfg.test_fraction,
                "validation_fraction_of_rest": 0.1,
                "top": "test only",
            },
            "seed": seed,
            **summary,
        },
    )
    return summary
