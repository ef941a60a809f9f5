"""The full-precision NuRD study on jet images: the critic weight lambda (0, 0.001, 1) against a plain
convolutional autoencoder, for top jets as the anomaly and the jet mass as the nuisance.

Per method: AUC of top against QCD + W/Z (and against each), Pearson and distance correlation of the
score with the jet mass on QCD, the QCD mass distribution after score cuts (sculpting), and the
training time per epoch with and without the critic. Writes study.json, study.md and plots.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.config import Config
from l1ad.io import atomic_path, write_json
from training import metrics
from training.conv_ae import ConvAEConfig, ConvAutoencoder
from training.data.splits import read_splits
from training.nurd import NuRD
from training.stage import split_path, write_scores

TITLE = "NuRD on jet images: a mass-decorrelated representation and its Mahalanobis score"
CONV_AE = "conv_ae"


def method_key(lam: float) -> str:
    return f"nurd_lambda_{lam:g}"


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
    signals, against = {}, {}
    for k in range(n_bkg, len(classes)):
        sel = (y < n_bkg) | (y == k)
        signals[classes[k]] = metrics.summarise((y[sel] == k).astype(int), scores[sel], fpr, min_bkg)
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
    return f"{agg['mean']:.{digits}f}" + (f" ± {agg['std']:.{digits}f}" if agg["n"] > 1 else "")


def _markdown(study: dict[str, Any], plot_files: list[str]) -> str:
    data, methods, cfg = study["data"], study["methods"], study["settings"]
    signal = next(iter(data["n_test"]["signal"]))
    backgrounds = list(data["n_test"]["background"])
    source = (
        "synthetic jet images (the seeded l1ad generator writing the hls4ml jet-dataset layout)"
        if data["source"] == "synthetic"
        else f"real jet images from `{data['source']}`"
    )
    lines = [
        f"## {TITLE}",
        "",
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
        + f" | TPR at FPR {study['trigger_fpr']:g} | abs Pearson(score, m) on {backgrounds[0]} | distance corr. | s / epoch |",
        "|---|" + "---:|" * (5 + len(backgrounds)),
    ]
    for info in methods.values():
        agg = info["aggregate"]
        lines.append(
            f"| {info['label']} | {_pm(agg['auc'][signal])} | "
            + " | ".join(_pm(agg["auc_against"][signal][b]) for b in backgrounds)
            + f" | {_pm(agg['tpr_at_fpr'][signal], 4)} | {_pm(agg['abs_pearson'])} | {_pm(agg['distance_correlation'])}"
            + f" | {_pm(agg['epoch_seconds'], 1)} |"
        )
    lines += ["", *study["findings"], ""]
    lines += [f"![{f}](../studies/nurd/plots/{f})" for f in plot_files]
    return "\n".join(lines) + "\n"


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
    return out


def run_nurd_study(config: Config, out: Path, run_dir: Path) -> dict[str, Any]:
    """Train NuRD at each lambda and the conv AE (N seeds); write study.json, study.md, plots and scores."""
    from quantize.stage import trigger_fpr
    from reports import plots
    from reports.stage import data_label
    from training.device import configure_tensorflow

    cfg = config.studies.nurd
    out = Path(out)
    device = configure_tensorflow(config.train.device)
    splits = read_splits(split_path(run_dir, "jet_images"))
    classes, n_bkg = splits.classes, splits.n_background_classes
    if len(splits.train.X) > cfg.max_train_events:
        keep = np.sort(
            np.random.default_rng(config.run.seed).choice(
                len(splits.train.X), cfg.max_train_events, replace=False
            )
        )
    else:
        keep = np.arange(len(splits.train.X))
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
    for run in range(cfg.n_seeds):
        seed = config.run.seed + run
        for lam in cfg.lambdas:
            key = method_key(lam)
            print(f"  [nurd] seed {seed}: NuRD lambda {lam:g}, {len(X)} jets, {device}", flush=True)
            start = time.perf_counter()
            scorer = NuRD(dataclasses.replace(base, critic_lambda=lam), size, seed).fit(
                X, splits.val.X, y=y, nuisance=mass, y_val=splits.val.y
            )
            fit_seconds = time.perf_counter() - start
            scores = scorer.score(test.X)
            rec = _figures(scores, test.y, test.nuisance, classes, n_bkg, fpr, config)
            rec |= {
                "seed": seed,
                "fit_seconds": fit_seconds,
                "epoch_seconds": float(np.mean(scorer.history["seconds"])),
            }
            records[key].append(rec)
            if run == 0:
                first_scores[key] = scores
                scorer.save(out / "models" / key)
                weights_info = scorer.weights_info
                shrinkage.append({k: v for k, v in scorer.head_stats[0].items() if k not in ("mean", "cov")})
            print(
                f"  [nurd] lambda {lam:g}: AUC {rec['signals'][classes[n_bkg]]['auc']:.3f}, Pearson(score, m | QCD) "
                f"{rec['mass_correlation']['pearson']:+.3f}, distance corr. {rec['mass_correlation']['distance']:.3f}",
                flush=True,
            )
        print(f"  [nurd] seed {seed}: convolutional AE", flush=True)
        start = time.perf_counter()
        ae = ConvAutoencoder(ae_cfg, size, seed).fit(X, splits.val.X)
        fit_seconds = time.perf_counter() - start
        scores = ae.score(test.X)
        rec = _figures(scores, test.y, test.nuisance, classes, n_bkg, fpr, config)
        rec |= {
            "seed": seed,
            "fit_seconds": fit_seconds,
            "epoch_seconds": fit_seconds / max(ae_cfg.epochs, 1),
        }
        records[CONV_AE].append(rec)
        if run == 0:
            first_scores[CONV_AE] = scores
            ae.save(out / "models" / CONV_AE)

    labels = {method_key(lam): f"NuRD lambda = {lam:g}" for lam in cfg.lambdas} | {CONV_AE: "conv AE"}
    methods = {
        k: {"label": labels[k], "n_runs": len(r), "per_run": r, "aggregate": _aggregate(r)}
        for k, r in records.items()
    }
    for k, s in first_scores.items():
        write_scores(out / "scores" / f"{k}.h5", s, test.y, classes, n_bkg)

    source = config.data.jet_images.source
    label = data_label(source)
    plot_files = []
    signal_k = n_bkg
    sel = (test.y < n_bkg) | (test.y == signal_k)
    yb = (test.y[sel] == signal_k).astype(int)
    curves = {
        f"{labels[k]} (AUC {metrics.auc(yb, s[sel]):.3f})": (yb, s[sel]) for k, s in first_scores.items()
    }
    title = f"{classes[signal_k]} vs " + " + ".join(classes[:n_bkg])
    plot_files.append(plots.roc_plot(curves, out / "plots" / "roc.png", title, label, fpr).name)
    qcd = test.y == 0
    for k, s in first_scores.items():
        plot_files.append(
            plots.mass_sculpting_plot(
                test.nuisance[qcd],
                s[qcd],
                cfg.sculpting_efficiencies,
                out / "plots" / f"sculpting_{k}.png",
                f"{labels[k]}: {classes[0]} jet mass after score cuts",
                label,
            ).name
        )

    study = {
        "title": TITLE,
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
    }
    study["findings"] = _findings(study)
    write_json(out / "study.json", study)
    with atomic_path(out / "study.md") as tmp:
        tmp.write_text(_markdown(study, plot_files))
    signal = classes[n_bkg]
    return {
        k: {
            "auc": round(m["aggregate"]["auc"][signal]["mean"], 4),
            "abs_pearson_mass": round(m["aggregate"]["abs_pearson"]["mean"], 4),
        }
        for k, m in methods.items()
    }
