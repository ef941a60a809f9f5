"""Slide-quality figures for the report: ROC, SIC, score histograms, csim vs QKeras, scans, sculpting.

Every function takes plain arrays, draws one PNG (mplhep CMS-like style, 150 dpi, no experiment label:
this is not experiment data, the caller's ``data_label`` sits top left) and writes it atomically.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import matplotlib

# Headless and deterministic: the report stage runs on batch machines without a display.
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from l1ad.io import atomic_path  # noqa: E402
from training import metrics  # noqa: E402

DPI = 150
# The CMS style's fonts, ticks and frame without its 26 pt text for a 10x10 inch canvas: these sizes
# stay legible when a 10x7.5 inch figure is shrunk onto half a slide.
STYLE = {
    **mplhep.style.CMS,
    "font.size": 20,
    "legend.fontsize": 15,
    "figure.figsize": (10.0, 7.5),
    "axes.titlesize": 18,
    # Long enough to show a dash pattern in the legend.
    "legend.handlelength": 2.5,
}
# Okabe-Ito: distinguishable for the common colour-vision deficiencies and in greyscale print.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
# Overlaid versions of one model (float, QKeras, csim) are often identical: a thick solid line under a
# thinner dashed one under a thin dotted one keeps each visible.
LINESTYLES = ("-", (0, (4, 4)), (0, (1, 1.5)), (0, (6, 2, 1, 2)))
LINEWIDTHS = (5.0, 3.0, 2.2, 1.6)
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
BACKGROUND_GREYS = ("#9A9A9A", "#5A5A5A", "#C8C8C8")
HIST_BINS = 60
# Quantiles that bound the histogram binning: a handful of extreme scores must not squeeze the bulk of
# the distribution into one bin.
TAIL_QUANTILES = (0.001, 0.999)
SCATTER_MAX_POINTS = 5000


def _line_style(i: int) -> dict:
    """Colour, dash pattern, width and drawing order of the i-th overlaid curve."""
    return {
        "color": COLOURS[i % len(COLOURS)],
        "linestyle": LINESTYLES[i % len(LINESTYLES)],
        "linewidth": LINEWIDTHS[i % len(LINEWIDTHS)],
        # Later (thinner) curves are drawn on top of earlier (thicker) ones.
        "zorder": 2 + i,
    }


@contextlib.contextmanager
def styled_figure(path: str | Path, title: str, data_label: str, **subplots) -> Iterator[tuple[Figure, list]]:
    """A styled figure, title on top, ``data_label`` at the top left of the first panel.

    On a clean exit the figure is written as PNG atomically; it is closed in any case, since pyplot keeps
    every open figure alive and a report draws dozens.
    """
    with plt.style.context(STYLE):
        fig, axes = plt.subplots(layout="constrained", squeeze=False, **subplots)
        try:
            axes = list(axes.ravel())
            fig.suptitle(title, fontsize=STYLE["axes.titlesize"] + 2)
            axes[0].text(
                0.0,
                1.01,
                data_label,
                transform=axes[0].transAxes,
                ha="left",
                va="bottom",
                fontsize=14,
                style="italic",
            )
            yield fig, axes
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format="png", dpi=DPI)
        finally:
            plt.close(fig)


def _histogram_edges(values: np.ndarray, allow_log: bool, n_bins: int = HIST_BINS) -> tuple[np.ndarray, bool]:
    """Common bin edges from the tail quantiles of ``values``; returns (edges, log-spaced?).

    A quantile range that collapses (most values tied) falls back to the full range, a constant array
    to a window around it. With ``allow_log``, positive values spanning more than two decades (an
    autoencoder's reconstruction error) get log-spaced bins, so the bulk is not squeezed into one bin.
    """
    lo, hi = np.quantile(values, TAIL_QUANTILES)
    if hi <= lo:
        lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        half = 0.5 * abs(lo) if lo != 0 else 0.5
        return np.linspace(lo - half, hi + half, n_bins + 1), False
    if allow_log and lo > 0 and hi / lo > 100:
        return np.geomspace(lo, hi, n_bins + 1), True
    return np.linspace(lo, hi, n_bins + 1), False


def _fold(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Clip into the outer bins so under- and overflow are counted in the edge bins, not lost."""
    return np.clip(values, edges[0], edges[-1])


def roc_plot(
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    path: str | Path,
    title: str,
    data_label: str,
    trigger_fpr: float | None = None,
) -> Path:
    """Overlaid ROC curves, signal efficiency (linear) against background efficiency (log); returns ``path``.

    Convention: x = background efficiency (FPR, log scale, as in the L1 trigger literature where the
    working point is FPR ~ 1e-5), y = signal efficiency (TPR). ``curves`` maps a legend label to
    (binary labels, scores). Working points with no background passing cannot sit on a log axis and
    are not drawn, so each curve starts at FPR = 1 / n_background. ``trigger_fpr`` draws a vertical
    line at the trigger's working point (left of every curve when the sample is too small to reach it).
    """
    if not curves:
        raise ValueError("no curves to plot")
    if trigger_fpr is not None and not 0 < trigger_fpr < 1:
        raise ValueError(f"trigger FPR must lie in (0, 1), got {trigger_fpr}")
    drawn = {}
    for label, (y, scores) in curves.items():
        fpr, tpr, _ = metrics.roc(y, scores)
        keep = fpr > 0
        drawn[label] = (fpr[keep], tpr[keep])
    lowest = min(float(fpr[0]) for fpr, _ in drawn.values())
    with styled_figure(path, title, data_label) as (_, (ax,)):
        for i, (label, (fpr, tpr)) in enumerate(drawn.items()):
            ax.plot(fpr, tpr, label=label, **_line_style(i))
        grid = np.geomspace(lowest, 1.0, 200)
        ax.plot(grid, grid, color="grey", linestyle=":", linewidth=1.2, label="random (TPR = FPR)", zorder=1)
        if trigger_fpr is not None:
            lowest = min(lowest, trigger_fpr)
            ax.axvline(
                trigger_fpr,
                color="black",
                linestyle="--",
                linewidth=1.5,
                label=f"trigger FPR {trigger_fpr:.0e}",
            )
        ax.set_xscale("log")
        ax.set_xlim(lowest / 2, 1.0)
        ax.set_ylim(0.0, 1.05)
        ax.set_xlabel("background efficiency (FPR)")
        ax.set_ylabel("signal efficiency (TPR)")
        ax.grid(True, which="major", alpha=0.3)
        # Curves rise from bottom left to top right: a good curve fills the top left, the lower right
        # stays empty for any curve above the random line.
        ax.legend(loc="best")
    return Path(path)


def rate_efficiency_plot(
    curve: dict,
    path: str | Path,
    title: str,
    data_label: str,
    trigger_rate_hz: float,
    min_reliable_rate_hz: float,
) -> Path:
    """Signal efficiency against trigger rate (kHz, log x), float against firmware, one colour per signal.

    ``curve`` is an ``efficiency_at_rate`` curve: ``rates_hz`` and, per signal, one efficiency list per
    version (``float`` solid, the firmware dashed, the clipped-input float dotted where present). Each
    version's threshold is set on the same background events; below ``min_reliable_rate_hz`` fewer than
    10 of them pass, which the grey band marks. A vertical line marks the trigger's rate.
    """
    rates = np.asarray(curve["rates_hz"], dtype=np.float64) / 1e3
    dashes = {"float": "-", curve["firmware"]: (0, (4, 3)), "float_clipped": (0, (1, 1.5))}
    names = {
        "float": "float",
        curve["firmware"]: f"{curve['firmware']} (firmware)",
        "float_clipped": "float, inputs clipped to the input format",
    }
    # the legend sits right of the axes: curves of any shape fill the panel
    with styled_figure(path, title, data_label, figsize=(14.0, 7.5)) as (_, (ax,)):
        for i, (signal, by_version) in enumerate(curve["signals"].items()):
            colour = COLOURS[i % len(COLOURS)]
            for version, style in dashes.items():
                if version in by_version:
                    ax.plot(
                        rates,
                        by_version[version],
                        color=colour,
                        linestyle=style,
                        linewidth=2.5 if version == "float" else 2.0,
                    )
            ax.plot([], [], color=colour, linewidth=6, label=signal)
        for version, style in dashes.items():
            if any(version in v for v in curve["signals"].values()):
                ax.plot([], [], color="black", linestyle=style, linewidth=2.0, label=names[version])
        if min_reliable_rate_hz > rates[0] * 1e3:
            ax.axvspan(
                rates[0],
                min_reliable_rate_hz / 1e3,
                color="grey",
                alpha=0.2,
                label="< 10 background events pass",
            )
        ax.axvline(
            trigger_rate_hz / 1e3,
            color="black",
            linewidth=1.5,
            label=f"trigger rate {trigger_rate_hz / 1e3:g} kHz",
        )
        ax.set_xscale("log")
        positive = [v for by in curve["signals"].values() for values in by.values() for v in values if v > 0]
        if positive:  # efficiencies span decades; zeros (no signal event passes) fall off a log axis
            ax.set_yscale("log")
            ax.set_ylim(min(positive) / 2, 1.0)
        else:
            ax.set_ylim(0.0, 1.0)
            ax.text(
                0.6,
                0.5,
                "no signal event passes at any of these rates",
                transform=ax.transAxes,
                ha="center",
                bbox={"facecolor": "white", "edgecolor": "none"},
            )
        ax.set_xlim(rates[0], rates[-1])
        ax.set_xlabel("trigger rate (kHz of the 40 MHz bunch crossings)")
        ax.set_ylabel("signal efficiency")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=13)
    return Path(path)


