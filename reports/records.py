"""report.json as typed records: the CI contract, and the JSON Schema shipped beside it.

``ReportJSON`` is what ``reports.stage.run_report`` writes; ``docs/report.schema.json`` is generated from
these classes (``python -m reports.records``) and a test keeps the two equal and validates a real run's
report.json against the file. Every record allows keys it does not name, so a reader of this schema
version keeps working when a figure is added; ``SCHEMA_VERSION`` moves when a key is removed, renamed or
changes its meaning (2: ``models.<name>.scan`` removed, the bit-width scan is ``scan``'s).

The records name the figures a CI job judges (AUC, efficiency at the trigger rate, resources, budget, RTL,
C simulation agreement) down to their numbers; deeper detail (per-layer resources, saturation traces,
rate curves) is typed as an open mapping.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TypedDict

from firmware.records import Budget, Resources
from l1ad.typed_schema import json_schema

SCHEMA_VERSION = 2
SCHEMA_ID = "https://l1ad.invalid/report.schema.json"  # the shipped file: docs/report.schema.json


class VersionFigures(TypedDict):
    """One figure per version of the scorer: float, QKeras (exact quantized model), C simulation."""

    float: float
    qkeras: float
    csim: float


class SignalEfficiency(TypedDict):
    """One version's signal efficiency at its own threshold for the trigger rate (68% Clopper-Pearson)."""

    efficiency: float | None
    n_pass: int | None
    interval_68: list[float] | None


class _SignalAtRate(TypedDict):
    n_signal: int
    float: SignalEfficiency
    csim: SignalEfficiency


class SignalAtRate(_SignalAtRate, total=False):
    """A signal at the trigger rate: each version's efficiency and the firmware / float ratio with its 68%
    interval (paired bootstrap); the gate judges ``ratio`` where enough float events pass."""

    qkeras: SignalEfficiency
    float_clipped: SignalEfficiency
    rtl: SignalEfficiency
    ratio: float | None
    ratio_interval_68: list[float] | None
    qkeras_ratio: float | None
    qkeras_ratio_interval_68: list[float] | None
    clipping_ratio: float | None


class EfficiencyAtRate(TypedDict):
    """The trigger's figure of merit: signal efficiency at ``rate_hz`` per version, thresholds set on
    ``n_background`` background events (``source``)."""

    rate_hz: float
    n_background: int
    source: str
    versions: list[str]
    firmware: str
    thresholds: dict[str, dict[str, Any]]
    signals: dict[str, SignalAtRate]
    notes: list[str]
    min_reliable_rate_hz: float | None


class RTLFigures(TypedDict):
    """The Verilog's Verilator simulation against csim over the whole test set, and its synthesis
    (``source``: Yosys synthesis, not Vivado, or Vivado place and route; None where none ran)."""

    exact_fraction: float | None
    events: int | None
    latency_cycles: int | None
    latency_ns: float | None
    source: str | None
    lut: float | None
    ff: float | None
    dsp: float | None
    da4ml_cost: float | None


class CsimAgreement(TypedDict):
    """The C simulation against the exact QKeras scores, event by event over the test set."""

    exact_fraction: float
    within_1lsb_fraction: float
    max_diff_lsb: float
    n_events: int
    output_lsb: float
    saturated_events: int


class SignalFigures(TypedDict):
    """One signal against the background, per version."""

    auc: VersionFigures
    max_sic: VersionFigures
    tpr_at_trigger: VersionFigures
    n_test: dict[str, int]


class FirmwareSettings(TypedDict):
    """What the HLS project was built for and with."""

    backend: str
    part: str
    clock_period_ns: float
    io_type: str
    strategy: str
    reuse_factor: int


class ModelReport(TypedDict):
    """One deployed scorer: its data, figures per version and signal, firmware, resources and budget."""

    family: str
    data: dict[str, Any]
    auc: VersionFigures
    tpr_at_trigger: VersionFigures
    tpr_working_point: dict[str, float]
    resources: Resources
    budget: Budget
    rtl: RTLFigures | None
    trigger: dict[str, Any]
    efficiency_at_rate: EfficiencyAtRate
    per_signal: dict[str, SignalFigures]
    float_seeds: dict[str, dict[str, float]]
    csim: CsimAgreement
    saturation: dict[str, Any]
    bits: dict[str, int]
    input_format: str
    output_format: str | None
    layer_precisions: dict[str, str]
    hls_project: str
    firmware: FirmwareSettings
    nuisance_correlation: dict[str, Any] | None
    frozen_head: dict[str, Any] | None
    plots: list[str]


class RunInfo(TypedDict):
    """The run the report describes: name, when, which commit and package versions, stage times."""

    name: str
    created: str
    git_commit: str | None
    versions: dict[str, str] | None
    stage_seconds: dict[str, float]


class _StudyRecord(TypedDict):
    title: str
    data: dict[str, Any]


class StudyRecord(_StudyRecord, total=False):
    """A full-precision study's ``study.json`` (``training.studies``), copied into report.json: its title,
    the data it ran on, and the study's own results (per method, its settings, plots, findings)."""

    device: Any
    settings: dict[str, Any]
    methods: dict[str, Any]
    plots: list[str]
    goal: dict[str, Any]
    findings: list[str]


class ReportJSON(TypedDict):
    """report.json: every deployed model, every study present, the design-space scan when one ran."""

    schema: int
    run: RunInfo
    models: dict[str, ModelReport]
    studies: dict[str, StudyRecord]
    scan: dict[str, Any] | None


def report_schema() -> dict[str, Any]:
    """The JSON Schema of report.json (what docs/report.schema.json holds)."""
    schema = json_schema(ReportJSON, f"l1ad report.json, schema {SCHEMA_VERSION}", SCHEMA_ID)
    schema["properties"]["schema"] = {"const": SCHEMA_VERSION}
    return schema


if __name__ == "__main__":
    json.dump(report_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")
