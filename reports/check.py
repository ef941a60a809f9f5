"""The CI gate: ``l1ad check`` reads report.json and fails naming the model and the figure.

Gated per model and per signal: the quantized AUC may not fall more than
``check.auc_drop_tolerance`` below float; the C simulation must agree with QKeras
(AUC within ``check.csim_auc_tolerance``, at least ``check.csim_within_1lsb_min`` of
events within one output LSB); per model and class (background and each signal), at most
``check.max_saturated_fraction`` of the csim-traced events may have a layer saturating or
wrapping; the RTL simulation (``firmware.rtl``), where it ran, must equal csim on every test
event; the firmware must keep ``check.min_efficiency_ratio`` of the float model's signal efficiency at
the trigger rate (``efficiency_failures``: judged by the ratio's 68% interval); and every model must fit the L1 budget of ``firmware.budget`` (``firmware/budget.py``):
latency, II x clock period, LUT, DSP, FF and BRAM18 as fractions of the part, at most the limits of
its class (``cnn`` with a convolution, else ``dense``) after its ``overrides``. The budget is
recomputed here from report.json's ``resources`` with the config given, so ``l1ad check --config``
with another budget needs no rebuild; each figure over its limit is one failure naming the model,
the figure, its value, its limit and the source of the figures (l1ad estimate, vendor report, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from firmware.budget import failure_phrases, layers_have_convolution, model_budget
from l1ad.config import Config
from l1ad.errors import GateError


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
        rtl = model.get("rtl")
        if rtl and rtl.get("exact_fraction") is not None and rtl["exact_fraction"] < 1.0:
            failures.append(
                f"{name}: RTL (Verilator) == csim for {rtl['exact_fraction']:.4%} of {rtl['events']} events < 100%"
            )
        check = ((model.get("trigger") or {}).get("background_sample") or {}).get("check") or {}
        if check.get("events") and check["rtl_equals_csim_fraction"] < 1.0:
            failures.append(
                f"{name}: RTL == csim for {check['rtl_equals_csim_fraction']:.4%} of the first "
                f"{check['events']} rate-sample events < 100%"
            )
        failures += efficiency_failures(name, model.get("efficiency_at_rate"), config)
        failures += budget_failures(name, model, config)
    return failures


def efficiency_failures(name: str, record: dict[str, Any] | None, config: Config) -> list[str]:
    """One phrase per signal of model ``name`` whose firmware keeps less than ``check.min_efficiency_ratio``
    of the float efficiency at the trigger rate beyond statistics: the ratio's upper 68% bound is below the
    limit, on a signal where at least ``check.min_float_passing`` events pass the float threshold.

    A report without the record (built by an older l1ad) fails: the gate cannot vouch for what it cannot see.
    """
    tol = config.check
    if record is None:
        return [f"{name}: no efficiency at the trigger rate in the report; rerun `l1ad report`"]
    failures = []
    for signal, s in record["signals"].items():
        interval = s.get("ratio_interval_68")
        if s["float"]["n_pass"] < tol.min_float_passing or s.get("ratio") is None or interval is None:
            continue
        if interval[1] < tol.min_efficiency_ratio:
            fw = s[record["firmware"]]
            failures.append(
                f"{name}/{signal}: efficiency at {record['rate_hz'] / 1e3:g} kHz {record['firmware']} "
                f"{fw['efficiency']:.4%} vs float {s['float']['efficiency']:.4%}: ratio {s['ratio']:.3f} "
                f"(68% [{interval[0]:.3f}, {interval[1]:.3f}]) < {tol.min_efficiency_ratio}"
            )
    return failures


def budget_failures(name: str, model: dict[str, Any], config: Config) -> list[str]:
    """One phrase per budget figure of model ``name`` over its limit, e.g.
    ``ae: latency_ns 85 > limit 50 (l1ad estimate)``, from the report's resources and the config's budget.

    The class of graph is the report's (``budget.kind``, decided from the firmware's graph), else
    whether a per-layer row of the resources is a convolution. A model without resources fails.
    """
    resources = model.get("resources")
    if not isinstance(resources, dict) or not resources:
        return [
            f"{name}: no resources in the report, so no L1 budget check; rerun `l1ad firmware` and `l1ad report`"
        ]
    kind = (model.get("budget") or {}).get("kind")
    is_cnn = kind == "cnn" if kind in ("cnn", "dense") else layers_have_convolution(resources)
    return failure_phrases(name, model_budget(name, resources, is_cnn, config.firmware))


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


def built_for_failures(report: dict[str, Any], config: Config) -> list[str]:
    """One phrase per model built for another part or clock than ``config`` names: its budget fractions and
    latency are those of the built design, so judging them against this config's part would mislead."""
    fw = config.firmware
    failures = []
    for name, model in report.get("models", {}).items():
        res = model.get("resources") or {}
        built = (res.get("part"), res.get("clock_period_ns"))
        if None not in built and built != (fw.part, fw.clock_period_ns):
            failures.append(
                f"{name}: built for {built[0]} at {built[1]:g} ns, the config names {fw.part} at "
                f"{fw.clock_period_ns:g} ns: rebuild with `l1ad firmware` (or check with the config it was built with)"
            )
    return failures


def check_report(config: Config, run_dir: Path, baseline: str | Path | None = None) -> list[str]:
    """Apply the gate to ``run_dir``'s report.json, and with ``baseline`` the comparison with that run
    (``reports.compare``); raise ``GateError`` listing the failures and regressions."""
    from reports.compare import compare, read_report

    report, path = read_report(run_dir)
    failures = built_for_failures(report, config) + gate_failures(report, config)
    if baseline is not None:
        failures += [f"against {baseline}: {r}" for r in compare(baseline, path, config.check)["regressions"]]
    if failures:
        raise GateError(f"gate failed ({len(failures)}): " + "; ".join(failures))
    return failures