def sic_plot(
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    path: str | Path,
    title: str,
    data_label: str,
    min_background: int = 10,
) -> Path:
    """Overlaid significance improvement curves, SIC = TPR / sqrt(FPR) against TPR; returns ``path``.

    Working points with fewer than ``min_background`` background events passing are dropped (see
    ``training.metrics.sic_curve``): they are counting noise. SIC = 1 (no gain) is drawn for reference.
    """
    if not curves:
        raise ValueError("no curves to plot")
    drawn = {label: metrics.sic_curve(y, scores, min_background) for label, (y, scores) in curves.items()}
    top = max(float(sic.max()) for _, sic in drawn.values())
    with styled_figure(path, title, data_label) as (_, (ax,)):
        for i, (label, (tpr, sic)) in enumerate(drawn.items()):
            ax.plot(tpr, sic, label=label, **_line_style(i))
        ax.axhline(1.0, color="grey", linestyle=":", linewidth=1.2, label="no gain (SIC = 1)", zorder=1)
        ax.set_xlim(0.0, 1.0)
        # Head room above the highest curve for the legend.
        ax.set_ylim(0.0, top * 1.4)
        ax.set_xlabel("signal efficiency (TPR)")
        ax.set_ylabel("SIC = TPR / √FPR")
        ax.grid(True, alpha=0.3)
        ax.legend(
            loc="upper right", title=f"at least {min_background} background events pass", title_fontsize=13
        )
    return Path(path)


