"""The full-precision NuRD study on jet images: the critic weight lambda (0, 0.001, 1) against a plain
convolutional autoencoder, for top jets as the anomaly and the jet mass as the nuisance.

Per method: AUC of top against QCD + W/Z (and against each), Pearson and distance correlation of the
score with the jet mass on QCD, the QCD mass distribution after score cuts (sculpting), and the
training time per epoch with and without the critic. Writes study.json, study.md and plots.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.config import Config
from training import metrics
from training.conv_ae import ConvAEConfig, ConvAutoencoder
from training.nurd import NuRD
from training.stage import write_scores
from training.studies.base import Study
from training.studies.common import subsample

TITLE = "NuRD on jet images: a mass-decorrelated representation and its Mahalanobis score"
CONV_AE = "conv_ae"


def method_key(lam: float) -> str:
    return f"nurd_lambda_{lam:g}"


# The source's figures (REFERENCE.md section 3), shown beside ours with the data each came from.
PUBLISHED = {
    "source": "arXiv 2401.08777",
    "data": "real calorimeter jet images (about 50x50), QCD and W/Z backgrounds, top jets as the anomaly",
    "auc": {method_key(0.001): 0.94, method_key(1.0): 0.83, CONV_AE: 0.88},
    "abs_pearson_qcd": 0.012,
}
GOAL_PEARSON, GOAL_AUC_LOSS = 0.05, 0.05  # issue 20: |Pearson| <= 0.05 with AUC within 0.05 of lambda = 0


def representation_diagnostics(
    scorer: NuRD, X: np.ndarray, y: np.ndarray, mass: np.ndarray, classes: Sequence[str]
) -> dict[str, Any]:
    """Where the Mahalanobis score's mass dependence lives, measured on test jets.

    The QCD head whitens r: p = L^T (r - mu), d = |p|^2. The classifier reads one direction of r, w; in the
    whitened space that is u = L^-1 w / |L^-1 w|. d splits into (u . p)^2, the classifier's direction, and
    the rest, the k - 1 directions the QCD-vs-W/Z objective leaves free. For each part: Pearson with the
    mass on QCD and AUC of top (the first signal of ``classes``) against all backgrounds. Also the R^2 of a linear fit of
    the mass from r on QCD (fit on one half of the QCD jets, measured on the other).
    """
    from training.mahalanobis_head import head_constants

    r = scorer.representation(X).astype(np.float64)
    kernel, bias = head_constants(scorer.head_stats[0]["mean"], scorer.head_stats[0]["cov"])
    p = r @ kernel + bias
    u = np.linalg.solve(kernel, np.asarray(scorer.classifier_weights[0], dtype=np.float64).ravel())
    u /= np.linalg.norm(u) or 1.0
    along = (p @ u) ** 2
    parts = {"qcd_distance": (p**2).sum(axis=1), "classifier_direction": along}
    parts["other_directions"] = parts["qcd_distance"] - along
    qcd = np.flatnonzero(y == 0)
    sel, top = metrics.signal_selections(y, classes, scorer.n_backgrounds)[classes[scorer.n_backgrounds]]
    half = len(qcd) // 2
    design = np.c_[r[qcd], np.ones(len(qcd))]
    coef, *_ = np.linalg.lstsq(design[:half], mass[qcd[:half]], rcond=None)
    residual = mass[qcd[half:]] - design[half:] @ coef
    r2 = 1.0 - residual.var() / mass[qcd[half:]].var()
    return {
        "mass_r2_linear_qcd": float(r2),
        "parts": {
            k: {
                "pearson_qcd": 0.0 if np.ptp(v[qcd]) == 0 else metrics.pearson(v[qcd], mass[qcd]),
                "auc_top": metrics.auc(top, v[sel]),
            }
            for k, v in parts.items()
        },
    }


def mass_equalised_bound(
    cfg: Any, X: np.ndarray, y: np.ndarray, mass: np.ndarray, n_bkg: int, seed: int, epochs: int
) -> dict[str, Any]:
    """How well top can be told from each background when the mass cannot help: an upper bound for a score
    independent of the mass on these data.

    A supervised CNN (the study's NuRD CNN and a logit) is trained on top against one background with the
    Step I importance weights, which give both classes one mass distribution, on half of the test jets of
    the two classes, and measured on the other half: the AUC with those weights (at equal mass) and
    without. A diagnostic, not a method: it sees top jets, and it trains on test jets.
    """
    import tensorflow as tf

    from training.nurd import build_cnn, importance_weights

    out = {}
    rng = np.random.default_rng(seed)
    for b in range(n_bkg):
        idx = rng.permutation(np.flatnonzero((y == b) | (y == n_bkg)))
        label = (y[idx] == n_bkg).astype(np.float32)
        w, _ = importance_weights(label.astype(np.int64), mass[idx], cfg.weight_bins, cfg.weight_clip)
        half = len(idx) // 2
        inputs, rep = build_cnn(cfg, X.shape[1], seed + 100 + b)
        model = tf.keras.Model(
            inputs,
            tf.keras.layers.Dense(1, name="bound_logit")(
                tf.keras.layers.Activation("relu", name="bound_relu")(rep)
            ),
        )
        model.compile(
            tf.keras.optimizers.Adam(cfg.learning_rate), tf.keras.losses.BinaryCrossentropy(from_logits=True)
        )
        model.fit(
            X[idx[:half]],
            label[:half],
            sample_weight=w[:half],
            epochs=epochs,
            batch_size=cfg.batch_size,
            verbose=0,
        )
        score = model.predict(X[idx[half:]], batch_size=4096, verbose=0).ravel()
        test, wt = label[half:].astype(int), w[half:]
        from sklearn.metrics import roc_auc_score

        out[b] = {
            "auc_at_equal_mass": float(roc_auc_score(test, score, sample_weight=wt)),
            "auc": float(roc_auc_score(test, score)),
            "n_train": int(half),
        }
    return out


def _figures(
    scores: np.ndarray,
    y: np.ndarray,
    mass: np.ndarray,
    classes: list[str],
    n_bkg: int,
    fpr: float,
    config: Config,
) -> dict[str, Any]:
    """AUC etc. of each signal against all backgrounds and against each one; score-mass correlation on class 0."""
    min_bkg = config.metrics.min_background_for_sic
    signals = metrics.per_signal(
        scores, y, classes, n_bkg, metrics.summarise, target_fpr=fpr, min_background=min_bkg
    )
    against = {}
    for k in range(n_bkg, len(classes)):
        against[classes[k]] = {
            classes[b]: metrics.auc((y[(y == b) | (y == k)] == k).astype(int), scores[(y == b) | (y == k)])
            for b in range(n_bkg)
        }
    qcd = y == 0
    cfg = config.studies.nurd
    constant = bool(np.ptp(scores[qcd]) == 0)
    return {
        "signals": signals,
        "auc_against": against,
        "score_constant": constant,  # a collapsed representation: no correlation, and no discrimination
        "mass_correlation": {
            "pearson": 0.0 if constant else metrics.pearson(scores[qcd], mass[qcd]),
            "distance": metrics.distance_correlation(
                scores[qcd], mass[qcd], max_events=cfg.correlation_events
            ),
        },
    }


def _aggregate(records: list[dict]) -> dict[str, Any]:
    signals = records[0]["signals"]
    return {
        "auc": {s: metrics.aggregate([r["signals"][s]["auc"] for r in records]) for s in signals},
        "tpr_at_fpr": {
            s: metrics.aggregate([r["signals"][s]["tpr_at_fpr"]["tpr"] for r in records]) for s in signals
        },
        "auc_against": {
            s: {
                b: metrics.aggregate([r["auc_against"][s][b] for r in records])
                for b in records[0]["auc_against"][s]
            }
            for s in signals
        },
        "abs_pearson": metrics.aggregate([abs(r["mass_correlation"]["pearson"]) for r in records], False),
        "distance_correlation": metrics.aggregate(
            [r["mass_correlation"]["distance"] for r in records], False
        ),
        "epoch_seconds": metrics.aggregate([r["epoch_seconds"] for r in records], False),
    }


def _pm(agg: dict, digits: int = 3) -> str:
    return metrics.mean_std(agg, digits, std_of_one=False)


def _markdown(run: Study, study: dict[str, Any], plot_files: list[str]) -> list[str]:
    data, methods, cfg = study["data"], study["methods"], study["settings"]
    signal = next(iter(data["n_test"]["signal"]))
    backgrounds = list(data["n_test"]["background"])
    source = (
        "synthetic jet images (the seeded l1ad generator writing the hls4ml jet-dataset layout)"
        if data["source"] == "synthetic"
        else f"real jet images from `{data['source']}`"
    )
    lines = [
        *run.heading(),
        f"Data: {source}, {data['image_size']}x{data['image_size']} pixels. Training: "
        + ", ".join(f"{n} {c}" for c, n in data["n_train"].items())
        + " jets; test: "
        + ", ".join(
            f"{n} {c}" for c, n in {**data["n_test"]["background"], **data["n_test"]["signal"]}.items()
        )
        + f". Device: {study['device']}; {cfg['n_seeds']} seed(s)"
        + (", mean ± std over seeds." if cfg["n_seeds"] > 1 else "."),
        "",
        f"NuRD: CNN {study['architecture']} -> representation r ({cfg['representation_dim']} values) -> logit "
        f"QCD vs W/Z, {cfg['epochs']} epochs. Step I: importance weights p(Y)/p(Y|m) in {study['weights']['n_bins']} "
        f"mass bins (effective sample {study['weights']['effective_sample_size']:.0f} of {sum(data['n_train'].values())}). "
        f"Step II: critic MLP {'-'.join(map(str, cfg['critic_hidden']))} on (whitened r, Y, m) refit with "
        f"{cfg['critic_steps']} steps per batch against (r, Y, m~), m~ permuted within the batch; the main loss "
        "adds lambda times |weighted mean critic log-odds| (lambda ramped up over the first "
        f"{study['nurd_settings']['critic_warmup_steps']} batches). Score: Mahalanobis "
        f"distance of r to QCD and to W/Z (means and covariances of the training jets, {study['shrinkage']}), "
        f"combined by `{study['combine']}`. Baseline: convolutional AE {study['ae_architecture']}, sum of squared "
        "pixel residuals.",
        "",
        f"| method | AUC {signal} vs "
        + " + ".join(backgrounds)
        + " | "
        + " | ".join(f"AUC vs {b}" for b in backgrounds)
        + f" | TPR at FPR {study['trigger_fpr']:g} | abs Pearson(score, m) on {backgrounds[0]} | distance corr. | s / epoch"
        + " | published AUC (arXiv 2401.08777, real jet images) |",
        "|---|" + "---:|" * (6 + len(backgrounds)),
    ]
    published = study.get("published", {}).get("auc", {})
    for key, info in methods.items():
        agg = info["aggregate"]
        lines.append(
            f"| {info['label']} | {_pm(agg['auc'][signal])} | "
            + " | ".join(_pm(agg["auc_against"][signal][b]) for b in backgrounds)
            + f" | {_pm(agg['tpr_at_fpr'][signal], 4)} | {_pm(agg['abs_pearson'])} | {_pm(agg['distance_correlation'])}"
            + f" | {_pm(agg['epoch_seconds'], 1)} | "
            + (f"{published[key]:.2f} |" if key in published else "- |")
        )
    if "published" in study:
        pub = study["published"]
        lines += [
            "",
            f"Published figures ({pub['source']}; {pub['data']}; not these data): AUC in the last column "
            f"(the plain AE in the conv AE's row), score-mass correlation on QCD {pub['abs_pearson_qcd']:g}. "
            f"Ours: {source}.",
        ]
    lines += ["", *study["findings"], ""]
    return lines + run.plot_links(plot_files)


def _goal(study: dict[str, Any]) -> dict[str, Any]:
    """Issue 20's goal, per lambda > 0 and for the best NuRD against the conv AE, from the aggregates."""
    methods = study["methods"]
    signal = next(iter(study["data"]["n_test"]["signal"]))
    base = methods.get(method_key(0.0))
    per_lambda = {}
    for lam in study["settings"]["lambdas"]:
        if lam <= 0 or base is None:
            continue
        m = methods[method_key(lam)]["aggregate"]
        loss = base["aggregate"]["auc"][signal]["mean"] - m["auc"][signal]["mean"]
        per_lambda[f"{lam:g}"] = {
            "abs_pearson": m["abs_pearson"]["mean"],
            "auc_loss_vs_lambda_0": loss,
            "met": bool(m["abs_pearson"]["mean"] <= GOAL_PEARSON and loss <= GOAL_AUC_LOSS),
        }
    nurd = [k for k in methods if k != CONV_AE]
    best = max(nurd, key=lambda k: methods[k]["aggregate"]["auc"][signal]["mean"])
    best_auc = methods[best]["aggregate"]["auc"][signal]["mean"]
    ae_auc = methods[CONV_AE]["aggregate"]["auc"][signal]["mean"]
    return {
        "criteria": f"|Pearson(score, m)| <= {GOAL_PEARSON} on QCD with AUC within {GOAL_AUC_LOSS} of lambda = 0; "
        "best NuRD AUC >= conv AE AUC",
        "per_lambda": per_lambda,
        "decorrelated_lambda_met": any(v["met"] for v in per_lambda.values()),
        "best_nurd": {"method": best, "auc": best_auc},
        "conv_ae_auc": ae_auc,
        "best_nurd_beats_conv_ae": bool(best_auc >= ae_auc),
    }


def _diagnosis(study: dict[str, Any]) -> list[str]:
    """Measured sentences: where the mass dependence comes from and what bounds a mass-independent score."""
    out = []
    signal = next(iter(study["data"]["n_test"]["signal"]))
    backgrounds = list(study["data"]["n_test"]["background"])
    marg = study.get("image_marginals")
    if marg and backgrounds[0] in marg["classes"]:
        q = marg["classes"][backgrounds[0]]
        wz, top = marg["wz_vs_qcd_at_fixed_mass"], marg["top_vs_qcd_at_fixed_mass"]
        out.append(
            f"- The images carry the mass: on {backgrounds[0]} test jets Pearson(m, pT-weighted width of the image) = "
            f"{q['pearson_mass_width']:.3f} (m ~ pT x width). At fixed mass the width says little (AUC "
            f"{wz['auc_width']:.2f} for W/Z against QCD in {wz['window_gev'][0]:g}-{wz['window_gev'][1]:g} GeV, "
            f"{top['auc_width']:.2f} for top in {top['window_gev'][0]:g}-{top['window_gev'][1]:g} GeV) while the "
            f"radiation pattern does (pixels above 1% of the jet pT: AUC {wz['auc_n_pixels']:.2f} and "
            f"{top['auc_n_pixels']:.2f}; below 0.5 = fewer pixels than QCD): W/Z and QCD differ by more than mass."
        )
    diag = study.get("representation_diagnostics", {})
    base = diag.get(method_key(0.0))
    if base:
        parts = base["parts"]
        k = study["settings"]["representation_dim"]
        out.append(
            "- Where the score's mass dependence lives (lambda = 0, first seed): the QCD head's whitened "
            f"representation along the classifier's direction has Pearson {parts['classifier_direction']['pearson_qcd']:+.3f} "
            f"with the QCD mass and top AUC {parts['classifier_direction']['auc_top']:.3f}; the other {k - 1} "
            f"directions, which the QCD-vs-W/Z objective does not constrain, Pearson {parts['other_directions']['pearson_qcd']:+.3f} "
            f"and top AUC {parts['other_directions']['auc_top']:.3f} (whole distance: "
            f"{parts['qcd_distance']['pearson_qcd']:+.3f}, {parts['qcd_distance']['auc_top']:.3f}). A linear fit "
            f"recovers the QCD mass from r with R^2 {base['mass_r2_linear_qcd']:.2f}. Step I weights take the mass "
            "out of the label, not out of r: the Mahalanobis score finds top through the mass-laden directions."
        )
    for lam_key, d in diag.items():
        if lam_key == method_key(0.0):
            continue
        out.append(
            f"- {lam_key}: linear R^2 of the QCD mass from r {d['mass_r2_linear_qcd']:.2f}; classifier direction "
            f"Pearson {d['parts']['classifier_direction']['pearson_qcd']:+.3f}, other directions "
            f"{d['parts']['other_directions']['pearson_qcd']:+.3f}."
        )
    bound = study.get("mass_equalised_bound")
    if bound:
        out.append(
            f"- Upper bound for a score independent of the mass: a supervised CNN trained on {signal} against each "
            "background with mass-equalising weights (half of the test jets; it sees the signal) reaches AUC "
            + ", ".join(
                f"{b['auc_at_equal_mass']:.3f} at equal mass against {name} ({b['auc']:.3f} unweighted)"
                for name, b in bound.items()
            )
            + f". An anomaly score that never sees {signal} and carries no mass cannot beat that, while the conv "
            "AE uses the mass."
        )
    goal = study.get("goal")
    if goal:
        met = [lam for lam, v in goal["per_lambda"].items() if v["met"]]
        out.append(
            f"- Goal ({goal['criteria']}): "
            + (f"met at lambda = {', '.join(met)}" if met else "no lambda > 0 meets it")
            + " ("
            + "; ".join(
                f"lambda {lam}: |Pearson| {v['abs_pearson']:.3f}, AUC loss {v['auc_loss_vs_lambda_0']:+.3f}"
                for lam, v in goal["per_lambda"].items()
            )
            + f"); best NuRD AUC {goal['best_nurd']['auc']:.3f} ({goal['best_nurd']['method']}) against conv AE "
            f"{goal['conv_ae_auc']:.3f}: "
            + ("at least the AE's." if goal["best_nurd_beats_conv_ae"] else "below the AE's.")
        )
    return out


def _findings(study: dict[str, Any]) -> list[str]:
    """Measured sentences: decorrelation and AUC against lambda = 0, against the AE, and the critic's cost."""
    methods = study["methods"]
    signal = next(iter(study["data"]["n_test"]["signal"]))
    lams = study["settings"]["lambdas"]
    base = methods.get(method_key(0.0))
    out = []
    for lam in lams:
        m = methods[method_key(lam)]["aggregate"]
        text = (
            f"- lambda = {lam:g}: AUC {m['auc'][signal]['mean']:.3f}, |Pearson| {m['abs_pearson']['mean']:.3f}, "
            f"distance correlation {m['distance_correlation']['mean']:.3f}"
        )
        collapsed = any(r["score_constant"] for r in methods[method_key(lam)]["per_run"])
        if collapsed:
            text += (
                " - the representation collapsed to a constant in training: no mass dependence, "
                "but no information either"
            )
        if base is not None and lam > 0:
            b = base["aggregate"]
            goal = "met" if m["abs_pearson"]["mean"] <= 0.05 else "not met"
            text += (
                f" (lambda = 0: {b['auc'][signal]['mean']:.3f}, {b['abs_pearson']['mean']:.3f}, "
                f"{b['distance_correlation']['mean']:.3f}); goal |Pearson| <= 0.05 "
                + (f"{goal} only trivially" if collapsed else goal)
                + f"; {m['epoch_seconds']['mean'] / b['epoch_seconds']['mean']:.1f}x the time per epoch of "
                "lambda = 0 (which trains no critic)"
            )
        out.append(text + ".")
    ae = methods[CONV_AE]["aggregate"]
    out.append(
        f"- Convolutional AE: AUC {ae['auc'][signal]['mean']:.3f}, |Pearson| {ae['abs_pearson']['mean']:.3f}, "
        f"distance correlation {ae['distance_correlation']['mean']:.3f}."
    )
    out.append(
        "- Published (arXiv 2401.08777, 50x50 calorimeter images, not these data): AUC 0.94 (lambda = 0.001), "
        "0.83 (lambda = 1), plain AE 0.88; score-mass correlation on QCD 0.012."
    )
    return out + _diagnosis(study)


def run_nurd_study(config: Config, out: Path, run_dir: Path) -> dict[str, Any]:
    """Train NuRD at each lambda and the conv AE (N seeds); write study.json, study.md, plots and scores."""
    from quantize.stage import trigger_fpr
    from reports import plots
    from reports.stage import data_label
    from training.device import configure_tensorflow

    cfg = config.studies.nurd
    run = Study("nurd", TITLE, config, out, run_dir)
    out = run.out
    device = configure_tensorflow(config.train.device)
    splits = run.splits("jet_images")
    classes, n_bkg = splits.classes, splits.n_background_classes
    keep = subsample(np.arange(len(splits.train.X)), cfg.max_train_events, config.run.seed)
    X, y, mass = splits.train.X[keep], splits.train.y[keep], splits.train.nuisance[keep]
    test = splits.test
    fpr = trigger_fpr(config, "jet_images")
    size = X.shape[1]
    base = dataclasses.replace(
        config.train.nurd,
        filters=tuple(cfg.filters),
        kernel_size=cfg.kernel_size,
        strides=cfg.strides,
        pool=cfg.pool,
        dense=tuple(cfg.dense),
        representation_dim=cfg.representation_dim,
        critic_hidden=tuple(cfg.critic_hidden),
        critic_steps=cfg.critic_steps,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
    )
    ae_cfg = ConvAEConfig(filters=tuple(cfg.ae_filters), latent=cfg.ae_latent, epochs=cfg.ae_epochs)

    keys = [method_key(lam) for lam in cfg.lambdas] + [CONV_AE]
    records: dict[str, list[dict]] = {k: [] for k in keys}
    first_scores: dict[str, np.ndarray] = {}
    weights_info: dict[str, Any] = {}
    shrinkage: list[dict] = []
    diagnostics: dict[str, dict] = {}

    def fit_and_score(model: Any, seed: int, **fit_options: Any) -> tuple[Any, np.ndarray, dict[str, Any]]:
        """Fit ``model`` on the training jets (timed), score the test jets and record their figures with the
        seed and the fit time."""
        start = time.perf_counter()
        model = model.fit(X, splits.val.X, **fit_options)
        fit_seconds = time.perf_counter() - start
        scores = model.score(test.X)
        rec = _figures(scores, test.y, test.nuisance, classes, n_bkg, fpr, config)
        return model, scores, rec | {"seed": seed, "fit_seconds": fit_seconds}

    for index in range(cfg.n_seeds):
        seed = config.run.seed + index
        for lam in cfg.lambdas:
            key = method_key(lam)
            print(f"  [nurd] seed {seed}: NuRD lambda {lam:g}, {len(X)} jets, {device}", flush=True)
            scorer, scores, rec = fit_and_score(
                NuRD(dataclasses.replace(base, critic_lambda=lam), size, seed),
                seed,
                y=y,
                nuisance=mass,
                y_val=splits.val.y,
            )
            rec["epoch_seconds"] = float(np.mean(scorer.history["seconds"]))
            records[key].append(rec)
            if index == 0:
                first_scores[key] = scores
                scorer.save(out / "models" / key)
                weights_info = scorer.weights_info
                diagnostics[key] = representation_diagnostics(scorer, test.X, test.y, test.nuisance, classes)
                shrinkage.append({k: v for k, v in scorer.head_stats[0].items() if k not in ("mean", "cov")})
            print(
                f"  [nurd] lambda {lam:g}: AUC {rec['signals'][classes[n_bkg]]['auc']:.3f}, Pearson(score, m | QCD) "
                f"{rec['mass_correlation']['pearson']:+.3f}, distance corr. {rec['mass_correlation']['distance']:.3f}",
                flush=True,
            )
        print(f"  [nurd] seed {seed}: convolutional AE", flush=True)
        ae, scores, rec = fit_and_score(ConvAutoencoder(ae_cfg, size, seed), seed)
        rec["epoch_seconds"] = rec["fit_seconds"] / max(ae_cfg.epochs, 1)
        records[CONV_AE].append(rec)
        if index == 0:
            first_scores[CONV_AE] = scores
            ae.save(out / "models" / CONV_AE)

    labels = {method_key(lam): f"NuRD lambda = {lam:g}" for lam in cfg.lambdas} | {CONV_AE: "conv AE"}
    methods = {
        k: {"label": labels[k], "n_runs": len(r), "per_run": r, "aggregate": _aggregate(r)}
        for k, r in records.items()
    }
    for k, s in first_scores.items():
        write_scores(out / "scores" / f"{k}.h5", s, test.y, classes, n_bkg)

    from training.data.jetimages import jet_marginals

    print("  [nurd] mass-equalised supervised bound (top against each background)", flush=True)
    bound = mass_equalised_bound(base, test.X, test.y, test.nuisance, n_bkg, config.run.seed, cfg.epochs)
    source = config.data.jet_images.source
    label = data_label(source)
    plot_files, plot_dir = [], run.paths.plots
    signal = classes[n_bkg]
    sel, yb = metrics.signal_selections(test.y, classes, n_bkg)[signal]
    curves = {
        f"{labels[k]} (AUC {metrics.auc(yb, s[sel]):.3f})": (yb, s[sel]) for k, s in first_scores.items()
    }
    title = f"{signal} vs " + " + ".join(classes[:n_bkg])
    plot_files.append(plots.roc_plot(curves, plot_dir / "roc.png", title, label, fpr).name)
    qcd = test.y == 0
    for k, s in first_scores.items():
        plot_files.append(
            plots.mass_sculpting_plot(
                test.nuisance[qcd],
                s[qcd],
                cfg.sculpting_efficiencies,
                plot_dir / f"sculpting_{k}.png",
                f"{labels[k]}: {classes[0]} jet mass after score cuts",
                label,
            ).name
        )

    study = {
        "device": device,
        "trigger_fpr": fpr,
        "architecture": (
            f"{'-'.join(map(str, cfg.filters))} filters ({cfg.kernel_size}x{cfg.kernel_size}, stride {cfg.strides}"
            f"{', max pooling' if cfg.pool else ''}) + dense {'-'.join(map(str, cfg.dense))}"
        ),
        "ae_architecture": f"{'-'.join(map(str, cfg.ae_filters))} filters, latent {cfg.ae_latent}, {cfg.ae_epochs} epochs",
        "weights": weights_info,
        "shrinkage": (
            f"shrinkage '{base.shrinkage}', first model's QCD covariance: condition "
            f"{shrinkage[0]['condition_empirical']:.3g} -> {shrinkage[0]['condition']:.3g}"
            if shrinkage
            else base.shrinkage
        ),
        "combine": base.combine,
        "settings": dataclasses.asdict(cfg),
        "nurd_settings": dataclasses.asdict(base),
        "data": {
            "source": source,
            "image_size": size,
            "n_train": {classes[c]: int((y == c).sum()) for c in range(n_bkg)},
            "n_test": {
                "background": {classes[c]: int((test.y == c).sum()) for c in range(n_bkg)},
                "signal": {classes[c]: int((test.y == c).sum()) for c in range(n_bkg, len(classes))},
            },
        },
        "methods": methods,
        "published": PUBLISHED,
        "representation_diagnostics": diagnostics,
        "mass_equalised_bound": {classes[b]: v for b, v in bound.items()},
        "image_marginals": jet_marginals(test.X, test.y, test.nuisance),
    }
    study["goal"] = _goal(study)
    study["findings"] = _findings(study)
    run.finish(study, _markdown(run, study, plot_files))
    return {
        k: {
            "auc": round(m["aggregate"]["auc"][signal]["mean"], 4),
            "abs_pearson_mass": round(m["aggregate"]["abs_pearson"]["mean"], 4),
        }
        for k, m in methods.items()
    }
