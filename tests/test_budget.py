"""The L1 budget: config section, part table, evaluation, report tables and the gate (``l1ad check``).

Report entries are built here as report.json holds them (only what the gate reads), with resource
figures of the size the default run's estimates have (BENCHMARKS.md): real config objects and files,
no mocks.
"""

from __future__ import annotations

import pytest

from firmware.budget import (
    budget_for,
    evaluate_budget,
    failure_phrases,
    has_convolution,
    resource_summary,
    source_label,
)
from l1ad.config import BudgetConfig, Config, load_config
from l1ad.errors import GateError, InputError
from l1ad.io import write_json
from l1ad.parts import PART_CAPACITY, part_capacity
from l1ad.pipeline import fingerprint
from reports.check import budget_failures, check_report, gate_failures
from reports.stage import budget_lines, layer_lines

VU9P = part_capacity("xcvu9p-flga2104-2L-e")


def _resources(**figures) -> dict:
    """An l1ad estimate at 5 ns on the VU9P (the default part): small unless ``figures`` say otherwise."""
    base = {
        "source": "estimate",
        "part": "xcvu9p-flga2104-2L-e",
        "clock_period_ns": 5.0,
        "latency_cycles": 4,
        "latency_ns": 20.0,
        "ii": 1,
        "lut": 10_000,
        "dsp": 0,
        "ff": 20_000,
        "bram": 0,
        "part_capacity": VU9P,
        "layers": {
            "fc1": {"class_name": "Dense", "lut": 6000, "dsp": 0, "ff": 12000, "delay_ns": 6.0},
            "relu1": {"class_name": "Activation", "lut": 4000, "dsp": 0, "ff": 8000, "delay_ns": 1.0},
        },
    }
    return {**base, **figures}


# an efficiency at the trigger rate the gate passes: the firmware keeps the float efficiency
EFFICIENCY_KEPT = {
    "rate_hz": 1000.0,
    "firmware": "csim",
    "signals": {
        "sig": {
            "float": {"efficiency": 0.05, "n_pass": 50},
            "csim": {"efficiency": 0.05, "n_pass": 50},
            "ratio": 1.0,
            "ratio_interval_68": [1.0, 1.0],
        }
    },
}


def _report(**models: dict) -> dict:
    """A report.json holding, per model, only what the gate reads (all non-budget figures passing)."""
    return {
        "models": {
            name: {
                "per_signal": {"sig": {"auc": {"float": 0.9, "qkeras": 0.9, "csim": 0.9}}},
                "csim": {"within_1lsb_fraction": 1.0},
                "saturation": {"per_class": {"background": {"fraction": 0.0}}},
                "efficiency_at_rate": EFFICIENCY_KEPT,
                "resources": resources,
            }
            for name, resources in models.items()
        }
    }


def test_gate_fails_over_budget_naming_figure_value_and_limit(tmp_path):
    # the default run's AE estimate (BENCHMARKS.md): 17 cycles at 5 ns, 1,436 DSP, 194k LUT
    ae = _resources(latency_cycles=17, latency_ns=85.0, dsp=1436, lut=194_412)
    report = _report(ae=ae)
    failures = gate_failures(report, Config())
    assert failures == [
        "ae: latency_ns 85 > limit 50 (l1ad estimate)",
        "ae: lut 194412 = 16.44% of the part > limit 5.00% (l1ad estimate)",
        "ae: dsp 1436 = 20.99% of the part > limit 1.00% (l1ad estimate)",
    ]
    # through check_report (what `l1ad check` calls): one GateError listing them
    write_json(tmp_path / "report" / "report.json", report)
    with pytest.raises(GateError, match=r"gate failed \(3\): ae: latency_ns 85 > limit 50 \(l1ad estimate\)"):
        check_report(Config(), tmp_path)


def test_gate_passes_within_budget(tmp_path):
    report = _report(ocdn=_resources(), ae=_resources(latency_ns=50.0, ii=5, lut=59_112))
    assert gate_failures(report, Config()) == []  # at the limit passes: 50 ns, II 5 x 5 ns, 5.00% LUT
    write_json(tmp_path / "report" / "report.json", report)
    assert check_report(Config(), tmp_path) == []


