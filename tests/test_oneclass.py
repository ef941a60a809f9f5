"""One-class scorers and the one-class study: OC-SVM rebuilt in numpy equals scikit-learn, each method
separates far outliers from a Gaussian background, save/load reproduces scores exactly, and the study runs
end to end on a small dijet file in the real layout."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from sklearn.svm import OneClassSVM

from l1ad.artifacts import RunPaths
from l1ad.config import Config, DijetData
from l1ad.errors import InputError
from tests.study_helpers import assert_plot_links
from training import metrics
from training.bottleneck_ae import BottleneckAE, build_autoencoder
from training.data.dijet import generate_dijet_features, prepare_dijet
from training.deep_svdd import DeepSVDD, initial_centre, soft_boundary_radius
from training.ocsvm import OneClassSVMScorer, resolve_gamma
from training.scorer import load_scorer
from training.studies.oneclass import METHODS, power_law_exponent, run_oneclass_study, scaling_sizes

N_FEATURES = 5


@pytest.fixture(scope="module")
def blobs() -> dict[str, np.ndarray]:
    """Background N(0, I_5); anomalies on a shell of radius 5 (well outside the bulk, any direction)."""
    rng = np.random.default_rng(11)
    direction = rng.normal(size=(500, N_FEATURES))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    anomalies = 5.0 * direction + rng.normal(0.0, 0.3, (500, N_FEATURES))
    X_test = np.concatenate([rng.normal(size=(1000, N_FEATURES)), anomalies]).astype(np.float32)
    return {
        "train": rng.normal(size=(2000, N_FEATURES)).astype(np.float32),
        "val": rng.normal(size=(300, N_FEATURES)).astype(np.float32),
        "test": X_test,
        "y": np.r_[np.zeros(1000), np.ones(500)].astype(int),
    }


def _scorers() -> dict[str, object]:
    return {
        "ocsvm_inner": OneClassSVMScorer(nu=0.9, n_train=1000, seed=2),
        "ocsvm_outer": OneClassSVMScorer(nu=0.1, n_train=1000, seed=2),
        "deep_svdd_oneclass": DeepSVDD(N_FEATURES, objective="one-class", epochs=3, seed=2, device="cpu"),
        "deep_svdd_soft": DeepSVDD(
            N_FEATURES, objective="soft-boundary", nu=0.1, epochs=3, seed=2, device="cpu"
        ),
        "bottleneck_ae": BottleneckAE(N_FEATURES, hidden=128, epochs=3, seed=2, device="cpu"),
    }


@pytest.fixture(scope="module")
def fitted(blobs: dict[str, np.ndarray]) -> dict[str, object]:
    return {name: scorer.fit(blobs["train"], blobs["val"]) for name, scorer in _scorers().items()}


@pytest.mark.parametrize("nu", [0.9, 0.1])
def test_ocsvm_numpy_decision_equals_sklearn(blobs: dict[str, np.ndarray], nu: float) -> None:
    X = blobs["train"][:800]
    scorer = OneClassSVMScorer(nu=nu, n_train=5000).fit(X)
    assert scorer.n_train_used == 800
    assert scorer.gamma == pytest.approx(1.0 / (N_FEATURES * X.astype(np.float64).var()))
    reference = OneClassSVM(kernel="rbf", nu=nu, gamma=scorer.gamma).fit(X.astype(np.float64))
    np.testing.assert_allclose(
        scorer.decision_function(blobs["test"]),
        reference.decision_function(blobs["test"]),
        rtol=1e-9,
        atol=1e-9,
    )
    # The anomaly score is minus the decision value: positive decision = inside the background's support.
    np.testing.assert_array_equal(scorer.score(blobs["test"]), -scorer.decision_function(blobs["test"]))


def test_ocsvm_fits_a_subsample_and_keeps_the_nu_property(blobs: dict[str, np.ndarray]) -> None:
    a = OneClassSVMScorer(nu=0.3, n_train=500, seed=1).fit(blobs["train"])
    b = OneClassSVMScorer(nu=0.3, n_train=500, seed=2).fit(blobs["train"])
    assert a.n_train_used == 500 and b.n_train_used == 500
    train_rows = {row.tobytes() for row in blobs["train"].astype(np.float64)}
    assert all(sv.tobytes() in train_rows for sv in a.support_vectors)
    assert not np.array_equal(a.subsample(blobs["train"]), b.subsample(blobs["train"]))
    # nu bounds the fraction of training outliers from above and the fraction of support vectors from below.
    used = a.subsample(blobs["train"])
    outside = np.mean(a.decision_function(used) < -1e-9)
    assert outside <= 0.3 + 0.01 and len(a.support_vectors) / 500 >= 0.3 - 0.01


def test_resolve_gamma_conventions() -> None:
    X = np.arange(10.0).reshape(5, 2)
    assert resolve_gamma("scale", X) == pytest.approx(1.0 / (2 * X.var()))
    assert resolve_gamma("auto", X) == 0.5
    assert resolve_gamma("0.25", X) == 0.25
    with pytest.raises(ValueError, match="gamma"):
        resolve_gamma("wide", X)
    with pytest.raises(ValueError, match="positive"):
        resolve_gamma(-1.0, X)


@pytest.mark.parametrize("name", list(_scorers()))
def test_each_method_tags_far_outliers(fitted: dict, blobs: dict[str, np.ndarray], name: str) -> None:
    scores = fitted[name].score(blobs["test"])
    assert scores.shape == (1500,) and np.all(np.isfinite(scores))
    assert metrics.auc(blobs["y"], scores) > 0.9


@pytest.mark.parametrize("name", list(_scorers()))
def test_save_load_round_trip_gives_identical_scores(
    fitted: dict, blobs: dict[str, np.ndarray], name: str, tmp_path: Path
) -> None:
    scorer = fitted[name]
    scorer.save(tmp_path)
    assert json.loads((tmp_path / "scorer.json").read_text())["kind"] == scorer.kind
    assert not list(tmp_path.glob("*.pkl")) and not list(tmp_path.glob("*.partial"))
    loaded = load_scorer(tmp_path)
    assert type(loaded) is type(scorer)
    np.testing.assert_array_equal(loaded.score(blobs["test"]), scorer.score(blobs["test"]))


def test_load_rejects_a_missing_weight_file(fitted: dict, tmp_path: Path) -> None:
    fitted["deep_svdd_oneclass"].save(tmp_path)
    (tmp_path / "network.pt").unlink()
    with pytest.raises(InputError, match="network.pt"):
        load_scorer(tmp_path)


def test_deep_svdd_has_no_bias_and_a_guarded_centre(fitted: dict, blobs: dict[str, np.ndarray]) -> None:
    svdd = fitted["deep_svdd_oneclass"]
    names = [n for n, _ in svdd.network.named_parameters()]
    assert names and not any("bias" in n for n in names)
    assert svdd.network[-1].out_features == 128
    assert np.all(np.abs(svdd.centre) >= 0.1 - 1e-7)
    np.testing.assert_allclose(
        initial_centre(np.array([[0.05, -0.02, 1.0], [0.03, -0.04, 3.0]])), [0.1, -0.1, 2.0]
    )
    assert np.all(svdd.score(blobs["test"]) >= 0)
    assert svdd.history["loss"][-1] < svdd.history["loss"][0]


def test_soft_boundary_leaves_nu_of_the_training_events_outside(
    fitted: dict, blobs: dict[str, np.ndarray]
) -> None:
    soft = fitted["deep_svdd_soft"]
    assert soft.radius > 0
    outside = np.mean(soft.score(blobs["train"]) > 0)
    assert outside == pytest.approx(0.1, abs=0.005)
    assert soft_boundary_radius(np.array([1.0, 4.0, 9.0, 16.0, 25.0]), nu=0.5) == pytest.approx(3.0)


def test_bottleneck_ae_layout() -> None:
    net = build_autoencoder(N_FEATURES, hidden=512, latent=2)
    linear = [(m.in_features, m.out_features) for m in net if hasattr(m, "in_features")]
    assert linear == [(5, 512), (512, 512), (512, 2), (2, 512), (512, 512), (512, 5)]
    assert type(net[2]).__name__ == "BatchNorm1d" and net[2].num_features == 512
    with pytest.raises(ValueError, match="at least 2"):
        BottleneckAE(N_FEATURES, epochs=1).fit(np.zeros((1, N_FEATURES), dtype=np.float32))


def test_power_law_exponent_and_scaling_sizes() -> None:
    n = np.array([1000, 2000, 4000, 8000])
    assert power_law_exponent(n, 3e-7 * n**2.0) == pytest.approx(2.0)
    assert power_law_exponent(n, 0.5 * n) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="two or more"):
        power_law_exponent([1000, 1000], [1.0, 2.0])
    assert scaling_sizes(10_000) == [1250, 2500, 5000, 10_000]
    assert scaling_sizes(100) == [25, 50, 100]


@pytest.fixture(scope="module")
def dijet_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory whose data stage left dijet splits from a small generated features file."""
    run_dir = tmp_path_factory.mktemp("oc_run")
    source = run_dir / "events_anomalydetection_v2.features.h5"
    generate_dijet_features(source, n_background=20_000, n_signal=2_000, seed=5)
    data = RunPaths(run_dir).data
    prepare_dijet(
        DijetData(n_test_signal=1_000),
        source,
        data.splits("dijet"),
        data.preprocessing("dijet"),
        seed=5,
        chunk_events=100_000,
    )
    return run_dir


