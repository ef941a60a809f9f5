"""Validated, chunked reads of HDF5 inputs: every problem becomes one ``InputError`` line.

Shared by the three family loaders so an empty, truncated or malformed file is
reported the same way everywhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from l1ad.errors import InputError
from l1ad.io import require_finite


@contextlib.contextmanager
def open_h5(path: str | Path) -> Iterator[h5py.File]:
    """Open an HDF5 file for reading, naming the file when it is missing, empty or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    if path.stat().st_size == 0:
        raise InputError(path, "file is empty")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(path, f"not a readable HDF5 file, truncated or corrupt ({exc})") from None
    try:
        yield f
    finally:
        f.close()


def require_dataset(
    f: h5py.File, key: str, path: str | Path, ndim: int | None = None, trailing: tuple[int, ...] = ()
) -> h5py.Dataset:
    """Return dataset ``key`` after checking it exists, is numeric, non-empty and shaped as expected.

    ``trailing`` fixes the sizes of the last axes, e.g. ``(19, 4)`` for ``Particles``.
    """
    if key not in f:
        raise InputError(path, f"missing key '{key}' (found: {', '.join(sorted(f.keys())) or 'none'})")
    ds = f[key]
    if not isinstance(ds, h5py.Dataset):
        raise InputError(path, f"'{key}' is a group, expected a dataset")
    if ds.dtype.kind not in "fiub":
        raise InputError(path, f"'{key}' has dtype {ds.dtype}, expected a numeric array")
    if ndim is not None and ds.ndim != ndim:
        raise InputError(path, f"'{key}' has shape {ds.shape}, expected {ndim} dimensions")
    if trailing and tuple(ds.shape[-len(trailing) :]) != tuple(trailing):
        raise InputError(path, f"'{key}' has shape {ds.shape}, expected (N, {', '.join(map(str, trailing))})")
    if ds.shape[0] == 0:
        raise InputError(path, f"'{key}' holds no events")
    return ds


def read_chunked(
    ds: h5py.Dataset,
    path: str | Path,
    what: str,
    chunk_events: int,
    max_events: int | None = None,
    dtype: np.dtype | type = np.float32,
) -> np.ndarray:
    """Read ``ds`` in chunks of ``chunk_events`` rows, casting to ``dtype`` and rejecting NaN/Inf.

    Peak memory beyond the result is one chunk in the file's own dtype.
    """
    n = ds.shape[0] if max_events is None else min(ds.shape[0], max_events)
    out = np.empty((n, *ds.shape[1:]), dtype=dtype)
    try:
        for start in range(0, n, chunk_events):
            stop = min(start + chunk_events, n)
            block = ds[start:stop]
            require_finite(block, path, f"{what} (events {start}-{stop})")
            out[start:stop] = block
    except OSError as exc:
        raise InputError(path, f"'{what}' could not be read, file truncated? ({exc})") from None
    return out
