"""Tests of NuRD: Step I importance weights, the frozen Mahalanobis head, the critic's effect on the
score-mass correlation, and the compact scorer through QKeras, hls4ml and C simulation.

Jets come from the project's jet-image generator at 8x8 pixels; every fit is a few epochs on a few
thousand jets, so the figures are small-run figures with generous margins. The CNN is the default
CICADA-like one (4 filters, 2x2, stride 2) without its pooling (at 8x8 pixels it would leave 2x2 maps)
and with smaller dense layers.
"""

from __future__ import annotations

import numpy as np
import pytest

from firmware import csim, hls, resources
from l1ad.config import FirmwareConfig, NuRDConfig, QuantizeConfig
from quantize import qmodels
from quantize.frozen_head import frozen_head_report
from training import metrics
from training.data.jetgenerator import generate_jet_images
from training.data.jetimages import load_jet_images
from training.mahalanobis_head import PROJECTION, add_mahalanobis_head, fit_gaussian, mahalanobis, set_head
from training.nurd import NuRD, importance_weights
from training.scorer import load_scorer

SIZE = 8
SMALL = NuRDConfig(
    pool=False, dense=(8,), representation_dim=4, critic_hidden=(32, 16), epochs=8, batch_size=128
)


@pytest.fixture(scope="module")
def jets(tmp_path_factory):
    """(images (N, 8, 8, 1) normalised to unit pT, class 0 qcd / 1 W/Z / 2 top, jet mass GeV)."""
    path = tmp_path_factory.mktemp("jets") / "jetImage_test.h5"
    generate_jet_images(path, 2000, 2000, 400, SIZE, seed=4)
    images, label, mass, _ = load_jet_images(path, SIZE)
    images = images / images.sum(axis=(1, 2), keepdims=True)
    return images[..., None].astype(np.float32), label.astype(np.int64), mass.astype(np.float64)


def _split(jets, n_train: int = 2400):
    X, y, mass = jets
    background = np.flatnonzero(y < 2)
    train, test = background[:n_train], np.r_[background[n_train:], np.flatnonzero(y == 2)]
    return (X[train], y[train], mass[train]), (X[test], y[test], mass[test])


def test_importance_weights_equalise_a_mass_correlated_toy() -> None:
    rng = np.random.default_rng(7)
    n = 30_000
    y = (rng.random(n) < 0.35).astype(np.int64)  # unequal classes: p(Y=1) = 0.35
    mass = np.where(y == 0, rng.normal(70.0, 20.0, n), rng.normal(90.0, 20.0, n))
    w, info = importance_weights(y, mass, n_bins=20, clip=20.0)

    def weighted_corr(weights: np.ndarray) -> float:
        mx, my = np.average(mass, weights=weights), np.average(y, weights=weights)
        cov = np.average((mass - mx) * (y - my), weights=weights)
        return cov / np.sqrt(
            np.average((mass - mx) ** 2, weights=weights) * np.average((y - my) ** 2, weights=weights)
        )

    edges = np.linspace(30.0, 130.0, 11)

    def shape_gap(weights: np.ndarray) -> float:
        h = [np.histogram(mass[y == c], edges, weights=weights[y == c])[0] for c in (0, 1)]
        return float(np.abs(h[0] / h[0].sum() - h[1] / h[1].sum()).max())

    ones = np.ones(n)
    assert weighted_corr(ones) > 0.4 and shape_gap(ones) > 0.1  # the toy is strongly mass-correlated
    assert abs(weighted_corr(w)) < 0.02
    assert shape_gap(w) < 0.02
    # the weighted class fractions are still p(Y), the weights average 1, nothing clipped here
    assert np.average(y, weights=w) == pytest.approx(0.35, abs=0.01)
    assert w.mean() == pytest.approx(1.0) and info["n_clipped"] == 0
    assert 0.5 * n < info["effective_sample_size"] < n


def test_frozen_head_equals_numpy_mahalanobis() -> None:
    import tensorflow as tf

    rng = np.random.default_rng(11)
    k = 5
    backgrounds = [
        rng.normal(size=(5000, k)) @ rng.normal(size=(k, k)) + rng.normal(0, 2, k) for _ in range(2)
    ]
    stats = [fit_gaussian(r) for r in backgrounds]
    probe = np.concatenate([backgrounds[0][:200], backgrounds[1][:200], rng.normal(0, 6, (200, k))])
    means, covs = [s["mean"] for s in stats], [s["cov"] for s in stats]
    for combine in ("min", "sum"):
        inputs = tf.keras.Input((k,))
        model = tf.keras.Model(inputs, add_mahalanobis_head(inputs, 2, combine))
        set_head(model, stats)
        assert model.trainable_weights == []  # every head constant is frozen
        got = model.predict(probe.astype(np.float32), verbose=0).reshape(-1)
        expected = mahalanobis(probe, means, covs, combine)
        np.testing.assert_allclose(got, expected, rtol=2e-4, atol=1e-4)
    # the per-background distance really is (r - mu) Sigma^-1 (r - mu)^T
    d = probe - means[0]
    np.testing.assert_allclose(
        mahalanobis(probe, means[:1], covs[:1]), np.einsum("ij,jk,ik->i", d, np.linalg.inv(covs[0]), d)
    )


