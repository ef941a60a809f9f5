"""Efficiency at the trigger rate (training/efficiency.py) and its gate (reports/check.efficiency_failures)."""

from __future__ import annotations

import numpy as np
import pytest

from l1ad.config import Config
from reports.check import efficiency_failures
from training import efficiency as eff
from training import metrics

BC = 40e6


def _sample(seed: int = 0, n_bkg: int = 200_000, n_sig: int = 5_000):
    rng = np.random.default_rng(seed)
    return rng.normal(size=n_bkg), rng.normal(2.5, 1.0, size=n_sig)


def test_unit_weights_reproduce_the_nominal_threshold_and_efficiency():
    background, signal = _sample()
    rate = 2_000.0  # FPR 5e-5: 10 of 200,000 pass
    rule = metrics.threshold_for_rate(background, rate, BC)
    k = rule["n_background_pass"]
    top = eff._top_indices(background, 200)
    thresholds = eff._bootstrap_thresholds(background, top, np.ones((2, top.size)), k)
    assert np.all(thresholds == rule["threshold"])
    effs = eff._bootstrap_efficiencies(signal, thresholds, np.ones((2, signal.size), dtype=np.float32))
    assert np.allclose(effs, metrics.efficiency(signal, rule["threshold"])["efficiency"])


def test_ties_at_the_threshold_follow_the_rule_of_threshold_for_rate():
    rng = np.random.default_rng(3)
    background = np.round(rng.normal(size=50_000) * 4) / 4  # a coarse grid: many ties
    rule = metrics.threshold_for_rate(background, 8_000.0, BC)  # k = 10
    top = eff._top_indices(background, 300)
    t = eff._bootstrap_thresholds(background, top, np.ones((1, top.size)), 10)
    assert t[0] == rule["threshold"]
    assert np.count_nonzero(background > t[0]) <= 10


def test_identical_versions_have_ratio_one_and_a_degenerate_interval():
    background, signal = _sample()
    record = eff.efficiency_at_rate(
        {"float": background, "csim": background.copy()},
        {"sig": {"float": signal, "csim": signal.copy()}},
        10_000.0,
        BC,
        n_bootstrap=50,
    )
    s = record["signals"]["sig"]
    assert s["ratio"] == 1.0 and s["ratio_interval_68"] == [1.0, 1.0]
    assert s["float"]["interval_68"][0] < s["float"]["efficiency"] < s["float"]["interval_68"][1]
    assert record["thresholds"]["float"]["n_background_pass"] == 50
    assert not record["notes"]


def test_a_firmware_that_caps_the_tail_loses_efficiency_beyond_its_interval():
    background, signal = _sample()
    capped = {"float": background, "csim": np.minimum(background, 3.0)}
    record = eff.efficiency_at_rate(
        capped,
        {"sig": {"float": signal, "csim": np.minimum(signal, 3.0)}},
        10_000.0,
        BC,
        n_bootstrap=100,
    )
    s = record["signals"]["sig"]
    # capped at 3.0, about 270 background events tie at the cap: the firmware must cut above it, nothing passes
    assert s["csim"]["efficiency"] == 0.0 and s["ratio"] == 0.0
    assert s["ratio_interval_68"][1] < 0.9


def test_the_ratio_interval_covers_a_statistical_fluctuation():
    """Two independent draws of the same model: the ratio is 1 within its interval in most draws."""
    covered = 0
    for seed in range(20):
        b1, s1 = _sample(seed, n_bkg=100_000, n_sig=3_000)
        b2, s2 = _sample(seed + 100, n_bkg=100_000, n_sig=3_000)
        record = eff.efficiency_at_rate(
            {"float": b1, "csim": b2}, {"sig": {"float": s1, "csim": s2}}, 20_000.0, BC, n_bootstrap=100
        )
        lo, hi = record["signals"]["sig"]["ratio_interval_68"]
        covered += lo <= 1.0 <= hi
    # independent samples: the paired interval understates their spread, but not to nothing
    assert covered >= 6


def test_few_background_events_are_said():
    background, signal = _sample(n_bkg=10_000)
    record = eff.efficiency_at_rate({"float": background}, {"sig": {"float": signal}}, 1_000.0, BC)
    assert "fewer than 10" in record["notes"][0]


def test_rate_curve_agrees_with_threshold_for_rate():
    background, signal = _sample()
    rates = (500.0, 4_000.0, 77_000.0)
    curve = eff.rate_curve(background, signal, rates, BC)
    for rate, value in zip(rates, curve, strict=True):
        t = metrics.threshold_for_rate(background, rate, BC)["threshold"]
        assert value == pytest.approx(metrics.efficiency(signal, t)["efficiency"])


def _record(n_pass_float: int, ratio: float, interval: list[float]) -> dict:
    return {
        "rate_hz": 1000.0,
        "firmware": "csim",
        "signals": {
            "Ato4l": {
                "float": {"efficiency": n_pass_float / 1000, "n_pass": n_pass_float},
                "csim": {"efficiency": ratio * n_pass_float / 1000, "n_pass": int(ratio * n_pass_float)},
                "ratio": ratio,
                "ratio_interval_68": interval,
            }
        },
    }


def test_the_gate_fails_on_what_the_interval_rules_out_only():
    config = Config()
    failures = efficiency_failures("ae", _record(100, 0.2, [0.15, 0.26]), config)
    assert len(failures) == 1 and "ae/Ato4l" in failures[0] and "ratio 0.200" in failures[0]
    assert "float 10.0000%" in failures[0] and "csim 2.0000%" in failures[0]
    # the ratio is low but its interval reaches the limit: statistics, not a regression
    assert efficiency_failures("ae", _record(100, 0.8, [0.7, 0.95]), config) == []
    # too few float-passing events to judge
    assert efficiency_failures("ae", _record(19, 0.2, [0.1, 0.3]), config) == []
    assert "no efficiency at the trigger rate" in efficiency_failures("ae", None, config)[0]
