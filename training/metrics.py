"""Figures of merit for anomaly scores (higher = more anomalous; labels 1 = signal, 0 = background).

ROC/AUC, SIC, signal efficiency at a fixed background rate (the trigger's figure of merit), score-nuisance
correlation and seed aggregation: one implementation each, shared by the report and check stages.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.metrics import roc_auc_score, roc_curve

# Distance correlation works on blocks of rows of the n x n distance matrices; this many float64
# entries per block (32 MB) keeps memory bounded whatever max_events is.
_BLOCK_ELEMENTS = 1 << 22

T = TypeVar("T")


def _finite_1d(x: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name}: empty array")
    n_bad = int(np.count_nonzero(~np.isfinite(arr)))
    if n_bad:
        raise ValueError(f"{name}: {n_bad} of {arr.size} values are not finite (NaN or inf)")
    return arr


def _labelled(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate binary labels and finite scores of equal length; return (labels as int, scores)."""
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise ValueError(f"labels: expected a 1-D array, got shape {labels.shape}")
    scores = _finite_1d(score, "scores")
    if labels.shape[0] != scores.shape[0]:
        raise ValueError(f"labels and scores differ in length: {labels.shape[0]} vs {scores.shape[0]}")
    values = np.unique(labels)
    if not np.isin(values, [0, 1]).all():
        raise ValueError(f"labels must be binary (1 = signal, 0 = background), got values {values[:10]}")
    labels = labels.astype(np.int64)
    n_signal = int(labels.sum())
    if n_signal == 0 or n_signal == labels.size:
        present = "signal" if n_signal else "background"
        raise ValueError(f"only one class present ({labels.size} {present} events): need both")
    return labels, scores


