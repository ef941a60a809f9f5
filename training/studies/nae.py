"""The normalized-autoencoder study on L1 objects: the NAE against the plain AE it starts from, a plain AE
trained for the same number of epochs, and the compact L1 AE architecture, per signal.

The NAE's claim is that maximum-likelihood training raises the energy (reconstruction error) of
off-distribution inputs that a plain AE reconstructs too well; the study measures whether it does here
(AUC and the signal-to-background ratio of median energies). Writes study.json, study.md and plots.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.config import Config
from training import metrics
from training.metrics import mean_std
from training.nae import NormalizedAutoencoder, TorchAutoencoder
from training.studies.base import MethodRuns, Study
from training.studies.common import (
    architecture,
    auc_table,
    compact_ae_params,
    dense_ae_size,
    dense_ae_widths,
    l1_data_lines,
    l1_data_record,
    l1_summary,
    l1_training_events,
    mean_epoch_seconds,
    per_signal,
    print_seed_aucs,
    score_models,
    signal_figures,
    table_head,
    tpr_cells,
)

TITLE = "Normalized autoencoder (NAE) on L1 objects"
PRETRAINED, SAME_EPOCHS, NAE, COMPACT = "ae_pretrained", "ae_same_epochs", "nae", "ae_compact"
# AUC differences below this count as no change when the seeds give no spread (a single seed).
AUC_TOLERANCE = 0.002


def energy_ratios(scores: np.ndarray, signals: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Per signal: median energy of the signal over the median energy of the background test events."""
    out = {}
    for signal, (sel, labels) in signals.items():
        s = scores[sel]
        out[signal] = float(np.median(s[labels == 1]) / np.median(s[labels == 0]))
    return out


def reconstructed_too_well(
    ae_scores: np.ndarray, nae_scores: np.ndarray, signals: dict[str, tuple[np.ndarray, np.ndarray]]
) -> dict[str, dict[str, float]]:
    """Per signal: the events an AE reconstructs too well, and what the NAE does to them.

    Each event's energy is placed among the background's (its background percentile), so the two models
    compare although their energies differ in scale. "Too well": a signal event below the background's
    median energy (the AE calls it more normal than half the background); "far too well": below the 10%
    quantile. Reported for the AE and the NAE, and for the AE's too-well events: the share the NAE lifts
    above the background median and their mean background percentile under each model.
    """
    out = {}
    for signal, (sel, labels) in signals.items():
        pct = {}
        for name, s in (("ae", ae_scores[sel]), ("nae", nae_scores[sel])):
            ref = np.sort(s[labels == 0])
            pct[name] = np.searchsorted(ref, s[labels == 1], side="right") / len(ref)
        low = pct["ae"] < 0.5
        out[signal] = {
            "ae_below_background_median": float(low.mean()),
            "nae_below_background_median": float((pct["nae"] < 0.5).mean()),
            "ae_below_background_10pct": float((pct["ae"] < 0.1).mean()),
            "nae_below_background_10pct": float((pct["nae"] < 0.1).mean()),
            "nae_lifts_above_median": float((pct["nae"][low] >= 0.5).mean()) if low.any() else float("nan"),
            "percentile_ae": float(pct["ae"][low].mean()) if low.any() else float("nan"),
            "percentile_nae": float(pct["nae"][low].mean()) if low.any() else float("nan"),
        }
    return out


