"""Model-ready splits: the one file the data stage hands to training, quantization and firmware.

A split file is HDF5 with one group per split (``train``, ``val``, ``test``); each group
holds ``X`` and, where known, ``y`` (the index into the file's ``classes`` attribute:
the first ``n_background_classes`` classes are backgrounds, usually one, the rest are
signals) and ``nuisance`` (e.g. mjj or jet mass, unscaled). Signal never enters
``train`` or ``val``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from l1ad.errors import InputError
from l1ad.io import atomic_path


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
    """Read a split file written by ``write_splits``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "split file not found (run `l1ad data` first)")
    try:
        with h5py.File(path, "r") as f:
            parts = {}
            for name in ("train", "val", "test"):
                if name not in f:
                    raise InputError(path, f"missing split group '{name}'")
                g = f[name]
                parts[name] = Split(
                    X=g["X"][...],
                    y=g["y"][...].astype(np.int64) if "y" in g else None,
                    nuisance=g["nuisance"][...] if "nuisance" in g else None,
                )
            classes = [c.decode() for c in f.attrs["classes"]]
            n_bkg = int(f.attrs.get("n_background_classes", 1))
            reserved = ("classes", "n_background_classes")
            attrs = {
                k: (v.decode() if isinstance(v, bytes) else v)
                for k, v in f.attrs.items()
                if k not in reserved
            }
    except OSError as exc:
        raise InputError(path, f"cannot read HDF5 ({exc})") from None
    return Splits(
        parts["train"], parts["val"], parts["test"], classes=classes, n_background_classes=n_bkg, attrs=attrs
    )