def test_ill_conditioned_covariance_is_shrunk_to_the_condition_cap() -> None:
    rng = np.random.default_rng(5)
    r = rng.normal(size=(3000, 4))
    r[:, 3] = r[:, 0] + 1e-4 * rng.normal(size=3000)  # a nearly flat direction
    raw = fit_gaussian(r, shrinkage="none")
    assert raw["condition"] > 1e7 and raw["shrinkage"] == 0.0
    lw = fit_gaussian(r, shrinkage="auto", max_condition=1e3)  # Ledoit-Wolf alone gets below the cap
    assert lw["condition"] <= 1e3 and lw["shrinkage"] > 0
    capped = fit_gaussian(r, shrinkage="auto", max_condition=10.0)  # it does not get below this one
    assert capped["condition"] == pytest.approx(10.0, rel=1e-6) and capped["shrinkage"] > lw["shrinkage"]
    well = fit_gaussian(rng.normal(size=(3000, 4)), shrinkage="auto", max_condition=1e3)
    assert well["shrinkage"] == 0.0  # a healthy covariance stays the empirical one


def test_critic_moves_the_score_mass_correlation_towards_zero(jets) -> None:
    (X, y, mass), (Xt, yt, mt) = _split(jets)
    qcd = yt == 0
    correlation = {}
    for lam in (0.0, 10.0):
        cfg = NuRDConfig(**{**SMALL.__dict__, "critic_lambda": lam, "critic_warmup_steps": 0})
        scorer = NuRD(cfg, SIZE, seed=1).fit(X, y=y, nuisance=mass)
        correlation[lam] = metrics.distance_correlation(scorer.score(Xt)[qcd], mt[qcd])
    # measured on this run: about 0.6 without the critic, 0.4 with it
    assert correlation[0.0] > 0.3
    assert correlation[10.0] < correlation[0.0] - 0.08


def test_compact_model_converts_compiles_and_agrees_in_csim(jets, tmp_path) -> None:
    (X, y, mass), (Xt, yt, _) = _split(jets)
    scorer = NuRD(NuRDConfig(**{**SMALL.__dict__, "critic_lambda": 0.0}), SIZE, seed=2).fit(
        X, y=y, nuisance=mass
    )
    scorer.save(tmp_path / "float")
    loaded = load_scorer(tmp_path / "float")
    np.testing.assert_array_equal(loaded.score(Xt[:300]), scorer.score(Xt[:300]))

    bits = QuantizeConfig().nurd.bits
    q = qmodels.to_qkeras(loaded.model, bits)
    assert type(q.get_layer("conv_1")).__name__ == "QConv2D"
    assert not q.get_layer(PROJECTION.format(0)).trainable
    Xq = qmodels.quantize_inputs(X, bits.input_bits, bits.input_integer)
    loaded.train_graph(q, Xq, None, 0, 1e-4, y=y, nuisance=mass)  # no epochs: the head is refit to the twin
    Xtq = qmodels.quantize_inputs(Xt, bits.input_bits, bits.input_integer)
    report = frozen_head_report(q, Xtq, loaded.n_backgrounds, loaded.config.combine)
    assert report["distance_relative_error"]["p99"] < 1e-2
    assert report["constants"][PROJECTION.format(1)]["kernel"]["max_rel_error"] < 1e-3

    # the stream path larger CNNs take (io_type_for) stays bit-exact too; the default is io_parallel
    fw = FirmwareConfig(io_type="io_stream", strategy="Latency")
    hls_model = hls.convert(q, tmp_path / "hls", fw, np.concatenate([Xq, Xtq]), "nurd")
    assert hls_model.config.get_config_value("IOType") == "io_stream"
    types = hls.layer_precisions(hls_model)
    relu = f"ap_ufixed<{bits.activation_bits},{bits.activation_integer},AP_RND_CONV,AP_SAT"
    assert types["conv_1_relu"].startswith(relu) and types["dense_1_relu"].startswith(relu)
    # the head's projection is rounded to the output format, as its QKeras quantizer does
    assert types[PROJECTION.format(0)].startswith(
        f"ap_fixed<{bits.output_bits},{bits.output_integer + 1},AP_RND_CONV"
    )
    result, scores = csim.validate(
        hls_model, q, Xtq, yt, loaded.score(Xt), n_background_classes=2, max_trace_events=200
    )
    assert result["agreement"]["exact_fraction"] == 1.0
    assert result["saturation"]["n_events"] == 0 and result["relu_inputs_beyond_float32"] == []
    assert result["auc"]["csim"] == result["auc"]["qkeras"]
    assert scores.shape == (len(Xt),) and np.all(scores >= 0)


