"""Tests of training.metrics: hand-computed toys, threshold conventions, correlations, aggregation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from training import metrics

# Toy: 4 background, 4 signal, interleaved so that every figure is worked out by hand below.
BKG = [0.1, 0.3, 0.5, 0.7]
SIG = [0.4, 0.6, 0.8, 0.9]
Y_TOY = np.array([0] * 4 + [1] * 4)
S_TOY = np.array(BKG + SIG)


def test_toy_auc_by_pair_counting():
    # Signal beats background in 2 (0.4) + 3 (0.6) + 4 (0.8) + 4 (0.9) = 13 of 16 pairs.
    assert metrics.auc(Y_TOY, S_TOY) == pytest.approx(13 / 16)


def test_toy_roc_points():
    fpr, tpr, thr = metrics.roc(Y_TOY, S_TOY)
    # Lowering the threshold through 0.9, 0.8, ..., 0.1 (score >= threshold passes).
    assert np.isinf(thr[0])
    np.testing.assert_allclose(thr[1:], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.1])
    np.testing.assert_allclose(fpr, [0, 0, 0, 0.25, 0.25, 0.5, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(tpr, [0, 0.25, 0.5, 0.5, 0.75, 0.75, 1.0, 1.0, 1.0])


def test_toy_sic():
    # Working points with fpr > 0: (tpr, fpr) = (.5,.25) (.75,.25) (.75,.5) (1,.5) (1,.75) (1,1).
    tpr, sic = metrics.sic_curve(Y_TOY, S_TOY, min_background=1)
    np.testing.assert_allclose(tpr, [0.5, 0.75, 0.75, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(
        sic, [1.0, 1.5, 0.75 / math.sqrt(0.5), 1 / math.sqrt(0.5), 1 / math.sqrt(0.75), 1.0]
    )
    assert metrics.max_sic(Y_TOY, S_TOY, min_background=1) == pytest.approx(1.5)
    # Requiring 2 background events drops the fpr = 0.25 points: best is tpr 1 at fpr 0.5.
    assert metrics.max_sic(Y_TOY, S_TOY, min_background=2) == pytest.approx(math.sqrt(2))
    with pytest.raises(ValueError, match="fewer than min_background"):
        metrics.sic_curve(Y_TOY, S_TOY, min_background=5)


def test_toy_tpr_at_fpr():
    # k = 1 background event allowed: threshold = 2nd largest background (0.5); 0.7 passes,
    # signal 0.6, 0.8, 0.9 pass.
    r = metrics.tpr_at_fpr(Y_TOY, S_TOY, target_fpr=0.25)
    assert r["threshold"] == 0.5
    assert r["n_background_pass"] == 1 and r["fpr"] == 0.25 and r["n_background"] == 4
    assert r["tpr"] == 0.75
    assert r["tpr_uncertainty"] == pytest.approx(math.sqrt(0.75 * 0.25 / 4))
    assert r["reachable"] and r["note"] == ""
    # k = 2: threshold 0.3, all signal passes.
    r = metrics.tpr_at_fpr(Y_TOY, S_TOY, target_fpr=0.5)
    assert (r["threshold"], r["fpr"], r["tpr"], r["tpr_uncertainty"]) == (0.3, 0.5, 1.0, 0.0)


def test_tpr_at_fpr_unreachable():
    # 4 * 0.2 < 1: no background event may pass; threshold = largest background score.
    r = metrics.tpr_at_fpr(Y_TOY, S_TOY, target_fpr=0.2)
    assert r["reachable"] is False
    assert r["threshold"] == 0.7 and r["n_background_pass"] == 0 and r["fpr"] == 0.0
    assert r["tpr"] == 0.5
    assert "needs at least 5 background events" in r["note"]
    assert r["target_fpr"] == 0.2


def test_perfect_and_reversed_separation():
    y = np.array([0, 0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    assert metrics.auc(y, s) == 1.0
    assert metrics.auc(y, -s) == 0.0
    r = metrics.tpr_at_fpr(y, s, target_fpr=0.4)
    assert r["threshold"] == 0.2 and r["tpr"] == 1.0


def test_ties():
    # A signal tied with a background counts half a pair: (0.5 + 1 + 2) / 4.
    assert metrics.auc([0, 0, 1, 1], [0.5, 0.1, 0.5, 0.9]) == pytest.approx(0.875)
    # Three background events tie at 0.5; the target allows 2 of 4 to pass, but any threshold
    # below 0.5 passes 3, so the rule keeps 0.5 and nothing passes.
    y = np.array([0, 0, 0, 0, 1, 1])
    s = np.array([0.2, 0.5, 0.5, 0.5, 0.5, 0.7])
    r = metrics.tpr_at_fpr(y, s, target_fpr=0.5)
    assert r["threshold"] == 0.5 and r["n_background_pass"] == 0 and r["fpr"] == 0.0
    assert r["reachable"] is True and "3 background events tie" in r["note"]
    assert r["tpr"] == 0.5  # the signal at 0.5 does not pass score > threshold


def test_fpr_at_float_rounding_boundary():
    # 100000 * 1e-5 and 1e-5 * 3e5 must give exactly 1 and 3 allowed events, not 0 or 2.
    bkg = np.arange(300_000, dtype=float)
    r = metrics.threshold_for_rate(bkg[:100_000], rate_hz=400.0)
    assert r["n_background_pass"] == 1 and r["reachable"]
    r = metrics.threshold_for_rate(bkg, rate_hz=400.0)
    assert r["n_background_pass"] == 3 and r["threshold"] == 299_996.0


@pytest.mark.parametrize(
    ("n", "target_fpr", "k"),
    [
        (22, 15 / 22, 15),  # 22 * (15/22) rounds to 14.999...: k must still be 15
        (10, np.nextafter(0.9, 0.0), 8),  # 10 * f rounds to 9.0, yet 9/10 > f: k must be 8
    ],
)
def test_allowed_count_settled_on_exact_comparison(n, target_fpr, k):
    y = np.r_[np.zeros(n), np.ones(1)]
    r = metrics.tpr_at_fpr(y, np.r_[np.arange(n, dtype=float), n], target_fpr=target_fpr)
    assert r["n_background_pass"] == k and r["threshold"] == n - 1 - k


@pytest.mark.parametrize("rate_hz", [400.0, 1_000.0, 10_000.0, 1e6])
def test_threshold_for_rate_matches_direct_quantile(rate_hz):
    rng = np.random.default_rng(7)
    bkg = rng.normal(size=200_000)
    n = bkg.size
    r = metrics.threshold_for_rate(bkg, rate_hz)
    k = math.floor(n * rate_hz / 40e6 + 1e-9)
    assert r["threshold"] == np.sort(bkg)[n - 1 - k]
    assert r["threshold"] == np.quantile(bkg, (n - 1 - k) / (n - 1), method="lower")
    assert r["n_background_pass"] == k == np.count_nonzero(bkg > r["threshold"])
    assert r["achieved_rate_hz"] == pytest.approx(k / n * 40e6)
    assert r["fpr"] <= rate_hz / 40e6 and r["achieved_rate_hz"] <= rate_hz * (1 + 1e-12)
    assert r["rate_uncertainty_hz"] == pytest.approx(math.sqrt(k) / n * 40e6)
    assert r["fpr"] == pytest.approx(k / n) and r["reachable"]
    # One threshold rule: tpr_at_fpr at the same FPR picks the same cut.
    y = np.r_[np.zeros(n), np.ones(1000)]
    t = metrics.tpr_at_fpr(y, np.r_[bkg, rng.normal(2.0, 1.0, 1000)], target_fpr=rate_hz / 40e6)
    assert t["threshold"] == r["threshold"]


def test_threshold_for_rate_unreachable():
    r = metrics.threshold_for_rate(np.linspace(0, 1, 1000), rate_hz=400.0)
    assert r["reachable"] is False and r["threshold"] == 1.0
    assert r["achieved_rate_hz"] == 0.0 and r["rate_uncertainty_hz"] == 0.0


def test_efficiency():
    r = metrics.efficiency(np.array([0.1, 0.4, 0.6, 0.9, 1.2]), 0.5)
    assert r["efficiency"] == pytest.approx(0.6) and r["n_pass"] == 3 and r["n"] == 5
    assert r["uncertainty"] == pytest.approx(math.sqrt(0.6 * 0.4 / 5))


def test_input_errors():
    with pytest.raises(ValueError, match="only one class"):
        metrics.roc(np.zeros(5), np.arange(5.0))
    with pytest.raises(ValueError, match="differ in length"):
        metrics.auc([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="not finite"):
        metrics.roc([0, 1, 1], [0.1, np.nan, 0.3])
    with pytest.raises(ValueError, match="binary"):
        metrics.auc([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="target FPR"):
        metrics.tpr_at_fpr(Y_TOY, S_TOY, target_fpr=0.0)
    with pytest.raises(ValueError, match="rate must lie"):
        metrics.threshold_for_rate(np.arange(10.0), rate_hz=50e6)


def _dcor_naive(a: np.ndarray, b: np.ndarray) -> float:
    """Textbook dCor from the full double-centred matrices."""

    def centred(x: np.ndarray) -> np.ndarray:
        d = cdist(x.reshape(len(x), -1), x.reshape(len(x), -1))
        return d - d.mean(axis=0) - d.mean(axis=1)[:, None] + d.mean()

    A, B = centred(a), centred(b)
    return math.sqrt((A * B).mean() / math.sqrt((A * A).mean() * (B * B).mean()))


def test_distance_correlation_values():
    rng = np.random.default_rng(3)
    x = rng.normal(size=2000)
    assert metrics.distance_correlation(x, rng.normal(size=2000)) < 0.1
    assert metrics.distance_correlation(x, x) == pytest.approx(1.0, abs=1e-12)
    assert metrics.distance_correlation(x, -3.0 * x + 5.0) == pytest.approx(1.0, abs=1e-12)
    # x symmetric about 0: y = x^2 is fully dependent on x yet uncorrelated with it.
    assert abs(metrics.pearson(x, x**2)) < 0.1
    assert metrics.distance_correlation(x, x**2) > 0.3
    assert metrics.distance_correlation(x, np.full(2000, 2.0)) == 0.0


def test_distance_correlation_matches_naive_in_blocks(monkeypatch):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 2))
    z = np.c_[np.abs(x[:, 0]) + rng.normal(0, 0.5, 300)]
    u = rng.exponential(size=300)
    expected_2d = _dcor_naive(x, z)
    expected_1d = _dcor_naive(u, z[:, 0])
    # Blocks of 7 rows (300 = 42 * 7 + 6): exercises the blocked passes and the ragged last block.
    monkeypatch.setattr(metrics, "_BLOCK_ELEMENTS", 7 * 300)
    assert metrics.distance_correlation(x, z) == pytest.approx(expected_2d, rel=1e-10)
    assert metrics.distance_correlation(u, z[:, 0]) == pytest.approx(expected_1d, rel=1e-10)


def test_distance_correlation_subsamples_with_seed():
    rng = np.random.default_rng(5)
    x = rng.normal(size=3000)
    y = x + rng.normal(size=3000)
    sub = metrics.distance_correlation(x, y, max_events=500, seed=1)
    assert sub == metrics.distance_correlation(x, y, max_events=500, seed=1)
    assert sub != metrics.distance_correlation(x, y, max_events=500, seed=2)
    idx = np.random.default_rng(1).choice(3000, size=500, replace=False)
    assert sub == pytest.approx(_dcor_naive(x[idx], y[idx]), rel=1e-10)


def test_pearson():
    assert metrics.pearson([1, 2, 3, 4], [2, 4, 6, 8]) == pytest.approx(1.0)
    # Centred a = (-1, 0, 1), b = (1, -2, 1): dot product 0.
    assert metrics.pearson([1, 2, 3], [1, -2, 1]) == pytest.approx(0.0, abs=1e-15)
    assert math.isnan(metrics.pearson([1, 2, 3], [5, 5, 5]))


def test_aggregate():
    r = metrics.aggregate([0.8, 0.9, 1.0])
    assert r["best"] == 1.0 and r["mean"] == pytest.approx(0.9) and r["n"] == 3
    assert r["std"] == pytest.approx(math.sqrt(0.02 / 3))  # population std, not sample std (0.1)
    assert metrics.aggregate([0.8, 0.9, 1.0], higher_is_better=False)["best"] == 0.8
    with pytest.raises(ValueError, match="non-empty"):
        metrics.aggregate([])


def test_summarise_toy():
    r = metrics.summarise(Y_TOY, S_TOY, target_fpr=0.25, min_background=1)
    assert r["auc"] == pytest.approx(13 / 16) and r["max_sic"] == pytest.approx(1.5)
    assert r["tpr_at_fpr"]["tpr"] == 0.75 and r["n_signal"] == 4 and r["n_background"] == 4


def test_signal_selections_each_signal_against_all_backgrounds():
    # Classes: two backgrounds (0, 1), two signals (2, 3).
    y = np.array([0, 2, 1, 3, 0, 2])
    sel = metrics.signal_selections(y, ["qcd", "wz", "top", "h"], 2)
    assert list(sel) == ["top", "h"]
    mask, labels = sel["top"]
    np.testing.assert_array_equal(mask, [True, True, True, False, True, True])
    np.testing.assert_array_equal(labels, [0, 1, 0, 0, 1])
    mask, labels = sel["h"]
    np.testing.assert_array_equal(mask, [True, False, True, True, True, False])
    np.testing.assert_array_equal(labels, [0, 0, 1, 0])
    assert metrics.signal_selections(y, ["qcd", "wz", "top", "h"], 4) == {}


def test_per_signal_applies_the_figure():
    y = np.array([0] * 4 + [1] * 4 + [2] * 4)
    scores = np.concatenate([BKG, SIG, [0.0, 0.0, 0.0, 0.0]])
    aucs = metrics.per_signal(scores, y, ["bkg", "a", "b"], 1, metrics.auc)
    assert aucs == {"a": pytest.approx(13 / 16), "b": 0.0}  # b: every signal score below every background
    figs = metrics.per_signal(
        scores, y, ["bkg", "a", "b"], 1, metrics.summarise, target_fpr=0.25, min_background=1
    )
    assert figs["a"] == metrics.summarise(Y_TOY, S_TOY, target_fpr=0.25, min_background=1)


def test_mean_std():
    agg = metrics.aggregate([0.8, 0.9, 1.0])
    assert metrics.mean_std(agg, 3) == "0.900 ± 0.082"
    assert metrics.mean_std(agg, 2, sep=" +- ") == "0.90 +- 0.08"
    assert metrics.mean_std(None, 3) == "n/a"
    one = metrics.aggregate([0.5])
    assert metrics.mean_std(one, 1) == "0.5 ± 0.0"
    assert metrics.mean_std(one, 1, std_of_one=False) == "0.5"
    assert metrics.mean_std(agg, 1, std_of_one=False) == "0.9 ± 0.1"
