"""Refuse to run in a software stack that silently breaks QKeras -> hls4ml conversion.

With TensorFlow >= 2.16 the ``keras`` package is Keras 3; hls4ml 1.3 then picks its
Keras-3 parser and a QKeras (tf.keras 2) model fails to convert. numpy 2 breaks
TensorFlow 2.14 at import. Both are checked from package metadata, without
importing TensorFlow, so ``l1ad --help`` stays fast.
"""

from __future__ import annotations

import sys
from importlib import metadata

from l1ad.errors import L1adError

PINS = "tensorflow 2.14.1, keras 2.14, qkeras 0.9.0, hls4ml 1.3.0, numpy 1.26 (see README: Install)"


class EnvironmentDriftError(L1adError):
    """The installed stack is not the Keras-2 world l1ad is pinned to."""


def _major_minor(version: str) -> tuple[int, int]:
    parts = (version.split(".") + ["0", "0"])[:2]
    return tuple(int("".join(ch for ch in p if ch.isdigit()) or 0) for p in parts)  # type: ignore[return-value]


def check_versions(versions: dict[str, str | None]) -> None:
    """Raise ``EnvironmentDriftError`` if the given package versions break the pin."""
    tf, keras, numpy = versions.get("tensorflow"), versions.get("keras"), versions.get("numpy")
    if keras is not None and _major_minor(keras) >= (3, 0):
        raise EnvironmentDriftError(
            f"keras {keras} is Keras 3: QKeras models cannot be converted by hls4ml under Keras 3; "
            f"l1ad needs the Keras-2 stack: {PINS}"
        )
    if tf is not None and _major_minor(tf) >= (2, 16):
        raise EnvironmentDriftError(
            f"tensorflow {tf} ships Keras 3, which breaks QKeras -> hls4ml conversion; "
            f"l1ad needs the Keras-2 stack: {PINS}"
        )
    if numpy is not None and _major_minor(numpy) >= (2, 0):
        raise EnvironmentDriftError(
            f"numpy {numpy} breaks TensorFlow 2.14 at import; l1ad needs numpy<2: {PINS}"
        )


def installed_versions() -> dict[str, str | None]:
    """Versions of the packages whose pins matter, ``None`` where not installed."""
    names = ["tensorflow", "keras", "qkeras", "hls4ml", "numpy", "torch", "scikit-learn", "h5py"]
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def check_environment() -> None:
    """Check the running interpreter and installed stack; raise on drift."""
    if sys.version_info[:2] not in ((3, 10), (3, 11)):
        raise EnvironmentDriftError(
            f"Python {sys.version_info.major}.{sys.version_info.minor} is not supported: "
            "TensorFlow 2.14 has wheels for Python 3.10 and 3.11 only; use python3.11"
        )
    check_versions(installed_versions())
