"""The firmware stage's records, as typed records: what it writes for the report, ``l1ad csim`` and the scan.

Each file is written with ``l1ad.io.write_record`` and read with ``l1ad.io.read_record`` against the class
here, so a writer that drops a key fails where it writes and a reader meets a file of another l1ad
version as one line naming it. report.json's records (``reports.records``) reuse the ones the report
copies (resources, budget). Keys a record does not name are allowed (per-layer detail, tool output).
"""

from __future__ import annotations

from typing import Any, TypedDict


class Resources(TypedDict):
    """Latency and resources of the HLS design; ``source`` says where they come from (vendor report,
    l1ad estimate with da4ml cost, ...)."""

    source: str
    part: str
    clock_period_ns: float
    latency_cycles: int
    latency_ns: float
    ii: int
    lut: float
    dsp: float
    ff: float
    bram: float


class BudgetFigure(TypedDict):
    """One figure of the L1 budget: its value, the limit and whether it fits."""

    value: float | None
    limit: float
    passed: bool


class Budget(TypedDict):
    """The L1 budget (``firmware.budget``) the model is judged against, dense or CNN (``kind``)."""

    passed: bool
    kind: str
    figures: dict[str, BudgetFigure]
    source: str
    clock_period_ns: float


class CsimAgreement(TypedDict):
    """The C simulation against the exact quantized scores, event by event (``firmware.csim``)."""

    exact_fraction: float
    within_1lsb_fraction: float
    max_diff_lsb: float
    p999_diff_lsb: float
    n_events: int


class _Trigger(TypedDict):
    rate_hz: float
    bunch_crossing_rate_hz: float
    target_fpr: float
    fpr: float
    achieved_rate_hz: float
    rate_uncertainty_hz: float
    n_background: int
    n_background_pass: int
    reachable: bool
    threshold: float
    threshold_fixed: float
    threshold_raw: int
    score_type: str
    selection: str
    efficiency: dict[str, dict[str, Any]]
    note: str


class Trigger(_Trigger, total=False):
    """The trigger threshold for ``firmware.trigger_rate_hz`` on background csim scores, its firmware
    constant and each signal's efficiency (``firmware.trigger``); which background (``background_sample``)
    and, for a rate sample, the test set's own threshold beside it (``test_set``)."""

    background_sample: dict[str, Any]
    test_set: dict[str, Any]


class _Validation(CsimAgreement):
    model: str
    input_format: str
    output_format: str
    output_lsb: float
    layer_precisions: dict[str, str]
    auc_all_signals: dict[str, float | None]
    resources: Resources


class Validation(_Validation, total=False):
    """A firmware build's C simulation checked against the quantized model: the scan point's, and the
    common part of every build (``hls_project``: relative to the run directory)."""

    hls_project: str


class FirmwareValidation(_Validation):
    """A deployed model's ``csim_validation.json`` (``firmware.stage.build_firmware``): the agreement, the
    saturation trace, the precisions, the resources and the trigger threshold. Written last: its presence
    marks the model's firmware as complete."""

    hls_project: str
    io_type: str
    strategy: str
    has_convolution: bool
    saturated_events: int
    saturation: dict[str, Any]
    precision_profile: dict[str, Any]
    input_clipped: dict[str, Any]
    relu_inputs_beyond_float32: Any
    convert_seconds: float
    compile_seconds: float
    convert_compile_seconds: float
    csim_events_per_second: float
    testbench_events: int
    trigger: Trigger


class RTLRecord(TypedDict):
    """A deployed model's ``rtl.json`` (``firmware.rtl``): the da4ml Verilog's Verilator simulation
    against csim over the test set, and its synthesis (``source``: Yosys, Vivado, or why none ran;
    the synthesis figures are None then)."""

    latency_cycles: int
    latency_ns: float
    clock_period_ns: float
    da4ml_cost: float
    da4ml_reg_bits: Any
    events: int
    exact_fraction: float
    mismatched_events: int
    max_abs_diff: float
    qkeras_exact_fraction: float
    events_per_second: float | None
    build_seconds: float
    testbench_events: int
    lut: float | None
    ff: float | None
    carry: float | None
    dsp: float | None
    synth_seconds: float | None
    synth_cpu_seconds: float | None
    source: str
    rtl_project: str


class PointEfficiency(TypedDict):
    """A scan point's signal efficiency at the trigger rate against the float model's
    (``firmware.scan_point.efficiency_summary``); ``min_ratio``: the smallest ratio the gate would judge."""

    rate_hz: float
    n_background: int
    source: str
    min_ratio: float | None
    notes: list[str]
    signals: dict[str, dict[str, Any]]


class PointResult(TypedDict):
    """A scan point's ``result.json`` (``l1ad scan``): its settings and fingerprint, figures per signal and
    version (float, quantized, csim), efficiency at the rate, C simulation agreement and resources.
    Written last: a point folder is finished when it exists."""

    id: str
    point: dict[str, Any]
    fingerprint: str
    family: str
    trigger_fpr: float
    auc: dict[str, dict[str, float | None]]
    tpr_at_trigger: dict[str, dict[str, float | None]]
    input_format: str
    efficiency_at_rate: PointEfficiency
    csim_exact_fraction: float
    csim_within_1lsb_fraction: float
    saturated_fraction: float | None
    resources: dict[str, Any]
    hgq_ebops: float | None
    has_convolution: bool | None
    hls_project: str
    seconds: float
    convert_compile_seconds: float | None


class PointFailure(TypedDict):
    """A scan point that raised: ``failed/<id>.json``, with its error and traceback."""

    id: str
    point: dict[str, Any]
    error: str
    traceback: str


class _BYOValidation(CsimAgreement):
    model: str
    source_model: str
    hls_project: str
    precision_route: str
    post_training_quantization: dict[str, Any] | None
    inputs: str
    exact_expected: bool
    outputs: list[dict[str, Any]]
    output_lsb: float
    output_format: str
    input_format: str
    input_format_source: str
    io_type: str
    layer_precisions: dict[str, str]
    resources: Resources
    convert_seconds: float
    compile_and_csim_seconds: float
    notes: list[str]


class BYOValidation(_BYOValidation, total=False):
    """A bring-your-own model's ``csim_validation.json`` (``l1ad firmware --model``): csim against its
    reference per output (the worst output's agreement at top level; ``hls_project`` relative to the
    file's folder), how its precisions were chosen, resources, each layer's support (``firmware.layers``)
    and, with ``--rtl``, the RTL check."""

    layer_support: list[dict[str, Any]]
    rtl: dict[str, Any]
