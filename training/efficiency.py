"""Signal efficiency at a fixed trigger rate: the figure an L1 trigger is judged by.

Each score version (float, QKeras, csim, RTL) gets its own threshold for the rate on the same
background events (``metrics.threshold_for_rate``) and its own efficiency on the same signal
events. An efficiency carries a 68% Clopper-Pearson interval (binomial, threshold fixed); the ratio
firmware / float carries a 68% interval from a paired bootstrap that redraws the background events
(so the thresholds move) and the signal events together, with Poisson(1) weights per event shared
by every version: both statistical sources, and their correlation, are in the interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from training import metrics

CL_68 = 0.6827
N_BOOTSTRAP = 200  # replicas of the ratio's interval: its 16% / 84% quantiles move by ~0.1 sigma
MIN_BACKGROUND_PASS = 10  # fewer passing background events: the rate is known to worse than ~30%
CURVE_RATES_HZ = tuple(float(r) for r in np.geomspace(100.0, 100_000.0, 31))  # 0.1 - 100 kHz


def clopper_pearson(n_pass: int, n: int, cl: float = CL_68) -> tuple[float, float]:
    """Exact binomial interval: meaningful where the normal approximation gives 0 (efficiency 0 or 1)."""
    from scipy.stats import beta

    alpha = 1.0 - cl
    lo = 0.0 if n_pass == 0 else float(beta.ppf(alpha / 2, n_pass, n - n_pass + 1))
    hi = 1.0 if n_pass == n else float(beta.ppf(1 - alpha / 2, n_pass + 1, n - n_pass))
    return lo, hi


def _version_efficiency(signal: np.ndarray, threshold: float) -> dict:
    eff = metrics.efficiency(signal, threshold)
    lo, hi = clopper_pearson(eff["n_pass"], eff["n"])
    return {"efficiency": eff["efficiency"], "n_pass": eff["n_pass"], "interval_68": [lo, hi]}


def _top_indices(background: np.ndarray, m: int) -> np.ndarray:
    """Indices of the ``m`` largest background scores (any order among equal scores)."""
    m = min(m, background.size)
    return np.argpartition(background, background.size - m)[background.size - m :]


def _bootstrap_thresholds(background: np.ndarray, top: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """Per replica (rows of ``weights``, Poisson weights of the events ``top``), the lowest score t among
    ``top`` with at most ``k`` weighted events strictly above it: the rule of ``metrics.threshold_for_rate``
    on the redrawn sample (``top`` holds enough of the largest scores to contain it)."""
    order = np.argsort(-background[top], kind="stable")
    s = background[top][order]
    w = weights[:, order]
    above = np.concatenate([np.zeros((len(w), 1)), np.cumsum(w, axis=1)[:, :-1]], axis=1)
    # events tied with s_j are not above s_j: the weight above is the cumulative weight before its first copy
    first = np.searchsorted(-s, -s, side="left")
    above = above[:, first]
    ok = above <= k
    last = s.size - 1 - np.argmax(ok[:, ::-1], axis=1)  # the last (lowest-score) admissible position
    return s[last]


def _bootstrap_efficiencies(signal: np.ndarray, thresholds: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted fraction of ``signal`` above each replica's threshold (one weight row per replica)."""
    order = np.argsort(signal, kind="stable")
    s = signal[order]
    w = weights[:, order]
    tail = np.cumsum(w[:, ::-1], axis=1)[:, ::-1]  # weight at and after each sorted position
    tail = np.concatenate([tail, np.zeros((len(w), 1))], axis=1)
    start = np.searchsorted(s, thresholds, side="right")
    total = tail[:, 0]
    return np.where(total > 0, tail[np.arange(len(w)), start] / np.maximum(total, 1e-300), 0.0)


def ratio_interval(
    background: Mapping[str, np.ndarray],
    signal: Mapping[str, np.ndarray],
    versions: tuple[str, str],
    k: int,
    n_bootstrap: int = N_BOOTSTRAP,
    seed: int = 0,
) -> list[float] | None:
    """68% interval of eff(versions[1]) / eff(versions[0]) at the threshold rule with ``k`` passing
    background events, from a paired Poisson bootstrap of background and signal events (event ``i`` has
    the same weight in both versions). None when no replica has a non-zero denominator."""
    rng = np.random.default_rng(seed)
    # only the largest scores of each version can set a threshold: ~5 sigma of Poisson slack above k
    m = k + 10 * int(math.ceil(math.sqrt(k + 1))) + 30
    union = np.unique(np.concatenate([_top_indices(background[v], m) for v in versions]))
    w_bkg = rng.poisson(1.0, size=(n_bootstrap, union.size)).astype(np.float64)
    w_sig = rng.poisson(1.0, size=(n_bootstrap, signal[versions[0]].size)).astype(np.float32)
    eff = []
    for v in versions:
        t = _bootstrap_thresholds(background[v], union, w_bkg, k)
        eff.append(_bootstrap_efficiencies(signal[v], t, w_sig))
    ok = eff[0] > 0
    if not ok.any():
        return None
    ratio = eff[1][ok] / eff[0][ok]
    lo, hi = np.quantile(ratio, [(1 - CL_68) / 2, (1 + CL_68) / 2])
    return [float(lo), float(hi)]


