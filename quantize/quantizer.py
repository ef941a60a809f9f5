"""One face for the two quantizers, and the formats of a bit-width point (``scan_bits``).

``QKeras`` (one format per role, ``quantize.qmodels``) and ``HGQ`` (a bit width per weight and
activation learned under an EBOPs penalty, ``quantize.hgq``) answer the same calls: retrain the
twin of a float scorer's deployable graph from its float weights (``train_from_float``), give the
exact scores the C simulation must equal (``reference_scores``). Their firmware is built by
``firmware.scan_point``. The quantize stage uses QKeras; ``l1ad scan`` either, per point.
"""

from __future__ import annotations

import dataclasses
import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from l1ad.config import QuantBits
from quantize import hgq
from quantize.qmodels import declared_inputs, predict_exact, to_qkeras
from training.data.splits import Split


def scan_bits(default: QuantBits, b: int, input_format: tuple[int, int] | None = None) -> QuantBits:
    """Uniform internal width ``b`` for weights, biases and activations (``b`` 0: as configured in
    ``default``); the input and output formats stay as configured (they are the interface to the trigger
    system) unless ``input_format`` (bits, integer bits) replaces the input's."""
    if input_format is not None:
        default = dataclasses.replace(default, input_bits=input_format[0], input_integer=input_format[1])
    if b == 0:
        return default
    return dataclasses.replace(
        default,
        weight_bits=b,
        weight_integer=min(default.weight_integer, b - 1),
        bias_bits=b,
        bias_integer=min(default.bias_integer, b - 1),
        activation_bits=b,
        activation_integer=min(default.activation_integer, b),
    )


def retrain(
    scorer: Any, model: Any, bits: QuantBits, train: Split, val: Split, epochs: int, lr: float
) -> dict:
    """Retrain a quantized twin ``model`` with the scorer's own recipe on input-quantized data; its history.

    A scorer that uses labels gets the split's background labels and nuisance (NuRD also refits its
    frozen head on the twin's representation, even without retraining epochs).
    """
    Xq, Xq_val = declared_inputs(train.X, bits), declared_inputs(val.X, bits)
    if scorer.uses_labels:
        return scorer.train_graph(
            model, Xq, Xq_val, epochs, lr, y=train.y, nuisance=train.nuisance, y_val=val.y
        )
    return scorer.train_graph(model, Xq, Xq_val, epochs, lr) if epochs > 0 else {}


class Quantizer(ABC):
    """What the quantize stage and the design-space scan ask of a quantizer."""

    name: ClassVar[str]  # as in ``ScanPoint.quantizer``

    @abstractmethod
    def train_from_float(
        self, scorer: Any, bits: QuantBits, train: Split, val: Split, epochs: int, lr: float
    ) -> tuple[Any, dict[str, Any]]:
        """The twin of ``scorer.model`` retrained from the float weights (``retrain``): (model, history)."""

    @abstractmethod
    def reference_scores(self, model: Any, X: np.ndarray, bits: QuantBits) -> np.ndarray:
        """Exact (float64) scores of the trained twin on ``X`` (float inputs, put in the declared
        format here): what the C simulation must equal event by event."""


class QKeras(Quantizer):
    """QKeras twins: ``quantized_bits`` / ``quantized_relu`` with one format per role (``QuantBits``)."""

    name = "qkeras"

    def train_from_float(
        self, scorer: Any, bits: QuantBits, train: Split, val: Split, epochs: int, lr: float
    ) -> tuple[Any, dict[str, Any]]:
        qmodel = to_qkeras(scorer.model, bits)
        return qmodel, retrain(scorer, qmodel, bits, train, val, epochs, lr)

    def reference_scores(self, model: Any, X: np.ndarray, bits: QuantBits) -> np.ndarray:
        return predict_exact(model, declared_inputs(X, bits))


@dataclasses.dataclass(frozen=True)
class HGQ(Quantizer):
    """HGQ twins, bit widths learned from ``bits`` under ``settings.beta`` x EBOPs; the firmware is built
    from their proxy model (``quantize.hgq``)."""

    settings: hgq.HGQSettings = dataclasses.field(default_factory=hgq.HGQSettings)
    name: ClassVar[str] = "hgq"

    def train_from_float(
        self, scorer: Any, bits: QuantBits, train: Split, val: Split, epochs: int, lr: float
    ) -> tuple[Any, dict[str, Any]]:
        """Also times the training (``train_seconds``) and rounds the frozen constants afterwards
        (``hgq.round_frozen_constants`` with ``bits.output_bits``: ``frozen_constants``). HGQ's
        ``beta`` x EBOPs and bit-width regularisers are Keras layer losses, which ``keras_fit`` adds to
        the scorer's loss; NuRD's twin is trained by representation distillation, whose loop adds the
        twin's layer losses only if the scorer does so (see the report for the NuRD status)."""
        model = hgq.to_hgq(scorer.model, bits, self.settings)
        start = time.perf_counter()
        history = dict(retrain(scorer, model, bits, train, val, epochs, lr))
        history["train_seconds"] = time.perf_counter() - start
        history["frozen_constants"] = hgq.round_frozen_constants(model, bits.output_bits)
        return model, history

    def reference_scores(self, model: Any, X: np.ndarray, bits: QuantBits) -> np.ndarray:
        """The exact scores of the proxy whose ranges are traced on ``X`` itself."""
        Xq = declared_inputs(X, bits)
        return hgq.proxy_scores(hgq.proxy_model(model, Xq), Xq)


def quantizer_for(name: str, beta: float = 0.0) -> Quantizer:
    """The quantizer a config names (``ScanPoint.quantizer``): ``qkeras``, or ``hgq`` with the
    resource penalty ``beta``."""
    if name == QKeras.name:
        return QKeras()
    if name == HGQ.name:
        return HGQ(hgq.HGQSettings(beta=beta))
    raise ValueError(f"unknown quantizer {name!r}: qkeras or hgq")