def score_histograms(
    scores: np.ndarray,
    y: np.ndarray,
    classes: list[str],
    path: str | Path,
    title: str,
    data_label: str,
    n_background_classes: int = 1,
    xlabel: str = "anomaly score",
) -> Path:
    """Unit-normalised score histograms of each class on common binning, log y; returns ``path``.

    ``y`` holds class indices into ``classes``; the first ``n_background_classes`` are backgrounds
    (filled), the rest signals (lines). Bins span the 0.1%-99.9% quantiles of all scores (log-spaced
    for positive scores over more than two decades); scores outside are counted in the edge bins, as
    the axis label says. A class with no events has no histogram and no legend entry.
    """
    values = metrics.finite_1d(scores, "scores")
    labels = np.asarray(y)
    if labels.shape != values.shape:
        raise ValueError(f"scores and labels differ in shape: {values.shape} vs {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(labels == np.round(labels)):
            raise ValueError("labels must be integer class indices")
        labels = labels.astype(np.int64)
    if labels.min() < 0 or labels.max() >= len(classes):
        raise ValueError(
            f"labels must index classes (0..{len(classes) - 1}), got {labels.min()}..{labels.max()}"
        )
    if not 0 <= n_background_classes <= len(classes):
        raise ValueError(f"n_background_classes = {n_background_classes} outside 0..{len(classes)}")

    edges, log_bins = _histogram_edges(values, allow_log=True)
    folded = _fold(values, edges)
    fractions = {}
    for k, name in enumerate(classes):
        sel = folded[labels == k]
        if sel.size:
            fractions[k] = (f"{name} ({sel.size:,})", np.histogram(sel, bins=edges)[0] / sel.size)
    smallest = min(float(f[f > 0].min()) for _, f in fractions.values())
    largest = max(float(f.max()) for _, f in fractions.values())
    with styled_figure(path, title, data_label) as (_, (ax,)):
        for k, (label, frac) in fractions.items():
            if k < n_background_classes:
                ax.stairs(frac, edges, fill=True, color=BACKGROUND_GREYS[k % 3], alpha=0.6, label=label)
            else:
                style = _line_style(k - n_background_classes)
                style["linewidth"] = min(style["linewidth"], 2.8)
                ax.stairs(frac, edges, label=label, **style)
        if log_bins:
            ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(edges[0], edges[-1])
        # Head room above the tallest bin keeps the legend off the histograms.
        ax.set_ylim(smallest / 3, largest * 40)
        ax.set_xlabel(f"{xlabel} (under/overflow in first/last bin)")
        ax.set_ylabel("fraction of events / bin")
        ax.legend(loc="upper right", ncols=2 if len(fractions) > 3 else 1)
    return Path(path)


def csim_scatter(
    qkeras: np.ndarray,
    csim: np.ndarray,
    path: str | Path,
    title: str,
    data_label: str,
    lsb: float,
) -> Path:
    """C-simulation score against QKeras score, and the histogram of their difference in LSB.

    Left: a scatter (above 5000 events a 2-D histogram with log colour scale) with the y = x line and
    the fraction of events whose two scores are exactly equal. Right: (csim - qkeras) / lsb, one bin
    per LSB while the differences stay within 50 LSB. Returns ``path``.
    """
    q = metrics.finite_1d(qkeras, "qkeras scores")
    c = metrics.finite_1d(csim, "csim scores")
    if q.shape != c.shape:
        raise ValueError(f"qkeras and csim scores differ in length: {q.size} vs {c.size}")
    if not (np.isfinite(lsb) and lsb > 0):
        raise ValueError(f"lsb must be a positive number, got {lsb}")
    n = q.size
    n_exact = int(np.count_nonzero(c == q))
    diff = (c - q) / lsb
    max_diff = float(np.max(np.abs(diff)))
    lo = float(min(q.min(), c.min()))
    hi = float(max(q.max(), c.max()))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    if max_diff <= 50:
        half = max(np.ceil(max_diff), 1.0)
        diff_bins = np.arange(-half - 0.5, half + 1.0)
    else:
        diff_bins = np.linspace(float(diff.min()), float(diff.max()), HIST_BINS + 1)

    with styled_figure(path, title, data_label, ncols=2, figsize=(16.0, 7.5)) as (fig, (ax, ax_diff)):
        if n <= SCATTER_MAX_POINTS:
            ax.scatter(q, c, s=10, alpha=0.5, color=COLOURS[0], edgecolors="none", label=f"events ({n:,})")
        else:
            edges = np.linspace(lo, hi, 101)
            *_, mesh = ax.hist2d(q, c, bins=[edges, edges], norm=LogNorm(), cmap="viridis", cmin=1)
            fig.colorbar(mesh, ax=ax, label="events / bin", pad=0.01)
        ax.plot([lo, hi], [lo, hi], color=COLOURS[1], linestyle="--", linewidth=1.5, label="y = x")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_xlabel("QKeras score")
        ax.set_ylabel("C-simulation score")
        ax.legend(loc="best")
        ax.text(
            0.04,
            0.96,
            f"exact match: {100 * n_exact / n:.2f}%\n({n_exact:,} / {n:,} events)",
            transform=ax.transAxes,
            ha="left",
            va="top",
            fontsize=15,
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8},
        )
        counts = np.histogram(np.clip(diff, diff_bins[0], diff_bins[-1]), bins=diff_bins)[0]
        ax_diff.stairs(counts, diff_bins, fill=True, color=COLOURS[0], alpha=0.7)
        ax_diff.set_yscale("log")
        ax_diff.set_ylim(0.5, counts.max() * 20)
        ax_diff.set_xlabel("(csim - QKeras) / LSB")
        ax_diff.set_ylabel("events")
        ax_diff.text(
            0.96,
            0.96,
            f"LSB = {lsb:.3g}\nmax |diff| = {max_diff:.3g} LSB",
            transform=ax_diff.transAxes,
            ha="right",
            va="top",
            fontsize=15,
        )
    return Path(path)


