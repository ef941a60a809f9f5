"""Fixed-point safety: a layer that overflows in the C simulation is counted per class and fails the gate.

Real hls4ml conversion and g++ compile of a small QKeras MLP. Its precisions are profiled
on background only, so background fits its types by construction while a signal whose inputs
lie far outside that range must overflow the Dense sums: the per-class trace has to see it
there, and only there, and ``l1ad check`` has to fail naming the model, the class and the fraction.
"""

from __future__ import annotations

import numpy as np
import pytest

from firmware import csim, hls
from l1ad.config import Config, FirmwareConfig, OCDNConfig, QuantBits
from l1ad.errors import GateError
from l1ad.io import write_json
from l1ad.parts import part_capacity
from quantize import qmodels
from reports.check import check_report, gate_failures
from reports.stage import saturation_figures, saturation_line
from tests.test_budget import EFFICIENCY_KEPT
from training.ocdn import OCDN

BITS = QuantBits()
CLASSES = ["background", "wide"]
# resources inside the default L1 budget (firmware.budget.dense), so only saturation decides here
WITHIN_BUDGET = {
    "source": "estimate",
    "clock_period_ns": 5.0,
    "latency_ns": 20.0,
    "ii": 1,
    "lut": 1000,
    "dsp": 0,
    "ff": 1000,
    "bram": 0,
    "part_capacity": part_capacity("xcvu9p"),
}


@pytest.fixture(scope="module")
def overflow_case(tmp_path_factory):
    rng = np.random.default_rng(5)
    background = rng.normal(0.0, 1.0, (600, 5))
    wide = rng.normal(0.0, 12.0, (300, 5))  # still inside the ap_fixed<16,7> input format: [-64, 64)
    quantize = lambda a: qmodels.quantize_inputs(a, BITS.input_bits, BITS.input_integer)  # noqa: E731
    X = quantize(np.concatenate([background, wide]))
    y = np.r_[np.zeros(len(background), int), np.ones(len(wide), int)]
    q = qmodels.to_qkeras(OCDN(OCDNConfig(hidden=(16,)), n_inputs=5, seed=3).build(), BITS)
    # Sized on background alone, with no headroom: the types fit background exactly.
    h = hls.convert(
        q, tmp_path_factory.mktemp("sat") / "prj", FirmwareConfig(headroom_bits=0), X[y == 0], "sat"
    )
    found = csim.saturation_events(h, q, X, max_events=200, y=y, classes=CLASSES)
    return found


def test_overflow_is_counted_per_class(overflow_case) -> None:
    found = overflow_case
    per_class = found["per_class"]
    assert per_class["background"]["n_traced"] == 200 and per_class["wide"]["n_traced"] == 200
    assert found["n_traced"] == 400
    # profiled on background: nothing of it leaves its type
    assert per_class["background"]["n_events"] == 0 and per_class["background"]["layers"] == {}
    # the wide signal overflows the Dense sums sized on background
    wide = per_class["wide"]
    assert wide["fraction"] > 0.2 and wide["fraction"] == wide["n_events"] / 200
    assert set(wide["layers"]) <= set(found["per_layer"]) and wide["layers"]
    assert max(wide["layers"].values()) == max(v["out_of_range"] for v in found["per_layer"].values())
    assert found["n_events"] == wide["n_events"]
    # firmware saturates where QKeras does not: the traced values deviate on those events
    assert 0 < wide["n_deviating_events"] <= wide["n_events"]
    # margins: sized on background with no headroom, background reaches its types' edges (margin in
    # [0, 1) bit); the wide class leaves its tightest layer's range (negative margin)
    assert 0.0 <= per_class["background"]["margin_bits"] < 1.0
    assert wide["margin_bits"] < 0 and wide["tightest_layer"] in wide["layers"]
    assert found["per_layer"]["relu_1"]["margin_bits"] is None  # a quantizer's type: it clips in QKeras too


def test_traceable_mask_keeps_the_trace_on_unseen_events(tmp_path) -> None:
    rng = np.random.default_rng(6)
    X = qmodels.quantize_inputs(rng.normal(0.0, 1.0, (300, 5)), BITS.input_bits, BITS.input_integer)
    q = qmodels.to_qkeras(OCDN(OCDNConfig(hidden=(8,)), n_inputs=5, seed=4).build(), BITS)
    h = hls.convert(q, tmp_path / "prj", FirmwareConfig(strategy="Latency"), X[:100], "mask")
    found = csim.saturation_events(h, q, X, max_events=1000, traceable=np.arange(300) >= 100)
    assert found["n_traced"] == 200  # only the events the types were not sized on


def _report(found: dict) -> dict:
    """A report.json model entry holding only what the gate reads besides saturation (all passing)."""
    return {
        "models": {
            "mlp": {
                "per_signal": {"wide": {"auc": {"float": 0.9, "qkeras": 0.9, "csim": 0.9}}},
                "csim": {"within_1lsb_fraction": 1.0},
                "saturation": saturation_figures(found, CLASSES),
                "efficiency_at_rate": EFFICIENCY_KEPT,
                "resources": WITHIN_BUDGET,
            }
        }
    }


def test_gate_fails_naming_model_class_and_fraction(overflow_case, tmp_path) -> None:
    report = _report(overflow_case)
    config = Config()
    failures = gate_failures(report, config)
    fraction = overflow_case["per_class"]["wide"]["fraction"]
    assert len(failures) == 1, failures
    assert failures[0].startswith(f"mlp/wide: a layer saturates or wraps in {fraction:.2%} of traced events")
    assert failures[0].endswith("> 0.10%")
    # the limit decides: above the measured fraction the same report passes
    config.check.max_saturated_fraction = fraction
    assert gate_failures(report, config) == []
    # through check_report (what `l1ad check` calls): one GateError naming the class
    write_json(tmp_path / "report" / "report.json", report)
    with pytest.raises(GateError, match=r"mlp/wide: a layer saturates or wraps"):
        check_report(Config(), tmp_path)
    line = saturation_line(report["models"]["mlp"]["saturation"], 0.001)
    assert "background 0.00% (0 of 200 traced, margin +0." in line and f"wide {fraction:.2%}" in line
    wide = overflow_case["per_class"]["wide"]
    assert f"margin {wide['margin_bits']:+.2f} bits at {wide['tightest_layer']}" in line


def test_report_without_per_class_figures_fails_the_gate(overflow_case) -> None:
    found = {k: v for k, v in overflow_case.items() if k != "per_class"}
    report = _report(found)
    assert report["models"]["mlp"]["saturation"]["per_class"] is None
    assert gate_failures(report, Config()) == [
        "mlp: no per-class saturation figures; rerun `l1ad firmware --force`"
    ]


def test_trace_rows_take_each_class_evenly() -> None:
    y = np.r_[np.zeros(1000, int), np.ones(30, int), np.full(500, 2)]
    rows = csim.trace_rows(len(y), 100, y)
    counts = np.bincount(y[rows])
    assert counts.tolist() == [100, 30, 100]
    assert rows.tolist() == sorted(set(rows.tolist()))
    assert rows[0] == 0 and rows[-1] == len(y) - 1  # evenly spread: first and last event of the class
    assert len(csim.trace_rows(50, 100)) == 50
