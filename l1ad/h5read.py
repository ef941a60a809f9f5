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

# Largest plausible momentum, energy or mass: 100 TeV, about 8 times the LHC's centre-of-mass energy.
# Anything larger is a corrupt value or a file not in GeV.
MAX_GEV = 1.0e5
# Floating-point noise in published files, decided once from the physics. A jet mass from sqrt(E^2 - p^2)
# comes out slightly negative where E^2 - p^2 rounds below zero (a public preprocessing of the LHC Olympics
# R&D features stores masses of -2e-8 TeV). 10 MeV is below the energy threshold of any calorimeter cell:
# a mass or momentum above -10 MeV is rounding, clipped to 0 and counted; -1 GeV is corrupt, and refused.
ENERGY_NOISE_GEV = 0.01
# N-subjettiness values and their ratios are sums of pT x Delta R, never negative: within 1e-6 of 0 is rounding.
RATIO_NOISE = 1e-6


def clip_noise(values: np.ndarray, tolerance: float) -> int:
    """Set the values in [-tolerance, -0.0] of a non-negative quantity to +0.0, in place; return how many.

    -0.0 counts too: it compares equal to 0 but keeps its sign through products and logarithms.
    """
    noise = np.signbit(values) & (values >= -tolerance)
    values[noise] = 0.0
    return int(noise.sum())


def tally(clipped: dict[str, int] | None, column: str, n: int) -> None:
    """Add ``n`` clipped values of ``column`` to the per-column counts (kept only where non-zero)."""
    if clipped is not None and n:
        clipped[column] = clipped.get(column, 0) + n


def require_file(path: str | Path, missing: str = "file not found") -> Path:
    """``path`` as a ``Path``, checked to name a non-empty file; ``missing`` is the message when it does not.

    The first check of every input file, so a missing or empty one is reported the same way everywhere.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, missing)
    if path.stat().st_size == 0:
        raise InputError(path, "file is empty")
    return path


@contextlib.contextmanager
def open_h5(path: str | Path) -> Iterator[h5py.File]:
    """Open an HDF5 file for reading, naming the file when it is missing, empty or corrupt."""
    path = require_file(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(path, f"not a readable HDF5 file, truncated or corrupt ({exc})") from None
    try:
        yield f
    finally:
        f.close()


def open_npy(path: str | Path) -> np.ndarray:
    """Memory-map a ``.npy`` array read-only, naming the file when it is missing, empty, corrupt or pickled.

    The header is read first: an object array is a pickle, and unpickling could run code, so it is
    refused before ``np.load`` (which, with ``allow_pickle=False``, would refuse it too, less clearly).
    """
    path = require_file(path)
    try:
        with path.open("rb") as fh:
            major, _ = np.lib.format.read_magic(fh)
            read_header = (
                np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            )
            _, _, dtype = read_header(fh)
        if dtype.hasobject:
            raise InputError(
                path,
                "holds Python objects (an object array is a pickle): refused, since loading it could run "
                "code; save a numeric array",
            )
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(path, f"not a readable .npy array, truncated or corrupt ({exc})") from None


def require_dataset(
    f: h5py.File,
    key: str,
    path: str | Path,
    ndim: int | None = None,
    trailing: tuple[int, ...] = (),
    floating: bool = False,
) -> h5py.Dataset:
    """Return dataset ``key`` after checking it exists, is numeric, non-empty and shaped as expected.

    ``trailing`` fixes the sizes of the last axes, e.g. ``(19, 4)`` for ``Particles``; ``floating``
    asks for floating-point values (physics quantities: integers or booleans mean a wrong column or
    file). Booleans, strings, compound and complex types are never numeric input.
    """
    try:
        present = key in f
    except (OSError, RuntimeError, KeyError) as exc:
        raise InputError(path, f"cannot read the file structure, truncated or corrupt ({exc})") from None
    if not present:
        raise InputError(path, f"missing key '{key}' (found: {', '.join(sorted(f.keys())) or 'none'})")
    ds = f[key]
    if not isinstance(ds, h5py.Dataset):
        raise InputError(path, f"'{key}' is a group, expected a dataset")
    if ds.dtype.kind not in ("f" if floating else "fiu"):
        expected = "a numeric array of floating-point values" if floating else "a numeric array"
        raise InputError(path, f"'{key}' has dtype {ds.dtype}, expected {expected}")
    if ds.ndim == 0:
        raise InputError(path, f"'{key}' is a single value, expected an array of events")
    if ndim is not None and ds.ndim != ndim:
        raise InputError(path, f"'{key}' has shape {ds.shape}, expected {ndim} dimensions")
    if trailing and tuple(ds.shape[-len(trailing) :]) != tuple(trailing):
        raise InputError(path, f"'{key}' has shape {ds.shape}, expected (N, {', '.join(map(str, trailing))})")
    if ds.shape[0] == 0:
        raise InputError(path, f"'{key}' holds no events")
    return ds


def require_strings(f: h5py.File, key: str, path: str | Path, what: str) -> list[str]:
    """Dataset ``key`` read as a list of strings (column names), checked to be a 1-D array of strings.

    ``what`` says what the strings are, for the message naming a missing or malformed dataset.
    """
    if key not in f:
        raise InputError(path, f"missing key '{key}' ({what})")
    ds = f[key]
    if not isinstance(ds, h5py.Dataset) or ds.ndim != 1 or ds.dtype.kind not in "SOU":
        raise InputError(path, f"'{key}' must be a 1-D array of strings ({what})")
    try:
        values = ds[...]
    except OSError as exc:
        raise InputError(path, f"'{key}' could not be read, file truncated? ({exc})") from None
    return [v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in values]


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


def require_within(
    values: np.ndarray, path: str | Path, what: str, lo: float, hi: float, unit: str = "", start: int = 0
) -> None:
    """Raise an ``InputError`` naming the first value of ``values`` outside [lo, hi].

    The first axis counts events (offset by ``start`` for a chunk); NaN is left to ``require_finite``.
    """
    bad = (values < lo) | (values > hi)
    if not bad.any():
        return
    index = np.argwhere(bad)[0]
    value = float(values[tuple(index)])
    kind = "a negative value" if value < 0 <= lo else "an implausible value"
    raise InputError(
        path,
        f"{what} holds {kind} {value:g} (event {start + int(index[0])}): expected values in "
        f"[{lo:g}, {hi:g}]{unit}",
    )