def efficiency_at_rate(
    background: Mapping[str, np.ndarray],
    signals: Mapping[str, Mapping[str, np.ndarray]],
    rate_hz: float,
    bunch_crossing_rate_hz: float,
    firmware: str = "csim",
    reference: str = "float",
    n_bootstrap: int = N_BOOTSTRAP,
    seed: int = 0,
) -> dict:
    """Per version its threshold for ``rate_hz`` on ``background[version]`` and per signal its efficiency
    on ``signals[signal][version]``; per signal the ratio ``firmware`` / ``reference`` with its 68% interval.

    ``background`` and every ``signals[s]`` hold the same versions, each version's arrays aligned
    event by event (the same events scored by each version). Returns ``rate_hz``, ``n_background``,
    ``thresholds`` (per version: threshold, n_background_pass, achieved_rate_hz, note), ``signals``
    (per signal: one entry per version with efficiency, n_pass, interval_68; ``n_signal``; ``ratio``,
    ``ratio_interval_68``; ``qkeras_ratio`` where a ``qkeras`` version is given) and ``notes``.
    """
    versions = list(background)
    n = {v: background[v].size for v in versions}
    if len(set(n.values())) != 1:
        raise ValueError(f"background versions hold different event counts: {n}")
    rules = {v: metrics.threshold_for_rate(background[v], rate_hz, bunch_crossing_rate_hz) for v in versions}
    k = metrics.allowed_passes(next(iter(n.values())), rules[versions[0]]["target_fpr"])
    notes = []
    if k < MIN_BACKGROUND_PASS:
        notes.append(
            f"the rate allows only {k} of {next(iter(n.values())):,} background events: the thresholds, "
            f"and so every efficiency here, rest on fewer than {MIN_BACKGROUND_PASS} events"
        )
    out_signals = {}
    for i, (name, by_version) in enumerate(signals.items()):
        record: dict = {"n_signal": int(by_version[reference].size)}
        for v in versions:
            record[v] = _version_efficiency(by_version[v], rules[v]["threshold"])
        for num, key in ((firmware, "ratio"), ("qkeras", "qkeras_ratio")):
            if num not in versions or num == reference:
                continue
            ref = record[reference]["efficiency"]
            record[key] = record[num]["efficiency"] / ref if ref > 0 else None
            record[f"{key}_interval_68"] = (
                ratio_interval(background, by_version, (reference, num), k, n_bootstrap, seed + i)
                if k >= 1 and ref > 0
                else None
            )
        out_signals[name] = record
    return {
        "rate_hz": float(rate_hz),
        "n_background": next(iter(n.values())),
        "versions": versions,
        "firmware": firmware,
        "reference": reference,
        "thresholds": {
            v: {
                "threshold": r["threshold"],
                "n_background_pass": r["n_background_pass"],
                "achieved_rate_hz": r["achieved_rate_hz"],
                "rate_uncertainty_hz": r["rate_uncertainty_hz"],
                "note": r["note"],
            }
            for v, r in rules.items()
        },
        "signals": out_signals,
        "notes": notes,
    }


def rate_curve(
    background: np.ndarray, signal: np.ndarray, rates_hz: tuple[float, ...], bunch_crossing_rate_hz: float
) -> list[float]:
    """Efficiency of ``signal`` at each rate of ``rates_hz`` with the threshold of
    ``metrics.threshold_for_rate`` on ``background`` (one sort of each, then a lookup per rate)."""
    bkg = np.sort(np.asarray(background, dtype=np.float64))[::-1]
    sig = np.sort(np.asarray(signal, dtype=np.float64))
    out = []
    for rate in rates_hz:
        k = metrics.allowed_passes(bkg.size, rate / bunch_crossing_rate_hz)
        threshold = bkg[min(k, bkg.size - 1)]
        out.append(float(sig.size - np.searchsorted(sig, threshold, side="right")) / sig.size)
    return out