METRIC_LABELS = {
    "auc_ratio": r"AUC / AUC$_\mathrm{float}$",
    "efficiency_ratio": "efficiency ratio at the trigger rate",
}


def bit_scan_plot(
    points: list[dict],
    path: str | Path,
    title: str,
    data_label: str,
    metric: str = "auc_ratio",
) -> Path:
    """One line per signal of ``metric`` (a ratio to the float model) against bit width; returns ``path``.

    ``points`` are dicts like ``{"bits": 8, "auc_ratio": {"Ato4l": 0.99, ...}}``; a missing or null
    value leaves a gap. The float model's level (ratio 1) is drawn for reference.
    """
    if not points:
        raise ValueError("no scan points to plot")
    for i, point in enumerate(points):
        if "bits" not in point or not isinstance(point.get(metric), dict):
            raise ValueError(f"scan point {i} lacks 'bits' or a '{metric}' mapping: keys {sorted(point)}")
    ordered = sorted(points, key=lambda p: p["bits"])
    bits = np.array([p["bits"] for p in ordered], dtype=np.float64)
    signals = list(dict.fromkeys(s for p in ordered for s in p[metric]))
    lines = {
        signal: np.array(
            [np.nan if p[metric].get(signal) is None else p[metric][signal] for p in ordered],
            dtype=np.float64,
        )
        for signal in signals
    }

    with styled_figure(path, title, data_label) as (_, (ax,)):
        ax.axhline(1.0, color="grey", linestyle=":", linewidth=1.5, label="float model", zorder=1)
        for i, (signal, values) in enumerate(lines.items()):
            style = _line_style(i)
            style["linewidth"] = min(style["linewidth"], 2.5)
            ax.plot(bits, values, marker=MARKERS[i % len(MARKERS)], markersize=9, label=signal, **style)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("bit width [bits]")
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
        ax.grid(True, alpha=0.3)
        # Ratios climb towards 1 with more bits: the lower right is where the curves are not.
        ax.legend(loc="best")
    return Path(path)


