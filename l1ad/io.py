"""Atomic writes and validated reads shared by every stage.

Every artifact is written under a temporary name and renamed into place, so a
crash never leaves a half-written file that a later stage (or resume) trusts.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.errors import InputError
from l1ad.typed_schema import record_problems

_UMASK = os.umask(0)
os.umask(_UMASK)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def _temp_prefix(path: Path) -> str:
    """Temporary names carry the writer's pid: ``.<name>.<pid>.<random>.partial``."""
    return f".{path.name}.{os.getpid()}."


def remove_stale_partials(path: str | Path) -> list[Path]:
    """Remove the temporary siblings of ``path`` left by writers that were killed (SIGKILL, power loss).

    Only leftovers whose writer process is gone are removed, so a concurrent writer of the same
    path keeps its temporary file; returns what was removed.
    """
    path = Path(path)
    removed = []
    if not path.parent.is_dir():
        return removed
    for entry in path.parent.glob(f".{glob.escape(path.name)}.*.partial"):
        pid = entry.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(path)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".partial", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; artifacts get the usual mode
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary directory; it replaces ``path`` only on success.

    An existing ``path`` is first renamed aside (one atomic step) and deleted after the new
    folder is in place: at every instant ``path`` is either absent or complete, never a
    half-deleted old folder that a resume would trust. Leftovers of killed writers are removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(path)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), suffix=".partial", dir=path.parent))
    old = None
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes 0700
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), suffix=".partial", dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, old):
            if leftover is not None and leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)


def _to_jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _to_jsonable(obj.tolist())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        obj = float(obj)
    if isinstance(obj, float) and not np.isfinite(obj):
        return None  # JSON has no NaN/Inf; null means "not available"
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON atomically (numpy scalars and arrays allowed)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_to_jsonable(obj), indent=2, sort_keys=False) + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file, turning a missing or malformed file into an ``InputError``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not valid JSON ({exc})") from None


def write_record(path: str | Path, record_type: type, obj: Any) -> None:
    """Write ``obj`` as JSON atomically after checking it is a ``record_type`` (a ``TypedDict``): a record
    a reader would refuse is a bug of its writer, raised here as a TypeError before anything is written."""
    value = _to_jsonable(obj)
    problems = record_problems(record_type, value)
    if problems:
        raise TypeError(f"{Path(path).name}: not a {record_type.__name__} record: {problems[0]}")
    write_json(path, value)


def read_record(path: str | Path, record_type: type) -> Any:
    """Read the JSON record ``path`` and check it is a ``record_type``; an ``InputError`` naming the file
    and the first problem otherwise (a file written by another l1ad version, or edited)."""
    value = read_json(path)
    problems = record_problems(record_type, value)
    if problems:
        raise InputError(
            path,
            f"not a {record_type.__name__} record of this l1ad ({problems[0]}); rebuild it with this version "
            "(the stage that writes it, --force)",
        )
    return value


def require_finite(array: np.ndarray, path: str | Path, what: str) -> np.ndarray:
    """Raise an ``InputError`` naming ``path`` if ``array`` holds NaN or Inf."""
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        n_bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise InputError(path, f"{what} holds {n_bad} NaN/Inf values")
    return array


def quiet_known_warnings() -> None:
    """Keras 2 warns about two things l1ad does on purpose: HDF5 model files (hls4ml and
    QKeras read them) and QKeras quantizers passed where Keras expects constraints."""
    warnings.filterwarnings("ignore", message="You are saving your model as an HDF5 file")
    warnings.filterwarnings("ignore", message=r"The `keras.constraints.serialize\(\)` API")
