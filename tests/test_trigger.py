"""Tests of the trigger threshold: the rate rule as a direct quantile, the fixed-point constant selecting
exactly the csim-selected events (in Python and in C++ against hls4ml's ap_types), the header and JSON.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from firmware import trigger
from l1ad import fixedpoint

SCORE_TYPE = "ap_fixed<24,8,AP_RND_CONV,AP_SAT,0>"  # 16 fractional bits, as hls4ml writes the type
LSB = 2.0**-16


def _on_grid(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x / LSB) * LSB, -128.0, 128.0 - LSB)


def _scores(seed: int, n_background: int = 200_000):
    """Background ~ chi2-like AE scores; two signals shifted up by different amounts; all on the csim grid."""
    rng = np.random.default_rng(seed)
    background = _on_grid(rng.chisquare(4, n_background))
    signals = {
        "A_to_4l": _on_grid(rng.chisquare(4, 5000) + 12.0),
        "h_tautau": _on_grid(rng.chisquare(4, 5000) + 3.0),
    }
    return background, signals


def test_threshold_is_the_direct_quantile():
    background, signals = _scores(0)
    result = trigger.trigger_threshold(background, 1000.0, 40e6, SCORE_TYPE, signals)
    n = len(background)
    k = int(np.floor(n * 1000.0 / 40e6))  # events allowed above the cut: 5
    assert result["threshold"] == np.sort(background)[n - 1 - k]
    assert result["threshold"] == np.quantile(background, 1 - k / n, method="inverted_cdf")
    assert result["n_background_pass"] == np.count_nonzero(background > result["threshold"]) <= k
    assert result["achieved_rate_hz"] == pytest.approx(result["n_background_pass"] / n * 40e6)
    for name, s in signals.items():
        eff = result["efficiency"][name]
        assert eff["efficiency"] == np.mean(s > result["threshold"])
        assert eff["uncertainty"] == pytest.approx(
            np.sqrt(eff["efficiency"] * (1 - eff["efficiency"]) / len(s))
        )
        lo, hi = eff["interval_68"]
        assert lo <= eff["efficiency"] <= hi
    assert result["efficiency"]["A_to_4l"]["efficiency"] > result["efficiency"]["h_tautau"]["efficiency"]
    # 5 passing background events: the rate is known to about 45%, and the note says so
    assert result["reachable"] and "only" in result["note"] and "background events pass" in result["note"]


def test_fixed_constant_selects_the_same_events():
    background, signals = _scores(1, 50_000)
    result = trigger.trigger_threshold(background, 2000.0, 40e6, SCORE_TYPE, signals)
    value = result["threshold_fixed"]
    assert value == result["threshold_raw"] * LSB
    for s in [background, *signals.values()]:
        assert np.array_equal(s > value, s > result["threshold"])
    # off-grid and negative float cuts: floor(t / lsb) keeps the selection on any grid score
    rng = np.random.default_rng(2)
    scores = _on_grid(rng.normal(0, 3, 20_000))
    for t in [-2.3456789, -LSB / 3, 0.0, 1e-7, 0.1234567, 4 * LSB, 7.99999]:
        raw, fixed = trigger.fixed_threshold(t, SCORE_TYPE)
        assert np.array_equal(scores > fixed, scores > t), t
        assert raw == np.floor(t / LSB)
    with pytest.raises(ValueError, match="not on the grid"):
        trigger.trigger_threshold(background + LSB / 2, 1000.0, 40e6, SCORE_TYPE, {})


def test_too_few_background_events_is_said():
    background, signals = _scores(3, 1000)
    result = trigger.trigger_threshold(background, 1000.0, 40e6, SCORE_TYPE, signals)
    assert not result["reachable"]
    assert result["n_background_pass"] == 0 and result["threshold"] == background.max()
    assert "40000 background events" in result["note"]
    # zero-efficiency signals still get an honest upper limit, where sqrt(e(1-e)/n) says 0
    none_pass = trigger.trigger_threshold(background, 1000.0, 40e6, SCORE_TYPE, {"dud": background[:100] * 0})
    assert none_pass["efficiency"]["dud"]["uncertainty"] == 0.0
    assert 0 < none_pass["efficiency"]["dud"]["interval_68"][1] < 0.03


def _ap_types() -> Path:
    import hls4ml

    return Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++ (hls4ml's csim needs it too)")
def test_header_compiles_and_selects_like_python(tmp_path):
    background, signals = _scores(4, 100_000)
    result = trigger.trigger_threshold(background, 4000.0, 40e6, SCORE_TYPE, signals)
    paths = trigger.write_threshold(tmp_path / "hls_project", result)
    assert json.loads(paths["json"].read_text())["threshold_fixed"] == result["threshold_fixed"]
    header = paths["header"].read_text()
    assert f"static const {SCORE_TYPE} L1AD_THRESHOLD" in header
    assert "4000 Hz" in header
    assert not list(paths["header"].parent.glob("*.partial"))

    events = np.concatenate([background, signals["h_tautau"]])
    (tmp_path / "scores.txt").write_text("\n".join(f"{v:.17g}" for v in events) + "\n")
    (tmp_path / "main.cpp").write_text(
        '#include <cstdio>\n#include "trigger_threshold.h"\n'
        "int main(int argc, char** argv) {\n"
        '    std::FILE* f = std::fopen(argv[1], "r");\n'
        "    double x; long n_pass = 0;\n"
        f'    while (std::fscanf(f, "%lf", &x) == 1) {{ {SCORE_TYPE} s = x; if (s > L1AD_THRESHOLD) ++n_pass; }}\n'
        '    std::printf("%.17g %ld\\n", L1AD_THRESHOLD.to_double(), n_pass);\n'
        "    return 0;\n}\n"
    )
    exe = tmp_path / "check"
    subprocess.run(
        ["g++", "-O1", "-std=c++14", "-I", str(_ap_types()), "-I", str(paths["header"].parent),
         str(tmp_path / "main.cpp"), "-o", str(exe)],
        check=True, capture_output=True,
    )  # fmt: skip
    value, n_pass = subprocess.run(
        [str(exe), str(tmp_path / "scores.txt")], check=True, capture_output=True, text=True
    ).stdout.split()
    assert float(value) == result["threshold_fixed"]
    assert int(n_pass) == np.count_nonzero(events > result["threshold"])


def test_parse_ap_fixed():
    fmt = fixedpoint.parse_ap_fixed("ap_ufixed<18,14>")
    assert (fmt.signed, fmt.width, fmt.integer, fmt.lsb) == (False, 18, 14, 2.0**-4)
    with pytest.raises(ValueError, match="not an ap_fixed"):
        fixedpoint.parse_ap_fixed("float")
    with pytest.raises(ValueError, match="below the range"):
        trigger.fixed_threshold(-1.0, "ap_ufixed<18,14>")
