"""Tests of reports.plots: every figure is a real PNG at the promised size, reads as intended, is
written atomically and leaves no open figure behind."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.figure import Figure

from reports import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LABEL = "l1ad · synthetic data"


@pytest.fixture
def drawn(monkeypatch) -> list[Figure]:
    """Figures the plot functions closed, kept for inspection (closing only unregisters them)."""
    figures: list[Figure] = []
    close = plots.plt.close

    def keep(fig):
        figures.append(fig)
        close(fig)

    monkeypatch.setattr(plots.plt, "close", keep)
    return figures


@pytest.fixture
def events():
    """3000 background (exponential score) and 600 signal (harder exponential) events."""
    rng = np.random.default_rng(7)
    y = np.r_[np.zeros(3000, int), np.ones(600, int)]
    score = np.r_[rng.exponential(1.0, 3000), rng.exponential(3.0, 600)]
    return y, score


def check_png(path: Path, written: Path, size_inches: tuple[float, float]) -> np.ndarray:
    """The returned path is the file asked for, a PNG of the figure size at 150 dpi, not blank."""
    assert written == path
    assert path.read_bytes()[:8] == PNG_MAGIC
    image = mpimg.imread(path)
    assert image.shape[:2] == (round(size_inches[1] * 150), round(size_inches[0] * 150))
    assert image[..., :3].std() > 0.05
    assert not list(path.parent.glob("*.partial")), "temporary file left behind"
    assert plots.plt.get_fignums() == [], "figure left open"
    return image


def test_roc_plot_overlays_identical_curves_distinguishably(tmp_path, events, drawn):
    y, score = events
    lsb = 2.0**-6
    quantised = np.round(score / lsb) * lsb
    curves = {"float (AUC 0.8)": (y, score), "QKeras": (y, quantised), "csim": (y, quantised.copy())}
    path = tmp_path / "roc.png"
    check_png(path, plots.roc_plot(curves, path, "AE: signal vs background", LABEL, 1e-5), (10, 7.5))

    (ax,) = [a for a in drawn[0].axes]
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "background efficiency (FPR)"
    lines = {line.get_label(): line for line in ax.get_lines()}
    styles = {(str(lines[k].get_linestyle()), lines[k].get_linewidth()) for k in curves}
    assert len(styles) == 3, "identical curves must differ in line style or width"
    # The trigger line sits at 1e-5, left of every curve (3000 background events reach only 1/3000).
    trigger = lines["trigger FPR 1e-05"]
    assert np.allclose(trigger.get_xdata(), 1e-5)
    assert ax.get_xlim()[0] < 1e-5
    assert min(lines["QKeras"].get_xdata()) == pytest.approx(1 / 3000)
    assert LABEL in [t.get_text() for t in ax.texts]
    assert not any("CMS" in t.get_text() or "Preliminary" in t.get_text() for t in ax.texts)


def test_sic_plot(tmp_path, events, drawn):
    y, score = events
    path = tmp_path / "sic.png"
    check_png(path, plots.sic_plot({"float": (y, score)}, path, "t", LABEL, min_background=20), (10, 7.5))
    line = next(line for line in drawn[0].axes[0].get_lines() if line.get_label() == "float")
    # Working points with fewer than 20 background passing are dropped; the last point is SIC = 1.
    tpr, sic = line.get_xdata(), line.get_ydata()
    assert tpr[-1] == pytest.approx(1.0) and sic[-1] == pytest.approx(1.0)
    assert sic.max() <= 1.0 / np.sqrt(20 / 3000) + 1e-9


def test_score_histograms_heavy_tail_and_constant_class(tmp_path, drawn):
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1, 2], [4000, 500, 300])
    scores = np.r_[rng.lognormal(0.0, 2.0, 4000), rng.lognormal(2.0, 2.0, 500), np.full(300, 5.0)]
    scores[:3] = [1e9, 1e10, 1e-9]  # a few wild values must not set the binning
    path = tmp_path / "hist.png"
    written = plots.score_histograms(
        scores, y, ["background", "signal A", "constant"], path, "scores", LABEL, xlabel="MSE"
    )
    check_png(path, written, (10, 7.5))

    ax = drawn[0].axes[0]
    assert ax.get_yscale() == "log"
    assert ax.get_xscale() == "log"  # positive scores spanning many decades
    assert "overflow" in ax.get_xlabel()
    edges = ax.patches[0].get_data().edges
    assert edges[-1] < 1e6 and edges[0] > 1e-6
    for patch in ax.patches:
        # Every event lands in some bin (overflow folded in): each class sums to one.
        assert patch.get_data().values.sum() == pytest.approx(1.0)
    constant = ax.patches[2].get_data().values
    assert np.count_nonzero(constant) == 1
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "background (4,000)",
        "signal A (500)",
        "constant (300)",
    ]


def test_score_histograms_all_scores_equal(tmp_path):
    y = np.repeat([0, 1], [100, 50])
    path = tmp_path / "flat.png"
    check_png(path, plots.score_histograms(np.zeros(150), y, ["bkg", "sig"], path, "t", LABEL), (10, 7.5))


def test_score_histograms_rejects_bad_labels(tmp_path):
    with pytest.raises(ValueError, match="index classes"):
        plots.score_histograms(np.ones(4), np.array([0, 1, 2, 3]), ["a", "b"], tmp_path / "x.png", "t", LABEL)
    assert not any(tmp_path.iterdir())


def test_csim_scatter_counts_exact_matches(tmp_path, drawn):
    rng = np.random.default_rng(5)
    lsb = 2.0**-8
    qkeras = np.round(rng.exponential(1.0, 8000) / lsb) * lsb
    csim = qkeras.copy()
    csim[:40] += lsb  # 0.5% off by one LSB
    path = tmp_path / "csim.png"
    check_png(path, plots.csim_scatter(qkeras, csim, path, "csim vs QKeras", LABEL, lsb), (16, 7.5))

    ax, ax_diff = drawn[0].axes[:2]
    assert "exact match: 99.50%" in " ".join(t.get_text() for t in ax.texts)
    counts = ax_diff.patches[0].get_data()
    centres = 0.5 * (counts.edges[:-1] + counts.edges[1:])
    assert dict(zip(centres[counts.values > 0], counts.values[counts.values > 0], strict=True)) == {
        0.0: 7960,
        1.0: 40,
    }


def test_csim_scatter_small_sample_is_a_scatter(tmp_path, drawn):
    q = np.linspace(0, 1, 200)
    path = tmp_path / "csim_small.png"
    check_png(path, plots.csim_scatter(q, q, path, "t", LABEL, 0.01), (16, 7.5))
    assert len(drawn[0].axes[0].collections) == 1  # the scatter, no 2-D histogram or colour bar
    with pytest.raises(ValueError, match="lsb"):
        plots.csim_scatter(q, q, tmp_path / "bad.png", "t", LABEL, 0.0)


def test_bit_scan_plot(tmp_path, drawn):
    points = [
        {"bits": 8, "auc_ratio": {"Ato4l": 0.99, "LQ": 0.97}, "efficiency_ratio": {"Ato4l": 0.9, "LQ": None}},
        {"bits": 4, "auc_ratio": {"Ato4l": 0.90, "LQ": 0.85}, "efficiency_ratio": {"Ato4l": 0.5, "LQ": 0.4}},
        {"bits": 16, "auc_ratio": {"Ato4l": 1.0, "LQ": 1.0}, "efficiency_ratio": {"Ato4l": 1.0, "LQ": 1.0}},
    ]
    for metric, ylabel in (
        ("auc_ratio", "AUC / AUC$_\\mathrm{float}$"),
        ("efficiency_ratio", "efficiency ratio at the trigger rate"),
    ):
        path = tmp_path / f"{metric}.png"
        check_png(path, plots.bit_scan_plot(points, path, "scan", LABEL, metric), (10, 7.5))
        assert drawn[-1].axes[0].get_ylabel().startswith(ylabel)
    lines = {line.get_label(): line for line in drawn[-1].axes[0].get_lines()}
    assert list(lines["Ato4l"].get_xdata()) == [4, 8, 16]  # sorted by bits
    assert np.isnan(lines["LQ"].get_ydata()[1])  # a null value is a gap
    with pytest.raises(ValueError, match="scan point 0"):
        plots.bit_scan_plot([{"bits": 4}], tmp_path / "bad.png", "t", LABEL)


def test_mass_sculpting_flat_for_independent_score(tmp_path, drawn):
    rng = np.random.default_rng(11)
    mass = rng.gamma(4.0, 20.0, 6000)
    independent = rng.normal(size=6000)
    path = tmp_path / "flat.png"
    check_png(path, plots.mass_sculpting_plot(mass, independent, [0.5], path, "t", LABEL), (10, 9))
    # A score that grows with mass sculpts: keeping the top 10% moves the mean mass up.
    path = tmp_path / "sculpted.png"
    plots.mass_sculpting_plot(mass, mass + rng.normal(0, 10, 6000), [0.1], path, "t", LABEL)

    def mean_mass(fig: Figure) -> tuple[float, float]:
        before, after = (p.get_data() for p in fig.axes[0].patches[:2])
        centres = 0.5 * (before.edges[:-1] + before.edges[1:])
        return float(centres @ before.values), float(centres @ after.values)

    before, after = mean_mass(drawn[0])
    assert after == pytest.approx(before, rel=0.05)
    before, after = mean_mass(drawn[1])
    assert after > 1.5 * before
    assert "keep 10%" in drawn[1].axes[0].get_legend().get_texts()[1].get_text()


def test_pareto_front_hand_made():
    xs = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 1.0, 3.0])
    ys = np.array([0.5, 0.7, 0.6, 0.7, 0.9, 0.5, 0.8])
    # (2, 0.6) is beaten by (2, 0.7); (3, 0.7) by (2, 0.7); the duplicate (1, 0.5) points both stay.
    assert plots.pareto_front(xs, ys).tolist() == [True, True, False, False, True, True, True]
    assert plots.pareto_front(np.array([5.0]), np.array([1.0])).tolist() == [True]


def test_pareto_plot(tmp_path, drawn):
    points = [{"label": f"{b} bits", "LUT": 100.0 * b**2, "AUC": 0.9 - 1 / b} for b in (2, 4, 8, 16, 32)]
    points.append({"label": "bad", "LUT": 5000.0, "AUC": 0.5})
    path = tmp_path / "pareto.png"
    check_png(path, plots.pareto_plot(points, "LUT", "AUC", path, "cost vs AUC", LABEL), (10, 7.5))
    ax = drawn[0].axes[0]
    front = next(line for line in ax.get_lines() if line.get_label() == "Pareto front")
    assert list(front.get_xdata()) == [400.0, 1600.0, 6400.0, 25600.0, 102400.0]
    assert ax.get_xscale() == "log"
    assert "bad" not in [t.get_text() for t in ax.texts]
    with pytest.raises(ValueError, match="numeric 'LUT'"):
        plots.pareto_plot([{"AUC": 1.0}], "LUT", "AUC", tmp_path / "bad.png", "t", LABEL)


def test_failed_save_leaves_nothing(tmp_path, events, monkeypatch):
    y, score = events
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(OSError):
        plots.roc_plot({"float": (y, score)}, blocker / "roc.png", "t", LABEL)
    assert plots.plt.get_fignums() == []

    def broken_savefig(self, fname, **kwargs):
        Path(fname).write_bytes(PNG_MAGIC)  # half a file, then the failure
        raise RuntimeError("disk full")

    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(RuntimeError, match="disk full"):
        plots.sic_plot({"float": (y, score)}, out / "sic.png", "t", LABEL)
    assert list(out.iterdir()) == []
    assert plots.plt.get_fignums() == []