def test_strided_conv_nurd_unrolls_io_parallel_at_ii_1_and_csim_is_exact(jets, tmp_path) -> None:
    """The CICADA-like graph, untrained (random weights, head fitted): io_parallel, every conv pixel at once."""
    (X, y, _), (Xt, _, _) = _split(jets, n_train=1000)
    scorer = NuRD(SMALL, SIZE, seed=5)
    scorer.n_backgrounds = 2
    scorer.model = scorer.build()
    assert scorer.model.get_layer("conv_1").strides == (2, 2)
    bits = QuantizeConfig().nurd.bits
    q = qmodels.to_qkeras(scorer.model, bits)
    assert q.get_layer("conv_1").strides == (2, 2)
    Xq, Xtq = (qmodels.quantize_inputs(a, bits.input_bits, bits.input_integer) for a in (X, Xt[:500]))
    scorer.refit_head(q, Xq, y)

    fw = FirmwareConfig(strategy="Latency")  # the default io_parallel
    assert hls.io_type_for(q, fw) == "io_parallel"
    hls_model = hls.convert(q, tmp_path / "hls", fw, np.concatenate([Xq, Xtq]), "nurd")
    assert hls_model.config.get_config_value("IOType") == "io_parallel"
    conv = [layer for layer in hls_model.get_layers() if layer.class_name == "Conv2D"]
    assert [layer.get_attr("n_partitions") for layer in conv] == [1]  # 4x4 pixels computed at once
    est = resources.estimate(hls_model, fw.part, fw.clock_period_ns)
    assert est["ii"] == 1 and est["latency_ns"] < 200
    hls_model.compile()
    got = np.asarray(hls_model.predict(np.ascontiguousarray(Xtq, dtype=np.float64))).reshape(-1)
    expected = qmodels.predict_exact(q, Xtq).reshape(-1)
    assert np.all(expected > 0) and len(np.unique(expected)) > 100  # a score, not a constant
    np.testing.assert_array_equal(got, expected)


def test_conv_autoencoder_scores_the_sum_of_squared_pixel_residuals(jets, tmp_path) -> None:
    import tensorflow as tf

    from training.conv_ae import RECONSTRUCTION, ConvAEConfig, ConvAutoencoder

    (X, _, _), (Xt, _, _) = _split(jets)
    ae = ConvAutoencoder(ConvAEConfig(filters=(4, 4), latent=4, epochs=1), SIZE, seed=3).fit(X, Xt[:200])
    reconstruct = tf.keras.Model(ae.model.input, ae.model.get_layer(RECONSTRUCTION).output)
    residual = (Xt[:300] - reconstruct.predict(Xt[:300], verbose=0)).reshape(300, -1).astype(np.float64)
    np.testing.assert_allclose(ae.score(Xt[:300]), (residual**2).sum(axis=1), rtol=1e-4, atol=1e-9)
    ae.save(tmp_path / "ae")
    np.testing.assert_array_equal(load_scorer(tmp_path / "ae").score(Xt[:300]), ae.score(Xt[:300]))


