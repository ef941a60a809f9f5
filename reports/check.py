"""The CI gate: ``l1ad check`` reads report.json and fails naming the model and the figure.

Gated per model and per signal: the quantized AUC may not fall more than
``check.auc_drop_tolerance`` below float; the C simulation must agree with QKeras
(AUC within ``check.csim_auc_tolerance``, at least ``check.csim_within_1lsb_min`` of
events within one output LSB); per model and class (background and each signal), at most
``check.max_saturated_fraction`` of the csim-traced events may have a layer saturating or
wrapping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from l1ad.config import Config
from l1ad.errors import GateError, InputError
from l1ad.io import read_json


def gate_failures(report: dict[str, Any], config: Config) -> list[str]:
    """Every gate failure of ``report`` as one readable phrase each (empty when it passes)."""
    tol = config.check
    failures = []
    for name, model in report.get("models", {}).items():
        for signal, figures in model.get("per_signal", {}).items():
            auc = figures["auc"]
            if auc["qkeras"] < auc["float"] - tol.auc_drop_tolerance:
                failures.append(
                    f"{name}/{signal}: AUC_qkeras {auc['qkeras']:.4f} < AUC_float {auc['float']:.4f}"
                    f" - {tol.auc_drop_tolerance}"
                )
            if abs(auc["csim"] - auc["qkeras"]) > tol.csim_auc_tolerance:
                failures.append(
                    f"{name}/{signal}: |AUC_csim {auc['csim']:.4f} - AUC_qkeras {auc['qkeras']:.4f}|"
                    f" > {tol.csim_auc_tolerance}"
                )
        within = model["csim"]["within_1lsb_fraction"]
        if within < tol.csim_within_1lsb_min:
            failures.append(
                f"{name}: csim within 1 LSB of QKeras for {within:.4%} of events < {tol.csim_within_1lsb_min:.2%}"
            )
        failures += saturation_failures(name, model.get("saturation"), tol.max_saturated_fraction)
    return failures


def saturation_failures(name: str, saturation: dict[str, Any] | None, limit: float) -> list[str]:
    """One phrase per class of model ``name`` whose saturated fraction exceeds ``limit``.

    A report without per-class figures (firmware built by an older l1ad) fails too: the gate
    cannot vouch for what it cannot see.
    """
    per_class = (saturation or {}).get("per_class")
    if per_class is None:
        return [f"{name}: no per-class saturation figures; rerun `l1ad firmware --force`"]
    failures = []
    for cls, s in per_class.items():
        if s["fraction"] > limit:
            layers = ", ".join(f"{layer} {n}" for layer, n in s["layers"].items())
            failures.append(
                f"{name}/{cls}: a layer saturates or wraps in {s['fraction']:.2%} of traced events "
                f"({s['n_events']} of {s['n_traced']}; {layers}) > {limit:.2%}"
            )
    return failures


def check_report(config: Config, run_dir: Path) -> list[str]:
    """Apply the gate to ``run_dir``'s report.json; raise ``GateError`` listing the failures."""
    path = Path(run_dir) / "report" / "report.json"
    if not path.is_file():
        raise InputError(path, "no report.json: run `l1ad report` (or `l1ad run`) first")
    report = read_json(path)
    if not isinstance(report, dict) or "models" not in report:
        raise InputError(path, "not an l1ad report (no 'models')")
    failures = gate_failures(report, config)
    if failures:
        raise GateError(f"gate failed ({len(failures)}): " + "; ".join(failures))
    return failures