def test_ii_is_cycles_times_the_clock_period():
    slow = _resources(ii=400, latency_ns=20.0)
    assert resource_summary(slow, 5.0)["ii_ns"] == 2000.0
    assert budget_failures("nurd", {"resources": slow}, Config()) == [
        "nurd: ii_ns 2000 > limit 25 (l1ad estimate)"
    ]


def test_per_model_overrides_apply(tmp_path):
    ae = _resources(latency_ns=85.0)
    path = tmp_path / "budget.yaml"
    path.write_text("firmware:\n  budget:\n    overrides: {ae: {latency_ns: 100.0}, byo_net: {lut: 0.5}}\n")
    config = load_config(path)
    assert config.firmware.budget.overrides == {"ae": {"latency_ns": 100.0}, "byo_net": {"lut": 0.5}}
    limits = budget_for("ae", False, config.firmware.budget)
    assert limits == {"latency_ns": 100.0, "ii_ns": 25.0, "lut": 0.05, "dsp": 0.01, "ff": 0.05, "bram": 0.01}
    # only the keys given replace the class default, and only for the model named
    assert budget_for("ocdn", False, config.firmware.budget)["latency_ns"] == 50.0
    report = _report(ae=ae, ocdn=_resources(latency_ns=85.0))
    assert gate_failures(report, config) == ["ocdn: latency_ns 85 > limit 50 (l1ad estimate)"]
    assert gate_failures(report, Config()) == [
        "ae: latency_ns 85 > limit 50 (l1ad estimate)",
        "ocdn: latency_ns 85 > limit 50 (l1ad estimate)",
    ]


def test_graphs_with_a_convolution_take_the_cnn_budget():
    conv_layers = {"conv": {"class_name": "Conv2D", "lut": 100, "dsp": 0, "ff": 100, "delay_ns": 3.0}}
    nurd = _resources(latency_ns=150.0, layers=conv_layers)
    assert has_convolution({"resources": nurd})
    assert has_convolution({"resources": _resources(), "has_convolution": True})  # the firmware's word wins
    assert not has_convolution({"resources": _resources()})
    assert budget_failures("nurd", {"resources": nurd}, Config()) == []  # cnn: 200 ns
    # the report's class decides when it has one (a vendor report has no per-layer rows)
    vendor = {k: v for k, v in nurd.items() if k != "layers"} | {"source": "synthesized"}
    assert budget_failures("nurd", {"resources": vendor, "budget": {"kind": "cnn"}}, Config()) == []
    assert budget_failures("nurd", {"resources": vendor}, Config()) == [
        "nurd: latency_ns 150 > limit 50 (vendor report)"
    ]


def test_unknown_figures_cannot_pass():
    unknown_part = _resources(part="xcfoo-1", part_capacity=None)
    verdict = evaluate_budget(unknown_part, budget_for("ae", False, BudgetConfig()), 5.0)
    assert not verdict["passed"]
    lut = verdict["figures"]["lut"]
    assert lut["value"] is None and lut["passed"] is False and "capacity is unknown" in lut["note"]
    assert verdict["figures"]["latency_ns"]["passed"]
    vendor = _resources(source="synthesized", latency_ns=None, part_capacity={"lut": None, "ff": 1, "dsp": 1})
    phrases = failure_phrases("ae", evaluate_budget(vendor, budget_for("ae", False, BudgetConfig()), 5.0))
    assert phrases[0] == "ae: latency_ns unknown (no latency_ns in the resources (vendor report)), limit 50"
    assert any(p.startswith("ae: lut unknown") for p in phrases)


def test_report_without_resources_fails_the_gate():
    report = _report(ae=_resources())
    del report["models"]["ae"]["resources"]
    failures = gate_failures(report, Config())
    assert len(failures) == 1 and failures[0].startswith("ae: no resources in the report")


