"""The one-class comparison of the OCDN study on the five dijet features: OC-SVM (inner and outer regimes),
Deep SVDD (one-class and soft-boundary), the bottleneck autoencoder and the OCDN, N initialisations each.

Reads only the dijet splits of the data stage, so the same code runs on the synthetic default and on the real
LHCO files; writes study.json, study.md and plots (ROC, SIC, OC-SVM fit time against events).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.artifacts import RELATIVE
from l1ad.config import Config, OCDNConfig
from l1ad.errors import L1adError
from training import metrics
from training.data.splits import Splits
from training.metrics import mean_std
from training.scorer import Scorer
from training.stage import write_scores
from training.studies.base import Study
from training.studies.common import per_signal, roc_and_sic_plots, subsample

TITLE = "One-class methods on dijet features"
# Methods in table order: name -> (Scorer kind, legend label without the settings).
METHODS = {
    "ocsvm_inner": ("ocsvm", "OC-SVM inner"),
    "ocsvm_outer": ("ocsvm", "OC-SVM outer"),
    "deep_svdd_oneclass": ("deep_svdd", "Deep SVDD one-class"),
    "deep_svdd_soft": ("deep_svdd", "Deep SVDD soft-boundary"),
    "bottleneck_ae": ("bottleneck_ae", "bottleneck AE"),
    "ocdn": ("ocdn", "OCDN"),
}
# The OC-SVM scaling scan fits at ocsvm_n_train / 8, / 4, / 2 and / 1 events, each timed this many times
# (the fastest run counts: the others were slowed by whatever else the machine was doing).
SCALING_DIVISORS = (8, 4, 2, 1)
TIMING_REPEATS = 2
MIN_SCALING_EVENTS = 20


def method_label(method: str, config: Config) -> str:
    """Legend label of ``method`` with its defining setting."""
    oc = config.studies.oneclass
    base = METHODS[method][1]
    if method == "ocsvm_inner":
        return f"{base} (ν = {oc.ocsvm_nu_inner:g})"
    if method == "ocsvm_outer":
        return f"{base} (ν = {oc.ocsvm_nu_outer:g})"
    if method == "deep_svdd_soft":
        return f"{base} (ν = {oc.svdd_nu:g})"
    return base


def make_scorer(method: str, config: Config, n_inputs: int, seed: int) -> Scorer:
    """An unfitted scorer of ``method`` with the study's settings and ``seed``."""
    oc = config.studies.oneclass
    # The torch methods' shared training settings.
    torch_settings = {
        "batch_size": oc.batch_size,
        "learning_rate": oc.learning_rate,
        "seed": seed,
        "device": config.train.device,
    }
    if method in ("ocsvm_inner", "ocsvm_outer"):
        from training.ocsvm import OneClassSVMScorer

        nu = oc.ocsvm_nu_inner if method == "ocsvm_inner" else oc.ocsvm_nu_outer
        return OneClassSVMScorer(nu, oc.ocsvm_gamma, oc.ocsvm_n_train, seed)
    if method in ("deep_svdd_oneclass", "deep_svdd_soft"):
        from training.deep_svdd import DeepSVDD

        return DeepSVDD(
            n_inputs,
            hidden=oc.svdd_hidden,
            rep_dim=oc.svdd_rep_dim,
            objective="one-class" if method == "deep_svdd_oneclass" else "soft-boundary",
            nu=oc.svdd_nu,
            weight_decay=oc.svdd_weight_decay,
            epochs=oc.svdd_epochs,
            **torch_settings,
        )
    if method == "bottleneck_ae":
        from training.bottleneck_ae import BottleneckAE

        return BottleneckAE(
            n_inputs, hidden=oc.bae_hidden, latent=oc.bae_latent, epochs=oc.bae_epochs, **torch_settings
        )
    if method == "ocdn":
        from training.ocdn import OCDN

        ocdn_config = OCDNConfig(
            hidden=oc.ocdn_hidden,
            epochs=oc.epochs_ocdn,
            batch_size=oc.batch_size,
            learning_rate=oc.learning_rate,
        )
        return OCDN(ocdn_config, n_inputs=n_inputs, seed=seed)
    raise ValueError(f"unknown one-class method {method!r} (known: {', '.join(METHODS)})")