def _too_well_lines(study: dict) -> list[str]:
    rows = study.get("reconstructed_too_well")
    if not rows:
        return []
    lines = [
        "",
        "### Signal events the AE reconstructs too well (first seed)",
        "",
        "The source's point: an AE can reconstruct some outliers better than the background, and the NAE's "
        "negatives raise their energy. Each signal event's energy is placed among the background's (its "
        "percentile); 'too well' = below the background median, 'far too well' = below its 10% quantile.",
        "",
        "| signal | too well: AE | NAE | far too well: AE | NAE | AE's too-well events the NAE lifts above the "
        "median | their mean percentile AE -> NAE |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for signal, r in rows.items():
        lines.append(
            f"| {signal} | {r['ae_below_background_median']:.1%} | {r['nae_below_background_median']:.1%} | "
            f"{r['ae_below_background_10pct']:.1%} | {r['nae_below_background_10pct']:.1%} | "
            f"{r['nae_lifts_above_median']:.1%} | {r['percentile_ae']:.3f} -> {r['percentile_nae']:.3f} |"
        )
    worse = [s for s, r in rows.items() if r["nae_below_background_median"] > r["ae_below_background_median"]]
    better = [
        s for s, r in rows.items() if r["nae_below_background_median"] < r["ae_below_background_median"]
    ]
    whole = (
        "No signal is reconstructed better than the background as a whole here (fewer than half of each "
        "signal's events lie below the background median)"
        if all(r["ae_below_background_median"] < 0.5 for r in rows.values())
        else "Some signal is reconstructed better than the background as a whole (more than half of its "
        "events below the background median)"
    )
    effect = (
        f"leaves more too-well events in {', '.join(worse)}" if worse else "adds no too-well events"
    ) + (f" and fewer in {', '.join(better)}" if better else "")
    lines += [
        "",
        f"{whole}; the NAE {effect}. Published (Yoon et al. 2021; Dillon et al., arXiv 2206.14225, jet images, "
        "not these data): the NAE turns outliers an AE reconstructs too well into high-energy events.",
    ]
    return lines


def _record(model_scores: np.ndarray, signals: dict, config: Config, seed: int) -> dict:
    return {
        "seed": seed,
        "signals": signal_figures(model_scores, signals, config),
        "energy_ratio": energy_ratios(model_scores, signals),
    }


def _verdict(study: dict, signal: str) -> str:
    """One measured sentence per signal: does the NAE raise this signal's energy relative to background?"""
    nae, ae = study["methods"][NAE], study["methods"][PRETRAINED]
    d_auc = nae["aggregate"][signal]["auc"]["mean"] - ae["aggregate"][signal]["auc"]["mean"]
    noise = float(np.hypot(nae["aggregate"][signal]["auc"]["std"], ae["aggregate"][signal]["auc"]["std"]))
    r_nae = float(np.mean([r["energy_ratio"][signal] for r in nae["per_run"]]))
    r_ae = float(np.mean([r["energy_ratio"][signal] for r in ae["per_run"]]))
    tolerance = max(noise, AUC_TOLERANCE)
    if d_auc > tolerance and r_nae > r_ae:
        verdict = "yes: the NAE separates this signal better and raises its energy relative to background"
    elif d_auc < -tolerance:
        verdict = "no: the NAE separates this signal worse than the AE it started from"
    else:
        verdict = "no measurable change in AUC"
    direction = "rises" if r_nae > r_ae else "falls"
    return (
        f"- {signal}: AUC {ae['aggregate'][signal]['auc']['mean']:.3f} (AE) -> "
        f"{nae['aggregate'][signal]['auc']['mean']:.3f} (NAE), change {d_auc:+.3f} (run-to-run spread "
        f"{noise:.3f}); the median energy ratio signal / background {direction} from {r_ae:.2f} to "
        f"{r_nae:.2f}. Suppressed outlier reconstruction: {verdict}."
    )


def _markdown(run: Study, study: dict, plot_files: list[str]) -> list[str]:
    data, methods, cfg = study["data"], study["methods"], study["settings"]
    signals = list(data["n_test_signal"])
    last = study["nae_last_epoch"]
    lines = [
        *run.heading(),
        *l1_data_lines(study),
        f"Model: {study['architecture']} (LeakyReLU, latent vector on the unit sphere), energy "
        "E(x) = ||x - x̂||² summed over the 57 inputs, which is also the score. The plain AE is pretrained for "
        f"{cfg['pretrain_epochs']} epochs (learning rate {cfg['pretrain_learning_rate']:g}); the NAE then "
        f"trains {cfg['epochs']} epochs (learning rate {cfg['learning_rate']:g}) on "
        "(mean E(data) - mean E(negatives)) / T + γ mean E(negatives)², "
        f"T = {cfg['temperature']:g}, γ = {cfg['negative_energy_reg']:g}. Negatives per batch: a Langevin chain "
        f"of {cfg['latent_steps']} steps on the latent sphere (step {cfg['latent_step_size']:g}, noise "
        f"{cfg['latent_noise']:g}) from uniform starting points, decoded, then {cfg['visible_steps']} steps in input "
        f"space (step {cfg['visible_step_size']:g}, noise {cfg['visible_noise']:g}) inside the box spanned by the "
        "training data. AE (same epochs) trains the plain AE for the pretraining plus the NAE epochs, separating "
        "the effect of the NAE objective from that of longer training.",
        "",
        f"Last NAE epoch: mean energy of data {last['energy']:.3g}, of negatives {last['negative_energy']:.3g} "
        f"(validation {last.get('val_energy', float('nan')):.3g}).",
        "",
        "### AUC per signal (mean ± std over seeds)",
        "",
        *auc_table(list(methods.values()), signals, with_runs=False),
        "",
        f"### TPR at FPR {study['trigger_fpr']:g} and median energy signal / background",
        "",
        *table_head(["method"], [*(f"TPR {s}" for s in signals), *(f"ratio {s}" for s in signals)]),
    ]
    for info in methods.values():
        ratios = {s: np.mean([r["energy_ratio"][s] for r in info["per_run"]]) for s in signals}
        lines.append(
            f"| {info['label']} | {tpr_cells(info['aggregate'], signals)} | "
            + " | ".join(f"{ratios[s]:.2f}" for s in signals)
            + " |"
        )
    lines += ["", "Does the NAE suppress the reconstruction of outliers here? Measured per signal:"]
    lines += [_verdict(study, s) for s in signals]
    lines += _too_well_lines(study)
    nae_size, compact_size = methods[NAE]["size"], methods[COMPACT]["size"]
    gap = {
        s: methods[NAE]["aggregate"][s]["auc"]["mean"] - methods[COMPACT]["aggregate"][s]["auc"]["mean"]
        for s in signals
    }
    nae_t, pre_t = study["timing"].get("nae_epoch_seconds"), study["timing"].get("pretrain_epoch_seconds")
    lines += [
        "",
        "### Why it stays full precision",
        "",
        f"At inference the NAE is a dense AE: {nae_size['parameters']:,} parameters and {nae_size['macs']:,} "
        f"multiply-accumulates per event, against {compact_size['parameters']:,} and {compact_size['macs']:,} "
        f"for the compact L1 AE ({study['compact_architecture']}). Its latent vector is divided by its norm (a "
        "square root and a division per event), and its training needs gradients with respect to the inputs "
        f"for every Langevin step: {mean_std(nae_t, 2)} s per NAE epoch against {mean_std(pre_t, 2)} s per plain-AE epoch on "
        "this device. AUC of the NAE minus the compact AE: "
        + ", ".join(f"{s} {g:+.3f}" for s, g in gap.items())
        + " (positive = the compact AE gives that much up).",
        "",
    ]
    return lines + run.plot_links(plot_files)


def run_nae_study(config: Config, out: Path, run_dir: Path) -> dict[str, Any]:
    """Train NAE, its pretrained AE, an equally long plain AE and the compact AE; write study.json/.md, plots."""
    from reports import plots

    run = Study("nae", TITLE, config, out, run_dir)
    cfg = config.studies.nae
    splits = run.splits("l1")
    X, X_val = l1_training_events(splits, cfg.max_train_events, config.run.seed)
    signals = per_signal(splits)
    n_inputs = X.shape[1]
    same_epochs = dataclasses.replace(cfg, pretrain_epochs=cfg.pretrain_epochs + cfg.epochs, epochs=0)
    compact_params = compact_ae_params(config)
    nae_size = dense_ae_size(n_inputs, tuple(cfg.hidden), cfg.latent)
    methods = {
        PRETRAINED: MethodRuns(f"AE (pretrained, {cfg.pretrain_epochs} epochs)", nae_size),
        SAME_EPOCHS: MethodRuns(f"AE (same epochs, {same_epochs.pretrain_epochs})", nae_size),
        NAE: MethodRuns("NAE", nae_size),
        COMPACT: MethodRuns(
            "compact AE (L1 architecture)",
            dense_ae_size(n_inputs, compact_params.hidden, compact_params.latent),
        ),
    }
    timing: dict[str, list[float]] = {"pretrain_epoch_seconds": [], "nae_epoch_seconds": []}
    nae_history: list[dict] = []
    for seed in run.seeds:
        run.log(f"seed {seed}: {len(X)} training events, {run.device}")
        nae = NormalizedAutoencoder(cfg, n_inputs, seed, run.device, run.checkpoints / f"nae_seed{seed}").fit(
            X, X_val
        )
        timing["pretrain_epoch_seconds"].append(mean_epoch_seconds(nae.history["pretrain"]))
        timing["nae_epoch_seconds"].append(mean_epoch_seconds(nae.history["nae"]))
        if seed == run.seeds[0]:
            nae_history = nae.history["nae"]
        run.log(f"seed {seed}: plain AE for {same_epochs.pretrain_epochs} epochs")
        longer = NormalizedAutoencoder(
            same_epochs, n_inputs, seed, run.device, run.checkpoints / f"ae_seed{seed}"
        ).fit(X, X_val)
        compact = TorchAutoencoder(compact_params, n_inputs, seed, run.device).fit(X, X_val)
        models = {PRETRAINED: nae.plain_autoencoder(), SAME_EPOCHS: longer, NAE: nae, COMPACT: compact}
        first = seed == run.seeds[0]
        for key, s in score_models(models, splits.test.X, run.out / "models" if first else None).items():
            methods[key].add(s, _record(s, signals, config, seed))
        print_seed_aucs("nae", seed, signals, {k: m.records for k, m in methods.items()})

    scores = {key: m.scores for key, m in methods.items()}
    run.write_scores(scores, splits)
    label = run.data_label(config.data.l1.source)
    plot_files = []
    for key in (PRETRAINED, NAE):
        path = plots.score_histograms(
            scores[key][0],
            splits.test.y,
            splits.classes,
            run.paths.plots / f"energy_{key}.png",
            f"{methods[key].label}: energy per class",
            label,
            xlabel="energy ||x - x̂||²",
        )
        plot_files.append(path.name)
    for signal, (sel, lab) in signals.items():
        curves = {
            f"{m.label} (AUC {m.records[0]['signals'][signal]['auc']:.3f})": (lab, m.scores[0][sel])
            for m in methods.values()
        }
        path = plots.roc_plot(
            curves,
            run.paths.plots / f"roc_{signal}.png",
            f"{signal} vs background, first seed",
            label,
            config.metrics.trigger_fpr_l1,
        )
        plot_files.append(path.name)

    entries = {key: m.entry() for key, m in methods.items()}
    study = {
        "data": l1_data_record(config, splits, X, X_val, signals),
        "device": run.device,
        "n_seeds": config.run.n_seeds,
        "settings": dataclasses.asdict(cfg),
        "architecture": architecture(dense_ae_widths(n_inputs, cfg.hidden, cfg.latent)),
        "compact_architecture": architecture(
            dense_ae_widths(n_inputs, compact_params.hidden, compact_params.latent)
        ),
        "trigger_fpr": config.metrics.trigger_fpr_l1,
        "timing": {
            k: metrics.aggregate(v, higher_is_better=False) for k, v in timing.items() if np.isfinite(v).all()
        },
        "nae_history": nae_history,
        "nae_last_epoch": nae_history[-1]
        if nae_history
        else {"energy": float("nan"), "negative_energy": float("nan")},
        "methods": entries,
        "reconstructed_too_well": reconstructed_too_well(scores[PRETRAINED][0], scores[NAE][0], signals),
        "plots": plot_files,
    }
    run.finish(study, _markdown(run, {"title": TITLE, **study}, plot_files))
    return {
        **l1_summary(study, entries),
        "nae_epoch_seconds": study["timing"].get("nae_epoch_seconds", {}).get("mean"),
    }