def roc(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve (fpr, tpr, thresholds) from scikit-learn, every working point kept.

    scikit-learn's convention: an event passes a threshold when score >= threshold; the first
    threshold is +inf (nothing passes). Raises ValueError if the lengths differ, a score is not
    finite, labels are not binary or only one class is present.
    """
    labels, scores = _labelled(y, score)
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    return fpr, tpr, thresholds


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half); same input checks as :func:`roc`."""
    labels, scores = _labelled(y, score)
    return float(roc_auc_score(labels, scores))


def sic_curve(y: np.ndarray, score: np.ndarray, min_background: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Significance improvement curve: (tpr, sic) with SIC = TPR / sqrt(FPR).

    Only working points where at least ``min_background`` background events pass the cut are
    kept: with a handful of background events FPR is pure counting noise and SIC would blow up
    (one surviving event at FPR = 1/n gives SIC ~ sqrt(n)). The full-acceptance point (SIC = 1)
    always qualifies, so the curve is never empty; fewer than ``min_background`` background
    events in total is a ValueError.
    """
    if min_background < 1:
        raise ValueError(f"min_background must be at least 1, got {min_background}")
    labels, scores = _labelled(y, score)
    n_background = int(np.count_nonzero(labels == 0))
    if n_background < min_background:
        raise ValueError(
            f"only {n_background} background events, fewer than min_background = {min_background}"
        )
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    n_pass = np.rint(fpr * n_background).astype(np.int64)
    keep = n_pass >= min_background
    return tpr[keep], tpr[keep] / np.sqrt(fpr[keep])


def max_sic(y: np.ndarray, score: np.ndarray, min_background: int = 10) -> float:
    """Largest SIC over the working points of :func:`sic_curve` (at least 1, the full-acceptance point)."""
    _, sic = sic_curve(y, score, min_background)
    return float(np.max(sic))


def allowed_passes(n: int, target_fpr: float) -> int:
    """The largest count k of ``n`` background events with k / n <= ``target_fpr`` (exact comparison:
    n x target_fpr is rounded in floating point)."""
    k = int(math.floor(n * target_fpr))
    if (k + 1) / n <= target_fpr:
        k += 1
    elif k / n > target_fpr:
        k -= 1
    return k


def _threshold_rule(background: np.ndarray, target_fpr: float) -> dict:
    """The one threshold rule behind :func:`tpr_at_fpr` and :func:`threshold_for_rate`.

    With the cut ``score > threshold``, pick the smallest threshold whose background pass
    fraction is <= target_fpr. If k is the largest count with k / n <= target_fpr, that is the
    (k+1)-th largest background score: any lower threshold lets at least k+1 events pass. Ties at
    that score can leave fewer than k passing; no threshold does better without exceeding the
    target. k = 0 (n * target_fpr < 1) gives the largest background score: nothing passes.
    """
    if not 0.0 < target_fpr < 1.0:
        raise ValueError(f"target FPR must lie in (0, 1), got {target_fpr}")
    n = background.size
    k = allowed_passes(n, target_fpr)
    threshold = float(np.partition(background, n - 1 - k)[n - 1 - k])
    n_pass = int(np.count_nonzero(background > threshold))
    reachable = k >= 1
    if not reachable:
        note = (
            f"target FPR {target_fpr:g} needs at least {math.ceil(1 / target_fpr)} background events, "
            f"only {n}: threshold set at the largest background score, 0 background pass"
        )
    elif n_pass < k:
        n_tied = int(np.count_nonzero(background == threshold))
        note = (
            f"{n_tied} background events tie at the threshold score: {n_pass} pass instead of "
            f"the {k} the target allows"
        )
    else:
        note = ""
    return {
        "threshold": threshold,
        "fpr": n_pass / n,
        "target_fpr": float(target_fpr),
        "n_background": n,
        "n_background_pass": n_pass,
        "reachable": reachable,
        "note": note,
    }


def efficiency(signal_scores: np.ndarray, threshold: float) -> dict:
    """Fraction of events with score > threshold, with its binomial uncertainty sqrt(e(1-e)/n).

    Returns ``efficiency``, ``uncertainty``, ``n`` and ``n_pass``. The normal-approximation
    uncertainty is 0 when the efficiency is exactly 0 or 1.
    """
    scores = _finite_1d(signal_scores, "signal scores")
    if math.isnan(threshold):
        raise ValueError("threshold is NaN")
    n = scores.size
    n_pass = int(np.count_nonzero(scores > threshold))
    eff = n_pass / n
    return {"efficiency": eff, "uncertainty": math.sqrt(eff * (1.0 - eff) / n), "n": n, "n_pass": n_pass}


def tpr_at_fpr(y: np.ndarray, score: np.ndarray, target_fpr: float = 1e-5) -> dict:
    """Signal efficiency at a background false-positive rate (cut: score > threshold passes).

    The threshold is the smallest one whose background pass fraction is <= ``target_fpr``
    (see :func:`_threshold_rule`; ties handled explicitly). Returns ``tpr``, ``threshold``,
    ``fpr`` (achieved), ``target_fpr``, ``n_background``, ``n_background_pass``, ``n_signal``,
    ``tpr_uncertainty`` (binomial), ``reachable`` and ``note``. ``reachable`` is False when
    n_background * target_fpr < 1: the test set is too small to measure that rate, the threshold
    is the largest background score (0 background pass) and ``note`` says so.
    """
    labels, scores = _labelled(y, score)
    rule = _threshold_rule(scores[labels == 0], target_fpr)
    eff = efficiency(scores[labels == 1], rule["threshold"])
    return {
        "tpr": eff["efficiency"],
        "tpr_uncertainty": eff["uncertainty"],
        "n_signal": eff["n"],
        **rule,
    }


def threshold_for_rate(
    background_scores: np.ndarray, rate_hz: float, bunch_crossing_rate_hz: float = 40e6
) -> dict:
    """Threshold giving a trigger rate of at most ``rate_hz`` on background (cut: score > threshold).

    The target FPR is rate_hz / bunch_crossing_rate_hz (400 Hz of 40 MHz = 1e-5) and the threshold
    follows the same rule as :func:`tpr_at_fpr`. Returns ``threshold``, ``fpr`` (achieved),
    ``target_fpr``, ``rate_hz`` (target), ``achieved_rate_hz``, ``rate_uncertainty_hz`` (Poisson:
    sqrt(n_pass) / n * bunch-crossing rate, so 0 when nothing passes), ``n_background``,
    ``n_background_pass``, ``reachable`` and ``note``.
    """
    background = _finite_1d(background_scores, "background scores")
    if not bunch_crossing_rate_hz > 0:
        raise ValueError(f"bunch crossing rate must be positive, got {bunch_crossing_rate_hz}")
    if not 0 < rate_hz < bunch_crossing_rate_hz:
        raise ValueError(f"rate must lie in (0, {bunch_crossing_rate_hz:g}) Hz, got {rate_hz}")
    rule = _threshold_rule(background, rate_hz / bunch_crossing_rate_hz)
    n = rule["n_background"]
    return {
        **rule,
        "rate_hz": float(rate_hz),
        "achieved_rate_hz": rule["n_background_pass"] * bunch_crossing_rate_hz / n,
        "rate_uncertainty_hz": math.sqrt(rule["n_background_pass"]) * bunch_crossing_rate_hz / n,
        "bunch_crossing_rate_hz": float(bunch_crossing_rate_hz),
    }


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two 1-D arrays; NaN when either is constant (undefined)."""
    x = _finite_1d(a, "a")
    z = _finite_1d(b, "b")
    if x.size != z.size:
        raise ValueError(f"a and b differ in length: {x.size} vs {z.size}")
    x = x - x.mean()
    z = z - z.mean()
    denom = math.sqrt(float(x @ x) * float(z @ z))
    return float(x @ z) / denom if denom > 0 else float("nan")


def _as_points(x: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty (n,) or (n, d) array, got shape {np.shape(x)}")
    n_bad = int(np.count_nonzero(~np.isfinite(arr)))
    if n_bad:
        raise ValueError(f"{name}: {n_bad} values are not finite (NaN or inf)")
    return arr


def _distance_row_means(x: np.ndarray, blocks: list[slice]) -> np.ndarray:
    """Row means of the Euclidean distance matrix of the points ``x`` (n, d)."""
    n = x.shape[0]
    if x.shape[1] == 1:
        # In 1-D, sorting gives every row sum in O(n log n): for the i-th smallest value s_i,
        # sum_j |s_i - s_j| = s_i (2i - n) + total - 2 * (sum of the i values below it).
        order = np.argsort(x[:, 0], kind="stable")
        s = x[order, 0]
        below = np.concatenate(([0.0], np.cumsum(s)[:-1]))
        means = np.empty(n)
        means[order] = (s * (2 * np.arange(n) - n) + s.sum() - 2 * below) / n
        return means
    means = np.empty(n)
    for blk in blocks:
        means[blk] = cdist(x[blk], x).mean(axis=1)
    return means


def distance_correlation(a: np.ndarray, b: np.ndarray, max_events: int = 20_000, seed: int = 0) -> float:
    """Szekely-Rizzo distance correlation R(a, b) in [0, 1] (the square root of dCor^2).

    0 for independent samples (up to finite-sample bias ~ 1/sqrt(n)), 1 when b is a linear
    function of a; catches non-linear dependence that Pearson misses. Inputs are (n,) or (n, d)
    (Euclidean distances). The V-statistic is exact, O(n^2) in time, on at most ``max_events``
    events drawn without replacement with ``default_rng(seed)``; the distance matrices are never
    held whole, only blocks of about 4M entries (32 MB), so memory stays bounded. Returns 0 when
    either input is constant (Szekely's convention).
    """
    x = _as_points(a, "a")
    z = _as_points(b, "b")
    if x.shape[0] != z.shape[0]:
        raise ValueError(f"a and b differ in length: {x.shape[0]} vs {z.shape[0]}")
    if max_events < 2:
        raise ValueError(f"max_events must be at least 2, got {max_events}")
    if x.shape[0] > max_events:
        idx = np.random.default_rng(seed).choice(x.shape[0], size=max_events, replace=False)
        x, z = x[idx], z[idx]
    n = x.shape[0]
    rows = max(1, _BLOCK_ELEMENTS // n)
    blocks = [slice(start, min(start + rows, n)) for start in range(0, n, rows)]

    # Pass 1: row means of both distance matrices; pass 2: sums of products of the
    # double-centred blocks. Centring before multiplying avoids the cancellation of the
    # expanded one-pass formula.
    mean_x = _distance_row_means(x, blocks)
    mean_z = _distance_row_means(z, blocks)
    grand_x = mean_x.mean()
    grand_z = mean_z.mean()
    s_xz = s_xx = s_zz = 0.0
    for blk in blocks:
        dx = cdist(x[blk], x)
        dx -= mean_x[blk, None]
        dx -= mean_x[None, :]
        dx += grand_x
        dz = cdist(z[blk], z)
        dz -= mean_z[blk, None]
        dz -= mean_z[None, :]
        dz += grand_z
        s_xz += float(np.einsum("ij,ij->", dx, dz))
        s_xx += float(np.einsum("ij,ij->", dx, dx))
        s_zz += float(np.einsum("ij,ij->", dz, dz))
    denom = math.sqrt(s_xx * s_zz)
    if denom <= 0:
        return 0.0
    # The V-statistic dCov^2 is non-negative; rounding can push it a hair below zero.
    return math.sqrt(max(s_xz, 0.0) / denom)


def signal_selections(
    y: np.ndarray, classes: Sequence[str], n_background_classes: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each signal against all backgrounds: signal name -> (mask of the events of that signal and of every
    background class, their 0/1 labels). ``y`` holds class indices into ``classes``, whose first
    ``n_background_classes`` are the backgrounds; signals come in the order of ``classes``."""
    y = np.asarray(y)
    background = y < n_background_classes
    out = {}
    for k in range(n_background_classes, len(classes)):
        sel = background | (y == k)
        out[classes[k]] = (sel, (y[sel] == k).astype(int))
    return out


def per_signal(
    scores: np.ndarray,
    y: np.ndarray,
    classes: Sequence[str],
    n_background_classes: int,
    figure: Callable[..., T],
    **options: Any,
) -> dict[str, T]:
    """``figure(labels, scores, **options)`` of each signal against all backgrounds (``signal_selections``),
    by signal name: ``per_signal(scores, y, classes, n_bkg, auc)``, or ``summarise`` with ``target_fpr=``."""
    return {
        name: figure(labels, scores[sel], **options)
        for name, (sel, labels) in signal_selections(y, classes, n_background_classes).items()
    }


def finite_1d(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    """``values`` as a float64 1-D array; ``ValueError`` naming ``name`` when it is empty, not 1-D or
    holds NaN or inf (a figure or plot of such values would mislead rather than fail)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D array of numbers, got shape {arr.shape}")
    n_bad = int(np.count_nonzero(~np.isfinite(arr)))
    if n_bad:
        raise ValueError(f"{name}: {n_bad} of {arr.size} values are not finite (NaN or inf)")
    return arr


def aggregate(values: Sequence[float], higher_is_better: bool = True) -> dict:
    """Summary of one figure over seeds: ``best``, ``mean``, ``std`` (population, ddof=0) and ``n``."""
    arr = finite_1d(values, "figures over seeds")
    return {
        "best": float(arr.max() if higher_is_better else arr.min()),
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=0)),
        "n": int(arr.size),
    }


def mean_std(agg: dict | None, digits: int = 3, sep: str = " ± ", std_of_one: bool = True) -> str:
    """'mean ± std' of an ``aggregate`` dict to ``digits`` decimals ('n/a' for None); with
    ``std_of_one=False`` the std of a single value (always 0) is left out."""
    if agg is None:
        return "n/a"
    text = f"{agg['mean']:.{digits}f}"
    if std_of_one or agg["n"] > 1:
        text += f"{sep}{agg['std']:.{digits}f}"
    return text


def summarise(y: np.ndarray, score: np.ndarray, target_fpr: float = 1e-5, min_background: int = 10) -> dict:
    """The per-(model, signal) figures of the reports: ``auc``, ``max_sic`` and ``tpr_at_fpr`` (a dict)."""
    labels, scores = _labelled(y, score)
    return {
        "n_signal": int(np.count_nonzero(labels == 1)),
        "n_background": int(np.count_nonzero(labels == 0)),
        "auc": auc(labels, scores),
        "max_sic": max_sic(labels, scores, min_background),
        "tpr_at_fpr": tpr_at_fpr(labels, scores, target_fpr),
    }
