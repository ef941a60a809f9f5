"""The report's trigger figures of one deployed model: its efficiency at the trigger rate (record, curves,
Markdown table) and the lines on its firmware threshold.

Reads the score files the stages wrote: on the rate sample (``data/<family>_rate.h5``) the float model's
(train), the exact QKeras and clipped-input float scores (quantize) and the firmware's (RTL where built,
else csim); on the test set every version's signal scores. Where the data are real (no rate sample), the
test set's background sets every threshold and the record says how many events that is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from l1ad.artifacts import RELATIVE, RunPaths
from l1ad.config import Config
from training.efficiency import CURVE_RATES_HZ, MIN_BACKGROUND_PASS, efficiency_at_rate, rate_curve
from training.stage import read_rate_scores, read_scores

FIRMWARE = "csim"  # the firmware's version key; RTL == csim is gated event by event


def _rate_sample_scores(run: RunPaths, name: str, family: str) -> dict[str, np.ndarray] | None:
    """The rate-sample scores of every version, or None when the run has no rate sample for ``family``."""
    paths = {
        "float": run.train.rate_scores(name),
        "qkeras": run.quantize.rate_scores(name),
        FIRMWARE: run.firmware.model(name).rate_scores,
        "float_clipped": run.quantize.clipped_rate_scores(name),
    }
    if not run.data.rate_sample(family).is_file() or not all(p.is_file() for p in paths.values()):
        return None
    return {v: read_rate_scores(p) for v, p in paths.items()}


def efficiency_figures(
    config: Config,
    run_dir: Path,
    name: str,
    family: str,
    scores: dict[str, np.ndarray],
    y: np.ndarray,
    classes: list[str],
    n_bkg: int,
    trigger: dict[str, Any],
    rtl_exact: bool,
) -> dict[str, Any]:
    """``models.<name>.efficiency_at_rate`` of report.json: per version a threshold at
    ``firmware.trigger_rate_hz``, per signal each version's efficiency with its 68% interval and the
    ratio firmware / float with its interval (``training.efficiency.efficiency_at_rate``), plus the
    rate-efficiency curves. ``scores`` holds the test-set scores of float, qkeras and csim; ``trigger`` is
    the firmware stage's threshold record (what scored the rate sample); ``rtl_exact``
    says the RTL equalled csim on every test and checked rate-sample event (then ``rtl`` repeats csim).
    """
    run = RunPaths(run_dir)
    clipped_path = run.quantize.clipped_scores(name)
    test = dict(scores)
    if clipped_path.is_file():
        test["float_clipped"] = read_scores(clipped_path)[0]
    rate = _rate_sample_scores(run, name, family)
    if rate is not None:
        background = rate
        scored = trigger["background_sample"]["scored_with"]
        source = (
            f"generated background, {RELATIVE.data.rate_sample(family)}; firmware scores from the {scored}"
        )
    else:
        background = {v: s[y < n_bkg] for v, s in test.items()}
        source = (
            "test set background (the rate sample's scores are missing: a run of an older l1ad; "
            "`l1ad run --force` scores it)"
            if run.data.rate_sample(family).is_file()
            else "test set background (no rate sample: real data or data.rate_sample 0)"
        )
    background = {v: background[v] for v in test}  # the versions both samples have
    signals = {classes[k]: {v: s[y == k] for v, s in test.items()} for k in range(n_bkg, len(classes))}
    record = efficiency_at_rate(
        background,
        signals,
        config.firmware.trigger_rate_hz,
        config.metrics.bunch_crossing_rate_hz,
        firmware=FIRMWARE,
        seed=config.run.seed,
    )
    for s in record["signals"].values():
        s["rtl"] = s[FIRMWARE] if rtl_exact else None
        if "float_clipped" in s:
            ref = s["float"]["efficiency"]
            s["clipping_ratio"] = s["float_clipped"]["efficiency"] / ref if ref > 0 else None
    record["source"] = source
    record["min_reliable_rate_hz"] = (
        MIN_BACKGROUND_PASS / record["n_background"] * config.metrics.bunch_crossing_rate_hz
    )
    curve_versions = [v for v in ("float", FIRMWARE, "float_clipped") if v in background]
    record["curve"] = {
        "rates_hz": list(CURVE_RATES_HZ),
        "firmware": FIRMWARE,
        "signals": {
            signal: {
                v: rate_curve(
                    background[v], by_version[v], CURVE_RATES_HZ, config.metrics.bunch_crossing_rate_hz
                )
                for v in curve_versions
            }
            for signal, by_version in signals.items()
        },
    }
    return record


def _eff(e: dict[str, Any] | None) -> str:
    if e is None:
        return "n/a"
    lo, hi = e["interval_68"]
    return f"{100 * e['efficiency']:.3g}% [{100 * lo:.3g}, {100 * hi:.3g}] ({e['n_pass']})"


def _ratio(value: float | None, interval: list[float] | None) -> str:
    if value is None:
        return "n/a (float passes nothing)"
    text = f"{value:.3f}"
    return text + (f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "")


def efficiency_lines(record: dict[str, Any], min_ratio: float, min_float_pass: int) -> list[str]:
    """The Markdown table of one model's efficiency at the trigger rate, with what it rests on."""
    thresholds = record["thresholds"]
    clipped = "float_clipped" in record["versions"]
    lines = [
        f"**Signal efficiency at the trigger rate** {record['rate_hz'] / 1e3:g} kHz, each version with its own "
        f"threshold on {record['n_background']:,} background events ({record['source']}; "
        + ", ".join(f"{v} {t['n_background_pass']} pass" for v, t in thresholds.items())
        + "). Efficiency [68% Clopper-Pearson] (passing signal events); ratio firmware / float [68%, paired "
        f"bootstrap of background and signal events]. Gated (`check.min_efficiency_ratio` {min_ratio:g}) where "
        f"at least {min_float_pass} signal events pass the float threshold.",
        "",
        "| signal | float | QKeras | "
        + ("csim = RTL" if all(s.get("rtl") is not None for s in record["signals"].values()) else "csim")
        + " | ratio csim / float | "
        + ("float, clipped inputs | " if clipped else "")
        + "gated |",
        "|---|---|---|---|---|" + ("---|" if clipped else "") + "---|",
    ]
    for signal, s in record["signals"].items():
        gated = s["float"]["n_pass"] >= min_float_pass
        cells = [signal, _eff(s["float"]), _eff(s.get("qkeras")), _eff(s["csim"])]
        cells.append(_ratio(s.get("ratio"), s.get("ratio_interval_68")))
        if clipped:
            cells.append(f"{_eff(s['float_clipped'])}, ratio {_ratio(s.get('clipping_ratio'), None)}")
        cells.append("yes" if gated else f"no (float passes {s['float']['n_pass']})")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if clipped:
        lines += [
            '"float, clipped inputs" is the float model fed inputs clipped to the declared input format\'s range '
            "(not rounded): what the format's range alone costs.",
            "",
        ]
    lines += [f"Note: {n}" for n in record["notes"]]
    return [*lines, ""] if record["notes"] else lines