def mass_sculpting_plot(
    mass: np.ndarray,
    scores: np.ndarray,
    efficiencies: Sequence[float],
    path: str | Path,
    title: str,
    data_label: str,
    xlabel: str = "jet mass [GeV]",
) -> Path:
    """Normalised background mass distribution before and after score cuts, with ratios to before.

    For each efficiency e in (0, 1) the cut keeps the background events whose score is at least the
    ceil(e * n)-th highest (ties at the cut pass, so the kept fraction, shown in the legend, can exceed
    e). A score that does not sculpt the mass leaves every ratio flat at 1. Returns ``path``.
    """
    m = metrics.finite_1d(mass, "mass")
    s = metrics.finite_1d(scores, "scores")
    if m.shape != s.shape:
        raise ValueError(f"mass and scores differ in length: {m.size} vs {s.size}")
    effs = sorted((float(e) for e in efficiencies), reverse=True)
    if not effs or not all(0 < e < 1 for e in effs):
        raise ValueError(f"efficiencies must be a non-empty list of fractions in (0, 1), got {effs}")

    edges, _ = _histogram_edges(m, allow_log=False)
    folded = _fold(m, edges)
    before = np.histogram(folded, bins=edges)[0] / m.size
    descending = np.sort(s)[::-1]
    after = {}
    for eff in effs:
        kept = folded[s >= descending[int(np.ceil(eff * m.size)) - 1]]
        label = f"keep {100 * kept.size / m.size:.3g}% ({kept.size:,})"
        after[label] = np.histogram(kept, bins=edges)[0] / kept.size

    grid = {"nrows": 2, "sharex": True, "height_ratios": (3, 1), "figsize": (10.0, 9.0)}
    with styled_figure(path, title, data_label, **grid) as (_, (ax, ax_ratio)):
        ax.stairs(before, edges, color="black", linewidth=3.0, label=f"no cut ({m.size:,})", zorder=10)
        ax_ratio.axhline(1.0, color="black", linewidth=1.5)
        for i, (label, frac) in enumerate(after.items()):
            style = _line_style(i)
            style["linewidth"] = min(style["linewidth"], 2.5)
            ax.stairs(frac, edges, label=label, **style)
            with np.errstate(divide="ignore", invalid="ignore"):
                ax_ratio.stairs(np.where(before > 0, frac / before, np.nan), edges, **style)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(0.0, ax.get_ylim()[1] * 1.35)
        ax.set_ylabel("fraction of background / bin")
        ax.legend(loc="upper right", title="background score cut", title_fontsize=14)
        ax_ratio.set_xlabel(f"{xlabel} (under/overflow in first/last bin)")
        ax_ratio.set_ylabel("cut / no cut")
    return Path(path)


