"""The L1 trigger threshold of a firmware score: chosen on background csim scores for a target rate,
written as a fixed-point constant in the score's own type, with the signal efficiency it gives.

The firmware fires on ``score > L1AD_THRESHOLD``; the constant is chosen so that this selects exactly
the events the float threshold selects on the csim scores (which already lie on the type's grid).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.artifacts import TRIGGER_HEADER, TRIGGER_RECORD
from l1ad.fixedpoint import FixedFormat, parse_ap_fixed
from l1ad.io import atomic_path, write_json
from training import metrics
from training.efficiency import MIN_BACKGROUND_PASS, clopper_pearson


def fixed_threshold(threshold: float, score_format: str) -> tuple[int, float]:
    """The constant T (raw integer, value) of ``score_format`` with ``s > T`` <=> ``s > threshold`` on the grid.

    A score on the grid is m * lsb; m * lsb > t <=> m > t / lsb <=> m > floor(t / lsb), so
    T = floor(t / lsb) * lsb (clipped to the type: above its maximum nothing passes either way).
    """
    fmt = parse_ap_fixed(score_format)
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    if fmt.width > 53:
        raise ValueError(f"{score_format}: wider than a double's 53-bit mantissa; the constant would round")
    raw = math.floor(threshold / fmt.lsb)
    lo, hi = round(fmt.lo / fmt.lsb), round(fmt.hi / fmt.lsb)
    if raw < lo:
        raise ValueError(f"threshold {threshold} lies below the range of {score_format}: every event passes")
    raw = min(raw, hi)
    return raw, raw * fmt.lsb


def _check_on_grid(scores: np.ndarray, fmt: FixedFormat, what: str) -> np.ndarray:
    x = np.asarray(scores, dtype=np.float64).reshape(-1)
    scaled = x / fmt.lsb
    if not np.all(scaled == np.rint(scaled)):
        raise ValueError(f"{what} are not on the grid of {fmt}: pass the csim scores of the firmware")
    return x


def trigger_threshold(
    background_csim_scores: np.ndarray,
    rate_hz: float,
    bunch_crossing_rate_hz: float,
    score_format: str,
    signals: dict[str, np.ndarray],
) -> dict[str, Any]:
    """Threshold for ``rate_hz`` on background csim scores, its firmware constant, and each signal's efficiency.

    The threshold follows ``training.metrics.threshold_for_rate`` (cut ``score > threshold``, at most
    the target rate); ``threshold_fixed`` is the same cut as a constant of ``score_format`` and is
    checked to select the same background and signal events. Efficiencies carry the binomial
    uncertainty of ``metrics.efficiency`` and a 68% Clopper-Pearson interval. ``note`` says when the
    background sample is too small for the rate.
    """
    fmt = parse_ap_fixed(score_format)
    background = _check_on_grid(background_csim_scores, fmt, "background csim scores")
    rule = metrics.threshold_for_rate(background, rate_hz, bunch_crossing_rate_hz)
    raw, value = fixed_threshold(rule["threshold"], score_format)

    efficiency: dict[str, Any] = {}
    same = bool(np.array_equal(background > rule["threshold"], background > value))
    for name, scores in signals.items():
        s = _check_on_grid(scores, fmt, f"csim scores of signal '{name}'")
        eff = metrics.efficiency(s, rule["threshold"])
        lo, hi = clopper_pearson(eff["n_pass"], eff["n"])
        efficiency[name] = {**eff, "interval_68": [lo, hi]}
        same = same and bool(np.array_equal(s > rule["threshold"], s > value))
    if not same:  # cannot happen for scores on the grid; guards the arithmetic above
        raise RuntimeError("the fixed-point threshold selects different events than the float threshold")

    notes = [rule["note"]] if rule["note"] else []
    n_pass = rule["n_background_pass"]
    if rule["reachable"] and n_pass < MIN_BACKGROUND_PASS:
        notes.append(
            f"only {n_pass} of {rule['n_background']} background events pass: the rate is known to "
            f"+-{100 / math.sqrt(max(n_pass, 1)):.0f}%; use at least "
            f"{math.ceil(MIN_BACKGROUND_PASS / rule['target_fpr'])} background events for this rate"
        )
    return {
        "rate_hz": rule["rate_hz"],
        "bunch_crossing_rate_hz": rule["bunch_crossing_rate_hz"],
        "target_fpr": rule["target_fpr"],
        "fpr": rule["fpr"],
        "achieved_rate_hz": rule["achieved_rate_hz"],
        "rate_uncertainty_hz": rule["rate_uncertainty_hz"],
        "n_background": rule["n_background"],
        "n_background_pass": n_pass,
        "reachable": rule["reachable"],
        "threshold": rule["threshold"],
        "threshold_fixed": value,
        "threshold_raw": raw,
        "score_type": score_format,
        "selection": "score > threshold",
        "efficiency": efficiency,
        "note": "; ".join(notes),
    }


def header_text(trigger: dict[str, Any]) -> str:
    """The C++ header holding the threshold as ``static const <score type> L1AD_THRESHOLD``."""
    fmt = parse_ap_fixed(trigger["score_type"])
    include = "ap_fixed.h"
    lines = [
        "// L1 anomaly-detection trigger threshold, written by l1ad: the event fires when score > L1AD_THRESHOLD.",
        f"// target rate {trigger['rate_hz']:g} Hz of {trigger['bunch_crossing_rate_hz'] / 1e6:g} MHz bunch crossings "
        f"(FPR {trigger['target_fpr']:.3g}); on {trigger['n_background']} background events "
        f"({trigger.get('background_sample', {}).get('source', 'test set')}): "
        f"{trigger['n_background_pass']} pass: FPR {trigger['fpr']:.3g}, "
        f"rate {trigger['achieved_rate_hz']:.4g} +- {trigger['rate_uncertainty_hz']:.2g} Hz.",
        f"// raw value {trigger['threshold_raw']} x 2^-{fmt.frac}",
    ]
    if trigger["note"]:
        lines.append(f"// note: {trigger['note']}")
    lines += [
        "#ifndef L1AD_TRIGGER_THRESHOLD_H_",
        "#define L1AD_TRIGGER_THRESHOLD_H_",
        "",
        f'#include "{include}"',
        "",
        # repr() of a double is the shortest literal that reads back as the same (exact, dyadic) value
        f"static const {trigger['score_type']} L1AD_THRESHOLD = {float(trigger['threshold_fixed'])!r};",
        "",
        "#endif",
        "",
    ]
    return "\n".join(lines)


def write_threshold(out_dir: str | Path, trigger: dict[str, Any]) -> dict[str, Path]:
    """Write ``trigger_threshold.h`` and ``trigger_threshold.json`` into ``out_dir`` (an HLS project's
    sources, ``ModelFirmwarePaths.hls_sources``), each atomically."""
    header, record = Path(out_dir) / TRIGGER_HEADER, Path(out_dir) / TRIGGER_RECORD
    with atomic_path(header) as tmp:
        tmp.write_text(header_text(trigger))
    write_json(record, trigger)
    return {"header": header, "json": record}
