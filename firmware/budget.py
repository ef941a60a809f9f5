"""The L1 latency and resource budget: one evaluation for the report and the gate.

A deployed model is within budget when its latency, its initiation interval (in ns: II cycles x
clock period) and its LUT, DSP, FF and BRAM18 counts as fractions of the part are each at most the
limit of ``firmware.budget`` for its class of graph (``cnn`` with a convolution, else ``dense``),
with the model's ``firmware.budget.overrides`` replacing the class default figure by figure.

The figures are read from the model's ``resources`` (an l1ad estimate, a vendor report or
whatever source the firmware stage records) and the limits from the current config, so a new
budget needs no firmware rebuild. A figure that cannot be read (no latency in a vendor report, a
part whose capacity is unknown) cannot pass: its value is None and its note says why.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from firmware.records import Budget
from firmware.resources import ESTIMATE_WITH_DA
from l1ad.config import BUDGET_FIGURES, BUDGET_FRACTIONS, BudgetConfig
from l1ad.parts import part_capacity

SOURCE_LABELS = {
    "estimate": "l1ad estimate",
    "synthesized": "vendor report",
    "da4ml": "da4ml cost",
    ESTIMATE_WITH_DA: "da4ml cost (DA layers) + l1ad estimate",
}


def source_label(source: Any) -> str:
    """What a resources ``source`` means, for people ("estimate" -> "l1ad estimate"); others pass through."""
    return SOURCE_LABELS.get(str(source), str(source))


def has_convolution(validation: dict[str, Any]) -> bool:
    """Whether a model's graph has a convolution: the firmware stage's ``has_convolution`` when it
    wrote one (``csim_validation.json``), else a layer class of the resource estimate naming one
    (hls4ml's Conv1D, Conv2D, PointwiseConv2D, DepthwiseConv2D, SeparableConv2D, ...)."""
    if validation.get("has_convolution") is not None:
        return bool(validation["has_convolution"])
    return layers_have_convolution(validation.get("resources") or {})


def layers_have_convolution(resources: dict[str, Any]) -> bool:
    """Whether any per-layer row of ``resources`` is an hls4ml convolution class."""
    layers = resources.get("layers") or {}
    return any("Conv" in str(row.get("class_name", "")) for row in layers.values() if isinstance(row, dict))


def budget_for(name: str, is_cnn: bool, budget: BudgetConfig) -> dict[str, float]:
    """The limits of model ``name``: its class default (``cnn`` or ``dense``) with its overrides applied."""
    limits = dataclasses.asdict(budget.cnn if is_cnn else budget.dense)
    limits.update(budget.overrides.get(name, {}))
    return {key: float(limits[key]) for key in BUDGET_FIGURES}


def _capacity(resources: dict[str, Any]) -> dict[str, Any]:
    capacity = resources.get("part_capacity") or part_capacity(str(resources.get("part") or "")) or {}
    return capacity


def resource_summary(resources: dict[str, Any], clock_period_ns: float) -> dict[str, Any]:
    """The budget's figures of ``resources``: latency and II in ns, LUT/DSP/FF/BRAM18 counts and their
    fractions of the part (None where the count or the part's capacity is unknown), and the source."""
    capacity = _capacity(resources)
    ii = resources.get("ii")
    summary: dict[str, Any] = {
        "latency_ns": _number(resources.get("latency_ns")),
        "ii_ns": None if _number(ii) is None else float(ii) * float(clock_period_ns),
    }
    for key in BUDGET_FRACTIONS:
        summary[key] = _number(resources.get(key))
    for key in BUDGET_FRACTIONS:
        count, available = summary[key], _number(capacity.get(key))
        summary[f"{key}_fraction"] = None if count is None or not available else count / available
    summary["source"] = resources.get("source")
    return summary


def evaluate_budget(
    resources: dict[str, Any], limits: dict[str, float], clock_period_ns: float, kind: str = "dense"
) -> Budget:
    """``resources`` against ``limits`` (from ``budget_for``): per figure its value, limit and verdict.

    Returns ``{"passed", "kind", "figures": {figure: {"value", "limit", "passed"[, "count", "note"]}},
    "source", "label", "clock_period_ns"}``; resource values are fractions of the part (``count`` holds
    the count). A figure without a value fails, with a note saying why.
    """
    summary = resource_summary(resources, clock_period_ns)
    figures: dict[str, Any] = {}
    for key in BUDGET_FIGURES:
        fraction = key in BUDGET_FRACTIONS
        value = summary[f"{key}_fraction"] if fraction else summary[key]
        figure: dict[str, Any] = {"value": value, "limit": float(limits[key]), "passed": False}
        if fraction:
            figure["count"] = summary[key]
        if value is not None:
            figure["passed"] = bool(value <= limits[key])
        elif fraction and summary[key] is not None:
            figure["note"] = "the part's capacity is unknown: no fraction of the part"
        else:
            figure["note"] = f"no {key} in the resources ({source_label(summary['source'])})"
        figures[key] = figure
    return {
        "passed": all(f["passed"] for f in figures.values()),
        "kind": kind,
        "figures": figures,
        "source": summary["source"],
        "label": source_label(summary["source"]),
        "clock_period_ns": float(clock_period_ns),
    }


def model_budget(name: str, resources: dict[str, Any], is_cnn: bool, firmware: Any) -> Budget:
    """Model ``name``'s budget verdict under ``firmware`` (a FirmwareConfig: its budget, and its clock
    where ``resources`` does not record the clock it was built for)."""
    clock = _number(resources.get("clock_period_ns")) or float(firmware.clock_period_ns)
    limits = budget_for(name, is_cnn, firmware.budget)
    return evaluate_budget(resources, limits, clock, kind="cnn" if is_cnn else "dense")


def failure_phrases(name: str, verdict: Budget) -> list[str]:
    """One phrase per figure of ``verdict`` (``evaluate_budget``'s) that fails, naming the model, the
    figure, its value and its limit: ``ae: latency_ns 85 > limit 50 (l1ad estimate)``."""
    phrases = []
    for key, f in verdict["figures"].items():
        if f["passed"]:
            continue
        label = verdict.get("label") or source_label(verdict.get("source"))
        if f["value"] is None:
            phrases.append(
                f"{name}: {key} unknown ({f.get('note', 'no value')}), limit {_show(key, f['limit'])}"
            )
        elif key in BUDGET_FRACTIONS:
            phrases.append(
                f"{name}: {key} {f['count']:.0f} = {_show(key, f['value'])} of the part "
                f"> limit {_show(key, f['limit'])} ({label})"
            )
        else:
            phrases.append(
                f"{name}: {key} {_show(key, f['value'])} > limit {_show(key, f['limit'])} ({label})"
            )
    return phrases


def _show(key: str, value: float) -> str:
    """A budget figure as people read it: ns as plain numbers, fractions of the part as percentages."""
    return f"{100.0 * value:.2f}%" if key in BUDGET_FRACTIONS else f"{value:g}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)
