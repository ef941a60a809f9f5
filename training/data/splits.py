"""Model-ready splits: the one file the data stage hands to training, quantization and firmware.

A split file is HDF5 with one group per split (``train``, ``val``, ``test``); each group
holds ``X``, ``y`` (the index into the file's ``classes`` attribute:
the first ``n_background_classes`` classes are backgrounds, usually one, the rest are
signals) and, where known, ``nuisance`` (e.g. mjj or jet mass, unscaled). Signal never enters
``train`` or ``val``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from l1ad.errors import InputError
from l1ad.h5read import require_file
from l1ad.io import atomic_path, require_finite


@dataclass
class Split:
    X: np.ndarray
    y: np.ndarray | None = None
    nuisance: np.ndarray | None = None


@dataclass
class Splits:
    """Train/val/test arrays of one family plus its class names and free-form attributes."""

    train: Split
    val: Split
    test: Split
    classes: list[str] = field(default_factory=lambda: ["background", "signal"])
    n_background_classes: int = 1
    attrs: dict[str, str | float | int] = field(default_factory=dict)

    def signal_names(self) -> list[str]:
        return self.classes[self.n_background_classes :]

    def is_background(self, y: np.ndarray) -> np.ndarray:
        """Boolean mask of background events for labels ``y``."""
        return y < self.n_background_classes


def write_splits(path: str | Path, splits: Splits) -> None:
    """Write ``splits`` atomically."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["classes"] = np.array(splits.classes, dtype="S")
            f.attrs["n_background_classes"] = splits.n_background_classes
            for key, value in splits.attrs.items():
                f.attrs[key] = value
            for name in ("train", "val", "test"):
                split: Split = getattr(splits, name)
                g = f.create_group(name)
                g.create_dataset("X", data=split.X)
                if split.y is not None:
                    g.create_dataset("y", data=split.y.astype(np.int8))
                if split.nuisance is not None:
                    g.create_dataset("nuisance", data=split.nuisance)


def read_splits(path: str | Path) -> Splits:
    """Read a split file written by ``write_splits``, validated: every problem is one ``InputError``.

    Checked: the three groups, ``X`` (floating point, finite, at least one event, the same event shape
    in every split), ``y`` (integer class indices into ``classes``, one per event, background only in
    ``train`` and ``val``), ``nuisance`` (finite, one per event) and the class attributes.
    """
    path = require_file(path, "split file not found (run `l1ad data` first)")
    try:
        with h5py.File(path, "r") as f:
            classes, n_bkg = _read_classes(f, path)
            parts = {name: _read_split(f, name, path, len(classes)) for name in ("train", "val", "test")}
            reserved = ("classes", "n_background_classes")
            attrs = {
                k: (v.decode(errors="replace") if isinstance(v, bytes) else v)
                for k, v in f.attrs.items()
                if k not in reserved
            }
    except OSError as exc:
        raise InputError(path, f"cannot read HDF5, truncated or corrupt ({exc})") from None
    shapes = {name: part.X.shape[1:] for name, part in parts.items()}
    if len(set(shapes.values())) > 1:
        raise InputError(path, f"the splits hold events of different shapes: {shapes}")
    for name in ("train", "val"):
        if np.any(parts[name].y >= n_bkg):
            raise InputError(path, f"split '{name}' holds signal labels: only background may be trained on")
    return Splits(
        parts["train"], parts["val"], parts["test"], classes=classes, n_background_classes=n_bkg, attrs=attrs
    )


def _read_classes(f: h5py.File, path: Path) -> tuple[list[str], int]:
    raw = f.attrs.get("classes")
    if raw is None:
        raise InputError(path, "missing attribute 'classes' (the class names)")
    raw = np.atleast_1d(raw)
    if raw.dtype.kind not in "SOU" or raw.ndim != 1:
        raise InputError(path, f"attribute 'classes' must list class names, got {raw.dtype} {raw.shape}")
    classes = [c.decode(errors="replace") if isinstance(c, bytes) else str(c) for c in raw]
    n_bkg = f.attrs.get("n_background_classes", 1)
    if not isinstance(n_bkg, (int, np.integer)) or not 1 <= n_bkg < len(classes):
        raise InputError(
            path,
            f"n_background_classes is {n_bkg!r} for {len(classes)} classes {classes}: "
            "expected at least one background and one signal class",
        )
    return classes, int(n_bkg)


def _read_split(f: h5py.File, name: str, path: Path, n_classes: int) -> Split:
    if not isinstance(f.get(name), h5py.Group):
        raise InputError(path, f"missing split group '{name}'")
    g = f[name]
    for key in ("X", "y"):
        if not isinstance(g.get(key), h5py.Dataset):
            raise InputError(path, f"missing dataset '{name}/{key}'")
    X = g["X"]
    if X.dtype.kind != "f":
        raise InputError(
            path, f"'{name}/X' has dtype {X.dtype}, expected a numeric array of floating-point values"
        )
    if X.ndim < 2:
        raise InputError(path, f"'{name}/X' has shape {X.shape}, expected events of features (N, ...)")
    if X.shape[0] == 0:
        raise InputError(path, f"'{name}/X' holds no events")
    X = require_finite(X[...], path, f"'{name}/X'")
    y = g["y"]
    if y.dtype.kind not in "iu" or y.shape != (len(X),):
        raise InputError(path, f"'{name}/y' is {y.dtype} {y.shape}: expected {len(X)} integer class labels")
    y = y[...].astype(np.int64)
    if np.any((y < 0) | (y >= n_classes)):
        bad = int(y[(y < 0) | (y >= n_classes)][0])
        raise InputError(path, f"'{name}/y' holds label {bad}, outside the {n_classes} classes")
    nuisance = None
    if "nuisance" in g:
        ds = g["nuisance"]
        if not isinstance(ds, h5py.Dataset) or ds.dtype.kind != "f" or ds.shape != (len(X),):
            raise InputError(
                path, f"'{name}/nuisance' must hold {len(X)} floating-point values, one per event"
            )
        nuisance = require_finite(ds[...], path, f"'{name}/nuisance'")
    return Split(X=X, y=y, nuisance=nuisance)
