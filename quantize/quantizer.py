"""One face for the two quantizers, and the formats of a bit-width point (``scan_bits``).

``QKeras`` (one format per role, ``quantize.qmodels``) and ``HGQ`` (a bit width per weight and
activation learned under an EBOPs penalty, ``quantize.hgq``) answer the same calls: retrain the
twin of a float scorer's deployable graph from its float weights (``train_from_float``), give the
exact scores the C simulation must equal (``reference_scores``) and build and check the firmware
of a trained twin (``build_firmware``), and score further events as that firmware does
(``firmware_scorer``). The quantize stage uses QKeras; ``l1ad scan`` either, per point.
"""

from __future__ import annotations

import dataclasses
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from l1ad.artifacts import ScanPointPaths
from l1ad.config import Config, FirmwareConfig, QuantBits
from quantize import hgq
from quantize.qmodels import declared_inputs, input_format, predict_exact, save_qmodel, to_qkeras
from training.data.splits import Split, Splits


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


@dataclasses.dataclass(frozen=True)
class FirmwareTarget:
    """Where and against what a scan point's firmware is built: the deployed model ``name``, its data
    splits and float test scores, the run's config, the point's firmware settings, its folder ``out``."""

    name: str
    splits: Splits
    float_scores: np.ndarray
    config: Config
    fw: FirmwareConfig
    out: Path


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

    @abstractmethod
    def build_firmware(
        self, model: Any, history: dict[str, Any], bits: QuantBits, target: FirmwareTarget
    ) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
        """The trained twin's model file and HLS project in the scan point folder ``out``
        (``ScanPointPaths``), its csim validation and resources: (validation figures, exact scores of
        the test set, csim scores)."""

    @abstractmethod
    def firmware_scorer(self, model: Any, bits: QuantBits, out: Path) -> Callable[[np.ndarray], np.ndarray]:
        """Exact scores of what ``build_firmware`` put into ``out`` on further events (float inputs, put in
        the declared format here): the rate sample the point's trigger threshold is set on."""


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

    def build_firmware(
        self, model: Any, history: dict[str, Any], bits: QuantBits, target: FirmwareTarget
    ) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
        """``qmodel.h5`` and the firmware stage's own build (``firmware.stage.build_firmware``)."""
        from firmware.stage import build_firmware

        t = target
        save_qmodel(model, ScanPointPaths(t.out).qmodel)
        qkeras = self.reference_scores(model, t.splits.test.X, bits)
        validation, csim, _ = build_firmware(
            t.name, model, bits, t.splits, qkeras, t.float_scores, t.config, t.fw, t.out, log=print
        )
        return validation, qkeras, csim

    def firmware_scorer(self, model: Any, bits: QuantBits, out: Path) -> Callable[[np.ndarray], np.ndarray]:
        return lambda X: self.reference_scores(model, X, bits)


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

    def build_firmware(
        self, model: Any, history: dict[str, Any], bits: QuantBits, target: FirmwareTarget
    ) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
        """``proxy.h5`` (ranges traced on the training and test inputs, everything the firmware scores
        here, as the QKeras path profiles its precisions), its hls4ml project and csim validation."""
        from firmware.hgq_hls import convert_proxy, validate_proxy
        from firmware.vendor import resources_report

        splits, fw = target.splits, target.fw
        X_train, X_test = declared_inputs(splits.train.X, bits), declared_inputs(splits.test.X, bits)
        proxy = hgq.proxy_model(model, np.concatenate([X_train, X_test]))
        paths = ScanPointPaths(target.out)
        hgq.save_proxy(proxy, paths.proxy)
        reference = hgq.proxy_scores(proxy, X_test)
        hls_model = convert_proxy(proxy, paths.hls_project, fw, f"l1ad_{target.name}")
        result, csim = validate_proxy(
            hls_model, X_test, splits.test.y, target.float_scores, reference, splits.n_background_classes
        )
        validation = {
            "model": target.name,
            "quantizer": self.name,
            "beta": self.settings.beta,
            **result["agreement"],
            "hgq_ebops": hgq.ebops(model),
            "input_format": input_format(bits),
            "output_format": result["output_type"],
            "output_lsb": result["output_lsb"],
            "layer_precisions": result["layer_precisions"],
            "auc_all_signals": result["auc"],
            "train_seconds": history["train_seconds"],
            "resources": resources_report(hls_model, fw.part, fw.clock_period_ns, synth=fw.synth, log=print),
        }
        return validation, reference, csim

    def firmware_scorer(self, model: Any, bits: QuantBits, out: Path) -> Callable[[np.ndarray], np.ndarray]:
        """The proxy ``build_firmware`` saved, whose ranges were fixed on the training and test inputs (it
        saturates beyond them, as the firmware does)."""
        proxy = hgq.load_proxy(ScanPointPaths(out).proxy)
        return lambda X: hgq.proxy_scores(proxy, declared_inputs(X, bits))


def quantizer_for(name: str, beta: float = 0.0) -> Quantizer:
    """The quantizer a config names (``ScanPoint.quantizer``): ``qkeras``, or ``hgq`` with the
    resource penalty ``beta``."""
    if name == QKeras.name:
        return QKeras()
    if name == HGQ.name:
        return HGQ(hgq.HGQSettings(beta=beta))
    raise ValueError(f"unknown quantizer {name!r}: qkeras or hgq")