def test_report_tables_name_the_source():
    ae = _resources(source="estimate+da4ml", latency_ns=85.0)
    ae["layers"]["fc1"]["source"] = "da4ml"
    verdict = evaluate_budget(ae, budget_for("ae", False, BudgetConfig()), 5.0)
    lines = budget_lines(verdict)
    assert "figures: da4ml cost (DA layers) + l1ad estimate" in lines[0] and "**over budget**" in lines[0]
    assert "| latency_ns | 85 ns | 50 ns | **no** |" in lines
    assert "| lut | 10000 (0.85% of the part) | 5.00% | yes |" in lines
    rows = layer_lines(ae)
    assert "| fc1 | Dense (DA: da4ml cost) | 6000 | 0 | 12000 | 6 |" in rows
    assert layer_lines({"source": "synthesized"}) == []
    assert [source_label(s) for s in ("estimate", "synthesized", "da4ml", "other")] == [
        "l1ad estimate",
        "vendor report",
        "da4ml cost",
        "other",
    ]


def test_part_table():
    assert PART_CAPACITY["xc7vx690t"] == {"lut": 433_200, "ff": 866_400, "dsp": 3_600, "bram": 2_940}
    assert part_capacity("XC7VX690T-FFG1927-2") is PART_CAPACITY["xc7vx690t"]
    assert part_capacity("xcfoo-1") is None


def test_unknown_part_refused_at_load(tmp_path):
    path = tmp_path / "part.yaml"
    path.write_text("firmware:\n  part: xc7k325t-ffg900-2\n")
    with pytest.raises(InputError, match=r"firmware.part: unknown device 'xc7k325t'") as err:
        load_config(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    assert "(known: xc7vx690t, xc7z020, xcku115, xcvu13p, xcvu9p)" in message
    path.write_text("firmware:\n  part: xc7vx690t-ffg1927-2\n")
    assert load_config(path).firmware.part == "xc7vx690t-ffg1927-2"


@pytest.mark.parametrize(
    "budget, message",
    [
        ("{dense: {lut: 1.5}}", r"firmware.budget.dense.lut must lie in \(0, 1\] \(a fraction of the part\)"),
        ("{cnn: {latency_ns: 0.0}}", r"firmware.budget.cnn.latency_ns must be > 0, got 0.0"),
        ("{dense: {ii_ns: -25}}", r"firmware.budget.dense.ii_ns must be > 0"),
        ("{dense: {luts: 0.1}}", r"unknown config key 'firmware.budget.dense.luts'"),
        (
            "{overrides: {ae: {latency: 40}}}",
            r"firmware.budget.overrides.ae: unknown budget figure 'latency'",
        ),
        (
            "{overrides: {ae: {latency_ns: fast}}}",
            r"'firmware.budget.overrides.ae.latency_ns' must be a number",
        ),
        ("{overrides: {ae: {dsp: 0}}}", r"firmware.budget.overrides.ae.dsp must lie in \(0, 1\]"),
        ("{overrides: {ae: 40}}", r"'firmware.budget.overrides.ae' must be a mapping"),
        ("{overrides: [ae]}", r"'firmware.budget.overrides' must be a mapping"),
        ("{overrides: {1: {lut: 0.1}}}", r"'firmware.budget.overrides' keys must be names, got 1"),
    ],
)
def test_budget_config_errors_are_one_line(tmp_path, budget, message):
    path = tmp_path / "bad.yaml"
    path.write_text(f"firmware:\n  budget: {budget}\n")
    with pytest.raises(InputError, match=message) as err:
        load_config(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_a_new_budget_rebuilds_no_firmware():
    base, tight = Config(), Config()
    tight.firmware.budget.dense.latency_ns = 10.0
    tight.firmware.budget.overrides = {"ae": {"lut": 0.01}}
    assert fingerprint(base, "firmware") == fingerprint(tight, "firmware")
    assert base.fingerprint("firmware") == tight.fingerprint("firmware")
    assert base.fingerprint("firmware.budget") != tight.fingerprint("firmware.budget")
    assert fingerprint(base, "report") != fingerprint(tight, "report")
    other = Config()
    other.firmware.reuse_factor = 2
    assert fingerprint(base, "firmware") != fingerprint(other, "firmware")
