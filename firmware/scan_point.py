"""The firmware of one design-space scan point: a QKeras twin through the firmware stage's own build, an
HGQ twin through its proxy model (``firmware.hgq_hls``); what scores further events as that firmware
does, and its signal efficiency at the trigger rate against the float model's (``efficiency_summary``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from firmware.hgq_hls import convert_proxy, validate_proxy
from firmware.stage import build_firmware
from firmware.vendor import resources_report
from l1ad.artifacts import RELATIVE, RunPaths, ScanPointPaths
from l1ad.config import Config, FirmwareConfig, QuantBits
from quantize import hgq
from quantize.qmodels import declared_inputs, input_format, save_qmodel
from quantize.quantizer import HGQ, QKeras, Quantizer
from training import metrics
from training.data.splits import Splits
from training.efficiency import efficiency_at_rate
from training.stage import read_rate_scores, score_rate_sample


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


def efficiency_summary(
    config: Config,
    paths: RunPaths,
    model: str,
    family: str,
    splits: Splits,
    float_scores: np.ndarray,
    quantized: np.ndarray,
    firmware_scorer: Callable[[np.ndarray], np.ndarray],
) -> dict[str, Any]:
    """A quantized model's signal efficiency at ``firmware.trigger_rate_hz`` against the float model's
    (``training.efficiency``) at a scan point. ``quantized`` are its exact
    test-set scores, ``firmware_scorer`` scores further events as its firmware does; the thresholds are
    set on the run's rate sample where it has one (float scores from the train stage), else on the test
    background. ``min_ratio`` is the smallest ratio over the signals the gate judges (at least
    ``check.min_float_passing`` float-passing events), None if none."""
    y, classes, n_bkg = splits.test.y, splits.classes, splits.n_background_classes
    rate, bc = config.firmware.trigger_rate_hz, config.metrics.bunch_crossing_rate_hz
    sample, float_rate = paths.data.rate_sample(family), paths.train.rate_scores(model)
    on_sample = sample.is_file() and float_rate.is_file()
    float_background = read_rate_scores(float_rate) if on_sample else float_scores[y < n_bkg]
    float_signals = {classes[k]: float_scores[y == k] for k in range(n_bkg, len(classes))}
    threshold = metrics.threshold_for_rate(float_background, rate, bc)["threshold"]
    float_pass = {name: int(np.count_nonzero(s > threshold)) for name, s in float_signals.items()}
    summary: dict[str, Any] = {
        "rate_hz": rate,
        "n_background": len(float_background),
        "source": f"generated background, {RELATIVE.data.rate_sample(family)}"
        if on_sample
        else "test set background",
        "min_ratio": None,
        "notes": [],
    }
    if max(float_pass.values()) < config.check.min_float_passing:
        # nothing the gate would judge: the rate sample is not scored again (minutes for a CNN)
        summary["signals"] = {
            name: {"float": n / len(float_signals[name]), "n_float_pass": n, "quantized": None, "ratio": None}
            for name, n in float_pass.items()
        }
        summary["notes"].append(
            f"fewer than {config.check.min_float_passing} signal events pass the float threshold for every signal: "
            "the quantized model's efficiency is not computed"
        )
        return summary
    quantized_background = (
        score_rate_sample(sample, firmware_scorer, config.data.chunk_events, log=lambda _: None)
        if on_sample
        else quantized[y < n_bkg]
    )
    record = efficiency_at_rate(
        {"float": float_background, "quantized": quantized_background},
        {
            name: {"float": s, "quantized": quantized[y == classes.index(name)]}
            for name, s in float_signals.items()
        },
        rate,
        bc,
        firmware="quantized",
        seed=config.run.seed,
    )
    summary["signals"] = {
        name: {
            "float": s["float"]["efficiency"],
            "quantized": s["quantized"]["efficiency"],
            "n_float_pass": s["float"]["n_pass"],
            "ratio": s.get("ratio"),
            "ratio_interval_68": s.get("ratio_interval_68"),
        }
        for name, s in record["signals"].items()
    }
    gated = [
        s["ratio"]
        for s in summary["signals"].values()
        if s["n_float_pass"] >= config.check.min_float_passing and s["ratio"] is not None
    ]
    summary["min_ratio"] = min(gated) if gated else None
    summary["notes"] += record["notes"]
    return summary
