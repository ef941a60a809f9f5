"""The one protocol every anomaly scorer answers: fit on background, score, save, load.

Metrics, reports and scans only ever call these four methods, so no method is
special-cased downstream (the PyOD / scikit-learn estimator idea). Higher scores
mean more anomalous.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.errors import InputError
from l1ad.io import read_json, write_json

# kind -> "module:Class"; imported only when a scorer of that kind is loaded, so
# loading an OC-SVM never imports TensorFlow.
SCORER_CLASSES = {
    "ocdn": "training.ocdn:OCDN",
    "ae": "training.autoencoder:L1Autoencoder",
    "ocsvm": "training.ocsvm:OneClassSVMScorer",
    "deep_svdd": "training.deep_svdd:DeepSVDD",
    "bottleneck_ae": "training.bottleneck_ae:BottleneckAE",
    "torch_ae": "training.nae:TorchAutoencoder",
    "nae": "training.nae:NormalizedAutoencoder",
    "mpdr": "training.mpdr:MPDR",
    "anomalyclr": "training.anomalyclr:AnomalyCLR",
    "nurd": "training.nurd:NuRD",
    "conv_ae": "training.conv_ae:ConvAutoencoder",
}


class Scorer(abc.ABC):
    """Base class of all scorers; ``kind`` is the key in ``SCORER_CLASSES``.

    A scorer that learns from labelled backgrounds (NuRD: QCD vs W/Z with the jet mass as
    nuisance) sets ``uses_labels`` and its ``fit`` also takes, by keyword, ``y`` (the background
    class of each event in ``X``), ``nuisance`` and ``y_val``; callers pass them only then.
    """

    kind: str = ""
    uses_labels: bool = False

    @abc.abstractmethod
    def fit(self, X: np.ndarray, X_val: np.ndarray | None = None) -> Scorer:
        """Train on background-only events ``X`` (``X_val`` for monitoring)."""

    @abc.abstractmethod
    def score(self, X: np.ndarray) -> np.ndarray:
        """Anomaly score per event, shape (N,), higher = more anomalous."""

    @abc.abstractmethod
    def save(self, directory: str | Path) -> None:
        """Write everything needed to ``load`` into ``directory`` (no pickle)."""

    @classmethod
    @abc.abstractmethod
    def load(cls, directory: str | Path) -> Scorer:
        """Rebuild a scorer written by ``save``."""


def write_scorer_meta(directory: str | Path, kind: str, fields: dict[str, Any]) -> None:
    """Write ``scorer.json`` into ``directory``: the scorer's ``kind`` (what ``load_scorer`` reads), then ``fields``."""
    write_json(Path(directory) / "scorer.json", {"kind": kind, **fields})


def read_scorer_meta(directory: str | Path, kind: str) -> dict:
    """``scorer.json`` of ``directory``, checked to hold a scorer of ``kind``."""
    path = Path(directory) / "scorer.json"
    meta = read_json(path)
    if not isinstance(meta, dict) or meta.get("kind") != kind:
        got = meta.get("kind") if isinstance(meta, dict) else None
        raise InputError(path, f"holds a {got!r} scorer, not {kind!r}")
    return meta


@contextlib.contextmanager
def malformed_meta(directory: str | Path, kind: str) -> Iterator[None]:
    """Turn a missing or mistyped entry met while rebuilding a scorer from ``scorer.json`` into an ``InputError``."""
    try:
        yield
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(Path(directory) / "scorer.json", f"malformed {kind} metadata ({exc!r})") from None


def config_from_dict(config_class: type, raw: dict[str, Any]) -> Any:
    """A settings dataclass from its ``dataclasses.asdict`` read back from JSON: unknown keys are dropped
    (a file written by another version), lists become the tuples the dataclasses hold."""
    fields = {f.name for f in dataclasses.fields(config_class)}
    return config_class(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in fields})


def load_scorer(directory: str | Path) -> Scorer:
    """Load any saved scorer: ``scorer.json`` in ``directory`` names its kind."""
    directory = Path(directory)
    meta = read_json(directory / "scorer.json")
    kind = meta.get("kind") if isinstance(meta, dict) else None
    if kind not in SCORER_CLASSES:
        raise InputError(directory / "scorer.json", f"unknown scorer kind {kind!r}")
    return scorer_class(kind).load(directory)


def scorer_class(kind: str) -> type[Scorer]:
    """The scorer class of ``kind`` (a key of ``SCORER_CLASSES``), imported now."""
    module_name, class_name = SCORER_CLASSES[kind].split(":")
    return getattr(importlib.import_module(module_name), class_name)