def test_study_diagnostics_split_the_score_and_bound_a_mass_free_detector(jets) -> None:
    """The study's measurements: the score's split into the classifier's whitened direction and the rest,
    the linear mass fit from r, and the supervised mass-equalised bound (one short epoch here)."""
    from training.studies.nurd import mass_equalised_bound, representation_diagnostics

    (X, y, mass), (Xt, yt, mt) = _split(jets)
    scorer = NuRD(NuRDConfig(**{**SMALL.__dict__, "critic_lambda": 0.0, "epochs": 3}), SIZE, seed=3).fit(
        X, y=y, nuisance=mass
    )
    d = representation_diagnostics(scorer, Xt, yt, mt, ["qcd", "wz", "top"])
    assert set(d["parts"]) == {"qcd_distance", "classifier_direction", "other_directions"}
    for part in d["parts"].values():
        assert -1.0 <= part["pearson_qcd"] <= 1.0 and 0.0 <= part["auc_top"] <= 1.0
    assert d["mass_r2_linear_qcd"] <= 1.0
    # the two parts add up to the head's QCD distance (the deployed graph's distance to background 0)
    from training.mahalanobis_head import head_constants

    r = scorer.representation(Xt).astype(np.float64)
    kernel, bias = head_constants(scorer.head_stats[0]["mean"], scorer.head_stats[0]["cov"])
    distance = mahalanobis(r, [scorer.head_stats[0]["mean"]], [scorer.head_stats[0]["cov"]])
    np.testing.assert_allclose(((r @ kernel + bias) ** 2).sum(axis=1), distance, rtol=1e-6)

    bound = mass_equalised_bound(SMALL, Xt, yt, mt, 2, seed=1, epochs=1)
    assert set(bound) == {0, 1}
    assert all(0.0 <= b["auc_at_equal_mass"] <= 1.0 and b["n_train"] > 100 for b in bound.values())


def test_study_goal_is_judged_on_both_criteria() -> None:
    from training.studies.nurd import CONV_AE, _goal, method_key

    def agg(auc: float, pearson: float) -> dict:
        return {"aggregate": {"auc": {"top": {"mean": auc}}, "abs_pearson": {"mean": pearson}}}

    study = {
        "data": {"n_test": {"signal": {"top": 10}}},
        "settings": {"lambdas": [0.0, 0.1, 1.0]},
        "methods": {
            method_key(0.0): agg(0.80, 0.70),
            method_key(0.1): agg(0.78, 0.04),  # decorrelated, AUC within 0.05: met
            method_key(1.0): agg(0.60, 0.01),  # decorrelated by losing the detector: not met
            CONV_AE: agg(0.85, 0.60),
        },
    }
    goal = _goal(study)
    assert goal["per_lambda"]["0.1"]["met"] and not goal["per_lambda"]["1"]["met"]
    assert goal["decorrelated_lambda_met"] and not goal["best_nurd_beats_conv_ae"]
    assert goal["best_nurd"] == {"method": method_key(0.0), "auc": 0.80}


def test_report_plots_the_deployed_nurd_mass_sculpting(tmp_path) -> None:
    import h5py

    from l1ad.config import Config
    from reports.stage import nurd_sculpting_plot

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 200)
    mass = rng.uniform(20.0, 200.0, len(y))
    split = tmp_path / "splits.h5"
    with h5py.File(split, "w") as f:
        f.create_dataset("test/nuisance", data=mass.astype(np.float32))
    scores = {v: mass + rng.normal(0.0, 5.0, len(y)) for v in ("float", "qkeras", "csim")}
    name = nurd_sculpting_plot(Config(), split, scores, y, ["qcd", "wz", "top"], tmp_path, "synthetic")
    assert name == "nurd_mass_sculpting.png" and (tmp_path / name).stat().st_size > 0


def test_the_study_runs_end_to_end_on_a_tiny_config(tmp_path) -> None:
    """The whole NuRD study (two lambdas and the conv AE, one seed) on a few hundred 8x8 jets: study.json as a
    typed record, study.md with its heading and figures, every figure file written."""
    from l1ad.config import load_config
    from l1ad.io import read_record
    from l1ad.pipeline import run_stage
    from reports.records import StudyRecord

    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(
        "run: {models: [nurd], studies: [nurd]}\n"
        "train: {device: cpu, threads: 1}\n"
        "data: {rate_sample: 0, jet_images: {image_size: 8, n_qcd: 600, n_wz: 600, n_top: 200}}\n"
        "studies: {nurd: {lambdas: [0.0, 0.1], filters: [4], pool: false, dense: [8], representation_dim: 4,\n"
        "  critic_hidden: [16], critic_steps: 1, epochs: 1, batch_size: 128, ae_filters: [4], ae_latent: 4,\n"
        "  ae_epochs: 1, correlation_events: 300}}\n"
    )
    config = load_config(config_file)
    run_dir = tmp_path / "run"
    run_stage(config, run_dir, "data")
    run_stage(config, run_dir, "studies/nurd")
    out = run_dir / "studies" / "nurd"
    study = read_record(out / "study.json", StudyRecord)
    assert study["title"].startswith("NuRD on jet images")
    assert list(study["methods"]) == ["nurd_lambda_0", "nurd_lambda_0.1", "conv_ae"]
    markdown = (out / "study.md").read_text()
    assert markdown.startswith(f"## {study['title']}\n")
    for line in markdown.splitlines():
        if line.startswith("!["):
            assert (out / "plots" / line.rsplit("/", 1)[1].rstrip(")")).is_file(), line