def test_run_oneclass_study_end_to_end(dijet_run: Path, tmp_path: Path) -> None:
    config = Config()
    oc = config.studies.oneclass
    oc.n_seeds, oc.max_train_events, oc.ocsvm_n_train = 2, 1_200, 1_200
    oc.svdd_epochs, oc.bae_epochs, oc.epochs_ocdn, oc.bae_hidden = 2, 2, 1, 64
    config.train.device = "cpu"
    summary = run_oneclass_study(config, tmp_path, dijet_run)

    study = json.loads((tmp_path / "study.json").read_text())
    assert list(study["methods"]) == list(METHODS)
    assert study["data"]["source"] == "synthetic" and study["data"]["n_train_events"] == 1_200
    with h5py.File(dijet_run / "data" / "dijet_splits.h5") as f:
        y = f["test/y"][...].astype(int)
        assert study["data"]["n_train_available"] == len(f["train/X"])
    assert study["data"]["n_test_background"] == int(np.sum(y == 0))
    for method, info in study["methods"].items():
        # The OC-SVM subsample is the whole training set: a deterministic fit, done once.
        n_fits = 1 if method.startswith("ocsvm") else 2
        assert info["n_fits"] == n_fits and len(info["per_seed"]) == n_fits
        agg = info["aggregate"]["signal"]
        assert agg["auc"]["n"] == n_fits and agg["auc"]["best"] >= agg["auc"]["mean"]
        assert info["fit_seconds"]["mean"] > 0
        assert summary["auc_mean"][method] == round(agg["auc"]["mean"], 4)
        # The stored scores reproduce the table, and the saved model reproduces the stored scores.
        with h5py.File(tmp_path / info["scores"]) as f:
            scores = f["scores"][...]
        assert scores.shape == (n_fits, len(y))
        first = info["per_seed"][0]
        assert first["signals"]["signal"]["auc"] == pytest.approx(metrics.auc(y, scores[0]), abs=1e-12)
        model = load_scorer(tmp_path / info["models"] / f"seed{first['seed']}")
        with h5py.File(dijet_run / "data" / "dijet_splits.h5") as f:
            np.testing.assert_allclose(model.score(f["test/X"][...]), scores[0], rtol=1e-6, atol=1e-9)
    assert "deterministic" in study["methods"]["ocsvm_inner"]["note"]
    scaling = study["ocsvm_scaling"]
    assert scaling["inner"]["n_events"] == [150, 300, 600, 1_200] and len(scaling["inner"]["seconds"]) == 4
    assert summary["ocsvm_exponent"]["outer"] == scaling["outer"]["exponent"]

    md = assert_plot_links(tmp_path, "oneclass", 3)
    assert "synthetic" in md and "1200" in md
    for info in study["methods"].values():
        assert f"| {info['label']} |" in md