def trigger_lines(t: dict[str, Any]) -> list[str]:
    """The firmware threshold for the configured L1 rate and each signal's efficiency at it."""
    eff = ", ".join(
        f"{s} {e['efficiency']:.4f} +- {e['uncertainty']:.4f}" for s, e in t["efficiency"].items()
    )
    sample = t.get("background_sample", {"source": "test set", "scored_with": "C simulation"})
    scored = sample.get("scored_with", "C simulation")
    lines = [
        f"Trigger threshold for {t['rate_hz']:.0f} Hz (FPR {t['target_fpr']:.2g}) on {t['n_background']:,} "
        f"background events ({sample['source']}), scored by the {scored}: "
        f"score > {t['threshold_fixed']:.6g} (`{t['score_type']}`, raw {t['threshold_raw']}; written to "
        f"`trigger_threshold.h`), {t['n_background_pass']:,} of them pass "
        f"(achieved {t['achieved_rate_hz']:.0f} +- {t['rate_uncertainty_hz']:.0f} Hz). Signal efficiency "
        f"(test set, csim): {eff}.",
        "",
    ]
    if "test_set" in t:
        test = t["test_set"]
        lines += [
            f"On the test set's {test['n_background']:,} background events alone the threshold would be "
            f"{test['threshold_fixed']:.6g} with {test['n_background_pass']} passing "
            f"({test['achieved_rate_hz']:.0f} +- {test['rate_uncertainty_hz']:.0f} Hz).",
            "",
        ]
    if (sample.get("check") or {}).get("events"):
        check = sample["check"]
        lines += [
            f"RTL == csim on {check['rtl_equals_csim_fraction']:.2%} of the first {check['events']:,} "
            "rate-sample events (scored both ways).",
            "",
        ]
    if t.get("note"):
        lines += [f"Note: {t['note']}", ""]
    return lines