def pareto_front(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Boolean mask of the Pareto-optimal points when x is minimised and y maximised.

    A point is optimal unless another point is at least as good in both (x' <= x, y' >= y) and strictly
    better in one. Exact duplicates of an optimal point are all optimal.
    """
    x = metrics.finite_1d(xs, "xs")
    y = metrics.finite_1d(ys, "ys")
    if x.shape != y.shape:
        raise ValueError(f"xs and ys differ in length: {x.size} vs {y.size}")
    no_worse = (x[None, :] <= x[:, None]) & (y[None, :] >= y[:, None])
    better = (x[None, :] < x[:, None]) | (y[None, :] > y[:, None])
    return ~np.any(no_worse & better, axis=1)


def pareto_plot(
    points: list[dict],
    x: str,
    y: str,
    path: str | Path,
    title: str,
    data_label: str,
    label_key: str = "label",
    group_key: str = "group",
    x_limit: float | None = None,
    y_limit: float | None = None,
) -> Path:
    """Scatter of ``points`` in (``x``, ``y``) with the Pareto front (min x, max y) marked and joined.

    ``x_limit`` (e.g. the L1 budget's LUT count or latency) is drawn as a vertical line, ``y_limit`` (the
    gate's least efficiency ratio) as a horizontal one.
    The axis labels are the key names. Front points carrying ``label_key`` are annotated with it.
    Points carrying ``group_key`` (e.g. the quantizer) get one colour and marker per group; the front
    is taken over all groups together. A positive x spanning more than two decades (resources, bit
    operations) is drawn on a log axis. Returns ``path``.
    """
    if not points:
        raise ValueError("no points to plot")
    try:
        xs = np.array([float(p[x]) for p in points])
        ys = np.array([float(p[y]) for p in points])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"every point needs numeric '{x}' and '{y}' values ({exc!r})") from None
    front = pareto_front(xs, ys)
    order = np.flatnonzero(front)[np.argsort(xs[front], kind="stable")]

    with styled_figure(path, title, data_label) as (_, (ax,)):
        groups = [p.get(group_key, "scan point") for p in points]
        for i, group in enumerate(dict.fromkeys(groups)):
            mine = np.array([g == group for g in groups])
            ax.scatter(
                xs[mine],
                ys[mine],
                s=70,
                color=COLOURS[(2 * i) % len(COLOURS)],
                marker=MARKERS[i % len(MARKERS)],
                alpha=0.7,
                label=str(group),
                zorder=3,
            )
        ax.plot(
            xs[order],
            ys[order],
            color=COLOURS[1],
            marker="*",
            markersize=18,
            linestyle="--",
            linewidth=2.0,
            label="Pareto front",
            zorder=4,
        )
        # Front points at the same place (e.g. reuse factors of equal EBOPs) share one joined label.
        labels: dict[tuple[float, float], list[str]] = {}
        for i in order:
            if label_key in points[i]:
                labels.setdefault((xs[i], ys[i]), []).append(str(points[i][label_key]))
        for i in order:
            if (xs[i], ys[i]) in labels:
                # Labels go right of their point, except the last one, which would run off the frame.
                last = i == order[-1]
                ax.annotate(
                    " / ".join(labels.pop((xs[i], ys[i]))),
                    (xs[i], ys[i]),
                    xytext=(-10 if last else 10, -18),
                    textcoords="offset points",
                    ha="right" if last else "left",
                    fontsize=12,
                )
        if x_limit is not None:
            ax.axvline(x_limit, color="black", linestyle=":", linewidth=2.0, label="L1 budget")
        if y_limit is not None:
            ax.axhline(y_limit, color="grey", linestyle="-.", linewidth=2.0, label=f"gate: {y_limit:g}")
        if xs.min() > 0 and max(xs.max(), x_limit or 0.0) / xs.min() > 100:
            ax.set_xscale("log")
        # Room for the annotation below the lowest point.
        ax.margins(y=0.08)
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.grid(True, alpha=0.3)
        # No point lies above and left of the front, but a budget line far right can crowd the points there
        ax.legend(loc="best")
    return Path(path)
