"""The firmware of one design-space scan point: a QKeras twin through the firmware stage's own build, an
HGQ twin through its proxy model (``firmware.hgq_hls``); and what scores further events as that firmware
does (the rate sample its trigger threshold is set on)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from firmware.hgq_hls import convert_proxy, validate_proxy
from firmware.stage import build_firmware
from firmware.vendor import resources_report
from l1ad.artifacts import ScanPointPaths
from l1ad.config import Config, FirmwareConfig, QuantBits
from quantize import hgq
from quantize.qmodels import declared_inputs, input_format, save_qmodel
from quantize.quantizer import HGQ, QKeras, Quantizer
from training.data.splits import Splits


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


def build_point_firmware(
    quantizer: Quantizer, model: Any, history: dict[str, Any], bits: QuantBits, target: FirmwareTarget
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """The trained twin's model file and HLS project in the scan point folder ``target.out``
    (``ScanPointPaths``), its csim validation and resources: (validation figures, exact scores of the
    test set, csim scores)."""
    if isinstance(quantizer, HGQ):
        return _hgq_firmware(quantizer, model, history, bits, target)
    t = target
    save_qmodel(model, ScanPointPaths(t.out).qmodel)
    qkeras = quantizer.reference_scores(model, t.splits.test.X, bits)
    validation, csim, _ = build_firmware(
        t.name, model, bits, t.splits, qkeras, t.float_scores, t.config, t.fw, t.out, log=print
    )
    return validation, qkeras, csim


def _hgq_firmware(
    quantizer: HGQ, model: Any, history: dict[str, Any], bits: QuantBits, target: FirmwareTarget
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """``proxy.h5`` (ranges traced on the training and test inputs, everything the firmware scores here,
    as the QKeras path profiles its precisions), its hls4ml project and csim validation."""
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
        "quantizer": quantizer.name,
        "beta": quantizer.settings.beta,
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


def point_firmware_scorer(
    quantizer: Quantizer, model: Any, bits: QuantBits, out: Path
) -> Callable[[np.ndarray], np.ndarray]:
    """Exact scores of what ``build_point_firmware`` put into ``out`` on further events (float inputs, put
    in the declared format here): the QKeras twin itself, or the HGQ proxy it saved, whose ranges were
    fixed on the training and test inputs (it saturates beyond them, as the firmware does)."""
    if isinstance(quantizer, QKeras):
        return lambda X: quantizer.reference_scores(model, X, bits)
    proxy = hgq.load_proxy(ScanPointPaths(out).proxy)
    return lambda X: hgq.proxy_scores(proxy, declared_inputs(X, bits))
