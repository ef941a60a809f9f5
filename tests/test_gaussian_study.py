"""The 1-D Gaussian toy: a background-only BCE classifier ranks by direction, not by density.

Logistic regression keeps one ranking from the first epoch on (AUC fixed), tags the signal on the side of
the origin at the AUC that ranking by x gives, and mirrors exactly when the data are reflected.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from l1ad.config import Config
from l1ad.errors import L1adError
from tests.study_helpers import assert_plot_links
from training import metrics
from training.studies.gaussian import (
    BACKGROUND_MEAN,
    GRID,
    gaussian_samples,
    run_gaussian_study,
    signal_label,
    train_snapshots,
)

N_EVENTS = 4000
SEED = 3
EPOCHS = (1, 3, 8)
RIGHT, LEFT = signal_label(0.0), signal_label(-4.0)
# Ranking by x: AUC of N(0, 1) against N(-2, 1) is P(X_s > X_b) = Phi(2 / sqrt(2)); N(-4, 1) mirrors it.
AUC_BY_X = float(norm.cdf(2.0 / math.sqrt(2.0)))
AUC_STAT_TOLERANCE = 0.02  # a few binomial sigmas for 4000 + 4000 events


@pytest.fixture(scope="module")
def logistic() -> dict:
    drawn = gaussian_samples(N_EVENTS, SEED)
    reflected = gaussian_samples(N_EVENTS, SEED, mirrored=True)
    return {
        "drawn": train_snapshots("logistic", drawn, EPOCHS, 1e-2, SEED),
        "reflected": train_snapshots("logistic", reflected, EPOCHS, 1e-2, SEED),
    }


def test_samples_follow_the_toy_and_reflect_the_same_draws() -> None:
    drawn = gaussian_samples(N_EVENTS, SEED)
    reflected = gaussian_samples(N_EVENTS, SEED, mirrored=True)
    assert abs(drawn["train"].mean() - BACKGROUND_MEAN) < 0.1 and abs(drawn["train"].std() - 1.0) < 0.05
    assert abs(drawn["signals"][LEFT].mean() + 4.0) < 0.1
    np.testing.assert_array_equal(reflected["train"], -drawn["train"])
    np.testing.assert_array_equal(reflected["signals"][signal_label(4.0)], -drawn["signals"][LEFT])
    assert list(reflected["means"].values()) == [0.0, 4.0]
    with pytest.raises(ValueError, match="n_events"):
        gaussian_samples(1, SEED)


def test_logistic_regression_ranking_does_not_change_with_epochs(logistic: dict) -> None:
    snaps = logistic["drawn"]
    assert [s["epoch"] for s in snaps] == list(EPOCHS)
    for name in (RIGHT, LEFT):
        aucs = [s["auc"][name] for s in snaps]
        assert max(aucs) - min(aucs) < 1e-6, (name, aucs)
    # The slope keeps its sign (the ranking), the offset keeps falling (only the level of f moves).
    assert all(s["a"] > 0 for s in snaps)
    offsets = [s["b"] for s in snaps]
    assert all(later < earlier for earlier, later in zip(offsets, offsets[1:], strict=False))
    # The recorded curve is the model: logit on the grid is a x + b.
    last = snaps[-1]
    np.testing.assert_allclose(last["grid_logit"], last["a"] * GRID + last["b"], rtol=1e-6, atol=1e-6)


def test_right_signal_tagged_left_signal_anti_tagged(logistic: dict) -> None:
    final = logistic["drawn"][-1]["auc"]
    assert final[RIGHT] > 0.5 and final[LEFT] < 0.5
    # Tagged exactly as a cut on x would: the toy's analytic AUC, up to sampling noise.
    assert abs(final[RIGHT] - AUC_BY_X) < AUC_STAT_TOLERANCE
    assert abs(final[LEFT] - (1.0 - AUC_BY_X)) < AUC_STAT_TOLERANCE


def test_reflection_mirrors_the_tagging(logistic: dict) -> None:
    for drawn, reflected in zip(logistic["drawn"], logistic["reflected"], strict=True):
        # N(0, 1) is now to the left of the background and still tagged; N(4, 1) to the right, anti-tagged.
        assert reflected["auc"][RIGHT] == pytest.approx(drawn["auc"][RIGHT], abs=1e-6)
        assert reflected["auc"][signal_label(4.0)] == pytest.approx(drawn["auc"][LEFT], abs=1e-6)
        assert reflected["a"] == pytest.approx(-drawn["a"], abs=1e-6)
        assert reflected["b"] == pytest.approx(drawn["b"], abs=1e-6)


def test_snapshot_auc_matches_recomputation(logistic: dict) -> None:
    snap = logistic["drawn"][0]
    bkg, sig = snap["scores"]["background"], snap["scores"][RIGHT]
    y = np.r_[np.zeros(len(bkg)), np.ones(len(sig))]
    assert snap["auc"][RIGHT] == metrics.auc(y, np.r_[bkg, sig])
    with pytest.raises(ValueError, match="epochs"):
        train_snapshots("logistic", gaussian_samples(10, SEED), (), 1e-2, SEED)
    with pytest.raises(ValueError, match="unknown model"):
        train_snapshots("forest", gaussian_samples(10, SEED), (1,), 1e-2, SEED)


def test_run_gaussian_study_writes_json_markdown_and_figures(tmp_path: Path) -> None:
    config = Config()
    config.studies.gaussian.n_events = 1500
    config.studies.gaussian.epochs = (1, 2)
    summary = run_gaussian_study(config, tmp_path, tmp_path)

    study = json.loads((tmp_path / "study.json").read_text())
    assert set(study["models"]) == {"logistic", "mlp"}
    for kind, cases in study["models"].items():
        assert list(cases) == ["as drawn", "reflected x -> -x"]
        for case, record in cases.items():
            assert [s["epoch"] for s in record["snapshots"]] == [1, 2]
            assert len(record["snapshots"][0]["logit_on_grid"]) == len(record["snapshots"][0]["grid"])
            for name, info in record["signals"].items():
                assert summary[kind][case][name] == round(info["auc_per_epoch"][-1], 4)
    drawn = study["models"]["logistic"]["as drawn"]["signals"]
    assert drawn[RIGHT]["side"] == "right" and drawn[RIGHT]["tagged"]
    assert drawn[LEFT]["side"] == "left" and not drawn[LEFT]["tagged"]
    assert drawn[RIGHT]["auc_spread"] < 1e-6
    reflected = study["models"]["logistic"]["reflected x -> -x"]["signals"]
    assert reflected[RIGHT]["side"] == "left" and reflected[RIGHT]["tagged"]
    assert study["mirror_difference"]["logistic"] < 1e-6

    assert_plot_links(tmp_path, "gaussian", 4)


def test_bad_study_settings_fail_with_one_line(tmp_path: Path) -> None:
    config = Config()
    config.studies.gaussian.epochs = (0, 5)
    with pytest.raises(L1adError, match="studies.gaussian"):
        run_gaussian_study(config, tmp_path, tmp_path)