def power_law_exponent(n_events: list[int] | np.ndarray, seconds: list[float] | np.ndarray) -> float:
    """Exponent b of t = a n^b fitted by least squares in log-log; needs two distinct sizes."""
    n = np.asarray(n_events, dtype=np.float64)
    t = np.asarray(seconds, dtype=np.float64)
    if n.shape != t.shape or np.unique(n).size < 2:
        raise ValueError(f"need times at two or more distinct sizes, got sizes {n.tolist()}")
    if np.any(n <= 0) or np.any(t <= 0):
        raise ValueError("sizes and times must be positive for a log-log fit")
    return float(np.polyfit(np.log(n), np.log(t), 1)[0])


def scaling_sizes(n_max: int) -> list[int]:
    """Event counts of the OC-SVM scaling scan: ``n_max`` / 8, / 4, / 2, / 1 (at least MIN_SCALING_EVENTS)."""
    return sorted({n_max // d for d in SCALING_DIVISORS if n_max // d >= MIN_SCALING_EVENTS})


def ocsvm_scaling(X: np.ndarray, nu: float, gamma: str, sizes: list[int], seed: int) -> dict[str, Any]:
    """Fit time of the OC-SVM against the number of events (fastest of TIMING_REPEATS) and the power law."""
    from training.ocsvm import OneClassSVMScorer

    seconds = []
    for n in sizes:
        best = float("inf")
        for _ in range(TIMING_REPEATS):
            start = time.perf_counter()
            OneClassSVMScorer(nu, gamma, n, seed).fit(X)
            best = min(best, time.perf_counter() - start)
        seconds.append(best)
        print(f"  ocsvm scaling: nu {nu:g}, {n} events: {best:.3f} s", flush=True)
    exponent = power_law_exponent(sizes, seconds) if len(sizes) >= 2 else float("nan")
    return {"nu": nu, "n_events": list(sizes), "seconds": seconds, "exponent": exponent}


def _warm_up(config: Config) -> dict[str, str]:
    """Import and initialise both frameworks before any timing, so no fit pays their start-up."""
    import torch

    from training.device import configure_tensorflow, torch_device

    torch_dev = torch_device(config.train.device)
    # The first optimiser and backward pass load torch's lazy modules (about a second on a CPU).
    layer = torch.nn.Linear(2, 1).to(torch_dev)
    optimiser = torch.optim.Adam(layer.parameters())
    layer(torch.zeros(4, 2, device=torch_dev)).sum().backward()
    optimiser.step()
    return {"torch": torch_dev, "tensorflow": configure_tensorflow(config.train.device)}


def _fit_method(
    method: str, config: Config, X: np.ndarray, X_val: np.ndarray, splits: Splits, out: Path
) -> tuple[list[dict], np.ndarray, dict]:
    """Fit ``method`` for each seed; returns per-seed records, test scores (n_fits, N) and notes."""
    oc = config.studies.oneclass
    n_fits = oc.n_seeds
    notes: dict[str, Any] = {}
    if METHODS[method][0] == "ocsvm":
        # libsvm's solver has no randomness: seeds can only change the training subsample.
        notes["deterministic"] = True
        if len(X) <= oc.ocsvm_n_train:
            n_fits = 1
            notes["note"] = (
                f"deterministic fit on all {len(X)} training events: one fit stands for every seed"
            )
        else:
            notes["note"] = f"deterministic fit; seeds draw different {oc.ocsvm_n_train}-event subsamples"
    records, all_scores = [], []
    for k in range(n_fits):
        seed = config.run.seed + k
        scorer = make_scorer(method, config, X.shape[1], seed)
        print(f"  [{method}] seed {seed} ({k + 1}/{n_fits})", flush=True)
        start = time.perf_counter()
        scorer.fit(X, X_val)
        fit_seconds = time.perf_counter() - start
        scorer.save(out / "models" / method / f"seed{seed}")
        scores = np.asarray(scorer.score(splits.test.X), dtype=np.float64)
        all_scores.append(scores)
        n_used = getattr(scorer, "n_train_used", len(X))
        record = {"seed": seed, "fit_seconds": fit_seconds, "n_train_events": n_used, "signals": {}}
        for signal, (sel, labels) in per_signal(splits).items():
            record["signals"][signal] = metrics.summarise(
                labels,
                scores[sel],
                config.metrics.trigger_fpr_dijet,
                config.metrics.min_background_for_sic,
            )
        first = next(iter(record["signals"].values()))
        print(
            f"  [{method}] seed {seed}: {n_used} events, fit {fit_seconds:.2f} s, AUC {first['auc']:.3f}, "
            f"max SIC {first['max_sic']:.2f}",
            flush=True,
        )
        records.append(record)
    return records, np.stack(all_scores), notes


def _aggregate(records: list[dict]) -> dict[str, dict]:
    """Per signal: best / mean / std over seeds of AUC, max SIC and TPR at the trigger FPR, and the best seed.

    The best seed is the one with the highest AUC (less noisy than max SIC, which hangs on a few events).
    """
    out = {}
    for signal in records[0]["signals"]:
        figs = [r["signals"][signal] for r in records]
        best = int(np.argmax([f["auc"] for f in figs]))
        out[signal] = {
            "auc": metrics.aggregate([f["auc"] for f in figs]),
            "max_sic": metrics.aggregate([f["max_sic"] for f in figs]),
            "tpr_at_fpr": metrics.aggregate([f["tpr_at_fpr"]["tpr"] for f in figs]),
            "tpr_reachable": all(f["tpr_at_fpr"]["reachable"] for f in figs),
            "best_seed": records[best]["seed"],
        }
    return out


def _scaling_plot(scaling: dict[str, dict], path: Path, data_label: str) -> Path:
    """OC-SVM fit time against training events (log-log) with the fitted power laws."""
    from reports.plots import COLOURS, MARKERS, styled_figure

    with styled_figure(path, "OC-SVM fit time against training events", data_label) as (_, (ax,)):
        for i, (regime, info) in enumerate(scaling.items()):
            n = np.asarray(info["n_events"], dtype=np.float64)
            t = np.asarray(info["seconds"], dtype=np.float64)
            label = f"{regime} (ν = {info['nu']:g})"
            if np.isfinite(info["exponent"]):
                label += f": t ~ n^{info['exponent']:.2f}"
                fit = np.exp(np.polyval(np.polyfit(np.log(n), np.log(t), 1), np.log(n)))
                ax.plot(n, fit, color=COLOURS[i], linestyle="--", linewidth=1.5)
            ax.plot(n, t, marker=MARKERS[i], markersize=10, linestyle="none", color=COLOURS[i], label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training events")
        ax.set_ylabel(f"fit time [s] (fastest of {TIMING_REPEATS})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="upper left")
    return path


def _markdown(
    run: Study, study: dict, plot_files: dict[str, list[str]], scaling_file: str | None
) -> list[str]:
    """The study.md fragment: data, tables per signal, measured observations and figures."""
    data = study["data"]
    methods = study["methods"]
    fpr = study["trigger_fpr"]
    first = next(iter(methods.values()))
    seeds = first["per_seed"][0]["seed"]
    source = (
        "synthetic dijet features (the seeded generator writing the LHCO R&D features layout)"
        if data["source"] == "synthetic"
        else f"real data from `{data['source']}`"
    )
    lines = [
        *run.heading(),
        f"Data: {source}. Training uses signal-region background only: {data['n_train_events']} events for the "
        f"neural methods (of {data['n_train_available']} in the training split), "
        f"{study['ocsvm_train_events']} for the OC-SVM (kernel SVMs scale super-linearly in the number of "
        f"events). Test: {data['n_test_background']} background events and "
        + ", ".join(f"{n} {s} events" for s, n in data["n_test_signal"].items())
        + f". {study['n_seeds']} initialisations per method (seeds {seeds} to {seeds + study['n_seeds'] - 1}); "
        "the OC-SVM solver is deterministic, so its seeds only change the training subsample "
        "(one fit when the subsample is the whole training set). "
        f"Devices: PyTorch {study['devices']['torch']}, TensorFlow {study['devices']['tensorflow']}.",
        "",
        "Scores, higher = more anomalous: OC-SVM minus the decision value in both regimes (the distance outside "
        "the learned support; ν close to 1 makes it close to minus a kernel density estimate), Deep SVDD the "
        "squared distance to the centre (minus R² for soft-boundary), the autoencoder the mean squared "
        "reconstruction error, OCDN its logit. "
        f"SIC counts only working points where at least {study['min_background_for_sic']} background events "
        "pass; the figures show the best initialisation of each method (highest AUC).",
    ]
    for signal in first["aggregate"]:
        lines += [
            "",
            f"### {signal} against background",
            "",
            f"| method | fits | AUC best | AUC mean ± std | max SIC best | max SIC mean ± std | "
            f"TPR at FPR {fpr:g} (mean ± std) | fit time per fit [s] |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for info in methods.values():
            agg = info["aggregate"][signal]
            tpr = (
                mean_std(agg["tpr_at_fpr"], 3) if agg["tpr_reachable"] else "n/a (too few background events)"
            )
            lines.append(
                f"| {info['label']} | {agg['auc']['n']} | {agg['auc']['best']:.3f} | {mean_std(agg['auc'], 3)} | "
                f"{agg['max_sic']['best']:.2f} | {mean_std(agg['max_sic'], 2)} | {tpr} | "
                f"{mean_std(info['fit_seconds'], 2)} |"
            )
        by_auc = max(methods.values(), key=lambda m: m["aggregate"][signal]["auc"]["mean"])
        by_sic = max(methods.values(), key=lambda m: m["aggregate"][signal]["max_sic"]["mean"])
        worst = min(methods.values(), key=lambda m: m["aggregate"][signal]["auc"]["mean"])
        lines += [
            "",
            f"Measured here: the highest mean AUC is {by_auc['label']} "
            f"({mean_std(by_auc['aggregate'][signal]['auc'], 3)}), the highest mean max SIC {by_sic['label']} "
            f"({mean_std(by_sic['aggregate'][signal]['max_sic'], 2)}), the lowest mean AUC {worst['label']} "
            f"({mean_std(worst['aggregate'][signal]['auc'], 3)}).",
            "",
        ]
        lines += run.plot_links(plot_files[signal])
    scaling = study["ocsvm_scaling"]
    exps = {
        r: i["exponent"]
        for r, i in scaling.items()
        if i["exponent"] is not None and np.isfinite(i["exponent"])
    }
    if exps:
        sizes = next(iter(scaling.values()))["n_events"]
        lines += [
            "",
            "### OC-SVM fit time",
            "",
            "Fit time against training events, fastest of "
            f"{TIMING_REPEATS} fits per size, between {sizes[0]} and {sizes[-1]} events: "
            + "; ".join(
                f"{r} (ν = {scaling[r]['nu']:g}) t ∝ n^{e:.2f}, "
                f"{scaling[r]['seconds'][0]:.3g} s to {scaling[r]['seconds'][-1]:.3g} s"
                for r, e in exps.items()
            )
            + ". An exponent above 1 means the fit slows faster than the sample grows.",
        ]
        if scaling_file:
            lines += ["", *run.plot_links([scaling_file], alt="OC-SVM scaling")]
    return lines


def run_oneclass_study(config: Config, out: Path, run_dir: Path) -> dict[str, Any]:
    """Fit every one-class method on signal-region background, N seeds each; write study.json/.md and plots."""
    from reports.stage import data_label

    oc = config.studies.oneclass
    if oc.n_seeds < 1:
        raise L1adError(f"studies.oneclass.n_seeds must be at least 1, got {oc.n_seeds}")
    run = Study("oneclass", TITLE, config, out, run_dir)
    out = run.out
    splits = run.splits("dijet")
    X = subsample(splits.train.X, oc.max_train_events, config.run.seed)  # background training events
    X_val = splits.val.X
    source = config.data.dijet.source
    label = data_label(source)
    devices = _warm_up(config)
    signals = per_signal(splits)

    methods: dict[str, dict] = {}
    test_scores: dict[str, np.ndarray] = {}
    for method, (kind, _) in METHODS.items():
        records, scores, notes = _fit_method(method, config, X, X_val, splits, out)
        test_scores[method] = scores
        write_scores(
            out / "scores" / f"{method}.h5",
            scores,
            splits.test.y,
            splits.classes,
            splits.n_background_classes,
        )
        methods[method] = {
            "label": method_label(method, config),
            "kind": kind,
            "n_train_events": records[0]["n_train_events"],
            "n_fits": len(records),
            "deterministic": notes.get("deterministic", False),
            "note": notes.get("note", ""),
            "fit_seconds": metrics.aggregate([r["fit_seconds"] for r in records], higher_is_better=False),
            "per_seed": records,
            "aggregate": _aggregate(records),
            "models": f"models/{method}",
            "scores": f"scores/{method}.h5",
        }

    plot_dir = run.paths.plots
    plot_files: dict[str, list[str]] = {}
    for signal, (sel, labels) in signals.items():
        curves = {}
        for method, info in methods.items():
            best = info["aggregate"][signal]["best_seed"]
            row = [r["seed"] for r in info["per_seed"]].index(best)
            best_auc = info["per_seed"][row]["signals"][signal]["auc"]
            curves[f"{info['label']} (AUC {best_auc:.3f})"] = (labels, test_scores[method][row][sel])
        plot_files[signal] = roc_and_sic_plots(
            curves,
            plot_dir,
            signal,
            f"{signal} vs background, best of {oc.n_seeds} initialisations",
            label,
            config.metrics.trigger_fpr_dijet,
            config.metrics.min_background_for_sic,
        )

    n_svm = min(oc.ocsvm_n_train, len(X))
    sizes = scaling_sizes(n_svm)
    scaling = {
        regime: ocsvm_scaling(X, nu, oc.ocsvm_gamma, sizes, config.run.seed)
        for regime, nu in (("inner", oc.ocsvm_nu_inner), ("outer", oc.ocsvm_nu_outer))
    }
    scaling_file = None
    if len(sizes) >= 2:
        scaling_file = _scaling_plot(scaling, plot_dir / "ocsvm_fit_time.png", label).name

    study = {
        "data": {
            "source": source,
            "splits": str(RELATIVE.data.splits("dijet")),
            "n_train_available": len(splits.train.X),
            "n_train_events": len(X),
            "n_val": len(X_val),
            "n_test_background": int(splits.is_background(splits.test.y).sum()),
            "n_test_signal": {s: int(lab.sum()) for s, (_, lab) in signals.items()},
        },
        "ocsvm_train_events": n_svm,
        "n_seeds": oc.n_seeds,
        "devices": devices,
        "trigger_fpr": config.metrics.trigger_fpr_dijet,
        "min_background_for_sic": config.metrics.min_background_for_sic,
        "best_seed_rule": "highest AUC",
        "score_sign": {
            "ocsvm": "minus scikit-learn's decision value in both regimes (positive inside the support)",
            "deep_svdd": "squared distance to c (minus R^2 for soft-boundary)",
            "bottleneck_ae": "mean squared reconstruction error",
            "ocdn": "logit",
        },
        "methods": methods,
        "ocsvm_scaling": scaling,
        "plots": [
            *(f for files in plot_files.values() for f in files),
            *([scaling_file] if scaling_file else []),
        ],
    }
    run.finish(study, _markdown(run, study, plot_files, scaling_file))

    first = next(iter(signals))
    return {
        "source": source,
        "n_train_events": len(X),
        "ocsvm_train_events": n_svm,
        "auc_mean": {m: round(i["aggregate"][first]["auc"]["mean"], 4) for m, i in methods.items()},
        "max_sic_mean": {m: round(i["aggregate"][first]["max_sic"]["mean"], 3) for m, i in methods.items()},
        "fit_seconds_mean": {m: round(i["fit_seconds"]["mean"], 2) for m, i in methods.items()},
        "ocsvm_exponent": {r: i["exponent"] for r, i in scaling.items()},
    }
