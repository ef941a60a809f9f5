"""The rules of `l1ad compare` on hand-made reports (tests/test_efficiency_gate.py compares real runs):
what regresses and what is noise, a missing model, another part, and the command's exit code and files."""

from __future__ import annotations

import copy
import json

import pytest

from l1ad.config import CheckConfig
from l1ad.errors import InputError
from reports.compare import compare, compare_reports, regressions


def _report() -> dict:
    efficiency = {"efficiency": 0.05, "n_pass": 1000, "interval_68": [0.0485, 0.0516]}
    model = {
        "per_signal": {"sig": {"auc": {"float": 0.90, "qkeras": 0.89, "csim": 0.89}}},
        "efficiency_at_rate": {
            "rate_hz": 1000.0,
            "firmware": "csim",
            "thresholds": {"float": {"threshold": 3.0}, "csim": {"threshold": 2.5}},
            "signals": {"sig": {"n_signal": 20000, "float": dict(efficiency), "csim": dict(efficiency)}},
        },
        "resources": {"latency_ns": 35.0, "ii": 1, "lut": 10000, "dsp": 0, "ff": 3000, "bram": 0}
        | {"part": "xcvu9p-flga2104-2L-e", "clock_period_ns": 5.0, "source": "estimate+da4ml"},
        "rtl": {"exact_fraction": 1.0},
    }
    return {"models": {"ae": model}}


def test_noise_passes_and_each_rule_fails_once() -> None:
    tol = CheckConfig()
    base = _report()
    assert regressions(compare_reports(base, base, tol)) == []
    new = copy.deepcopy(base)
    ae = new["models"]["ae"]
    ae["per_signal"]["sig"]["auc"]["csim"] = 0.886  # -0.004: within baseline_auc_drop
    ae["efficiency_at_rate"]["signals"]["sig"]["csim"] |= {
        "efficiency": 0.049,
        "interval_68": [0.047, 0.0505],
    }
    ae["resources"]["lut"] = 10400  # +4%
    ae["efficiency_at_rate"]["thresholds"]["csim"]["threshold"] = 9.0  # thresholds are never judged
    assert regressions(compare_reports(base, new, tol)) == []
    ae["per_signal"]["sig"]["auc"]["qkeras"] = 0.88
    ae["efficiency_at_rate"]["signals"]["sig"]["csim"] |= {"efficiency": 0.04, "interval_68": [0.038, 0.042]}
    ae["resources"] |= {"lut": 11000, "dsp": 2}
    ae["rtl"]["exact_fraction"] = 0.999
    found = regressions(compare_reports(base, new, tol))
    assert [phrase.split(":")[1].strip() for phrase in found] == [
        "AUC qkeras 0.89 -> 0.88",
        "efficiency at 1 kHz csim 5.000% -> 4.000%",
        "lut 10,000 -> 11,000",
        "dsp 0 -> 2",
        "RTL == csim fraction 1 -> 0.999",
    ]


def test_a_missing_model_regresses_and_another_part_is_refused(tmp_path) -> None:
    base = _report()
    assert regressions(compare_reports(base, {"models": {}}, CheckConfig())) == [
        "ae: model 1 -> -: missing from the new report"
    ]
    other = copy.deepcopy(base)
    other["models"]["ae"]["resources"]["part"] = "xcvu13p-flga2577-2-e"
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(InputError, match="other.json: ae: the baseline was built for"):
        compare(tmp_path / "base.json", tmp_path / "other.json", CheckConfig())


def test_the_command_writes_the_table_and_exits_1_on_a_regression(tmp_path, capsys) -> None:
    from l1ad import cli

    base, worse = _report(), _report()
    worse["models"]["ae"]["resources"]["latency_ns"] = 50.0
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "worse.json").write_text(json.dumps(worse))
    argv = [
        "compare",
        str(tmp_path / "base.json"),
        str(tmp_path / "worse.json"),
        "--markdown",
        str(tmp_path / "c.md"),
    ]
    assert cli.main([*argv, "--json", str(tmp_path / "c.json")]) == 1
    assert "regression: ae: latency_ns 35 -> 50" in capsys.readouterr().err
    assert "| ae |  | latency_ns | 35 | 50 | +42.86% | regression |" in (tmp_path / "c.md").read_text()
    assert json.loads((tmp_path / "c.json").read_text())["regressions"]
    assert cli.main(["compare", str(tmp_path / "base.json"), str(tmp_path / "base.json")]) == 0
