"""The MPDR study on L1 objects: MPDR-S and MPDR-R against the projection AE they sample with and a plain AE
trained as many epochs, beside the NAE and AnomalyCLR results of their own studies in the same run (read, not
retrained), in one table and one ROC and SIC figure per signal, with the training time per epoch.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from l1ad.artifacts import RunPaths
from l1ad.config import Config
from l1ad.io import read_record
from reports.records import StudyRecord
from training import metrics
from training.data.l1objects import N_INPUTS, N_SLOTS
from training.metrics import mean_std
from training.mpdr import ENERGY_LABELS, MPDR, projection_config
from training.nae import NormalizedAutoencoder
from training.stage import read_scores
from training.studies.anomalyclr import LOSS_LABELS
from training.studies.base import MethodRuns, Study
from training.studies.common import (
    architecture,
    auc_table,
    dense_ae_size,
    dense_ae_widths,
    highest_auc_line,
    l1_data_lines,
    l1_data_record,
    l1_summary,
    l1_training_events,
    mlp_size,
    per_signal,
    print_seed_aucs,
    roc_and_sic_plots,
    score_models,
    signal_figures,
    table_head,
    tpr_cells,
)
from training.studies.nae import NAE, PRETRAINED

TITLE = "MPDR: manifold projection-diffusion recovery on L1 objects"
AE, SAME_EPOCHS = "ae_projection", "ae_same_epochs"
# Results read from the other studies of the run: study -> the method keys taken from its study.json.
EXTERNAL: dict[str, tuple[str, ...]] = {"nae": (PRETRAINED, NAE), "anomalyclr": tuple(LOSS_LABELS)}


def _external_key(study: str, method: str) -> str:
    return f"{study}/{method}"


def read_external(
    run_dir: Path, data: dict, y_test: np.ndarray
) -> tuple[dict[str, dict], dict[str, np.ndarray], dict[str, str]]:
    """The NAE and AnomalyCLR results of this run, where present and on the same test events.

    Returns (methods: key -> label, aggregate, timing, training events; first-run test scores by key for the
    curves; study -> why it was left out). A study counts as comparable when its data source and test
    event counts equal this study's; its score files must also hold the same test labels.
    """
    methods: dict[str, dict] = {}
    scores: dict[str, np.ndarray] = {}
    skipped: dict[str, str] = {}
    for study, keys in EXTERNAL.items():
        path = RunPaths(run_dir).study(study).json
        if not path.is_file():
            skipped[study] = "not run in this run directory"
            continue
        other = read_record(path, StudyRecord)
        theirs = other.get("data", {})
        same = all(theirs.get(k) == data[k] for k in ("source", "n_test_background", "n_test_signal"))
        if not same:
            skipped[study] = "trained or tested on other data"
            continue
        for method in keys:
            info = other.get("methods", {}).get(method)
            if info is None:
                continue
            key = _external_key(study, method)
            methods[key] = {
                "label": f"{info['label']} [{study} study]",
                "study": study,
                "n_runs": info["n_runs"],
                "aggregate": info["aggregate"],
                "n_train_events": theirs.get("n_train_events"),
                "device": other.get("device"),
            }
            seconds = _external_epoch_seconds(study, method, other)
            if seconds is not None:
                methods[key]["epoch_seconds"] = seconds
            score_file = path.parent / "scores" / f"{method}.h5"
            if score_file.is_file():
                s, y, _, _ = read_scores(score_file)
                if np.array_equal(y, y_test):
                    scores[key] = s[0]
    return methods, scores, skipped


def _external_epoch_seconds(study: str, method: str, other: dict) -> dict | None:
    """Seconds per epoch of a method of another study: the NAE's two phases, AnomalyCLR's encoder."""
    if study == "nae":
        phase = "nae_epoch_seconds" if method == NAE else "pretrain_epoch_seconds"
        return other.get("timing", {}).get(phase)
    return other["methods"][method].get("timing", {}).get("encoder_epoch_seconds")


def median_epoch_seconds(history: list[dict]) -> float:
    """Median wall time of the epochs trained in this process (NaN when all were restored from a checkpoint).

    The median, unlike the mean, is not thrown by a few epochs slowed down by other jobs on a shared CPU.
    """
    seconds = [h["seconds"] for h in history]
    return float(np.median(seconds)) if seconds else float("nan")


def object_summary(X: np.ndarray) -> dict[str, float]:
    """Objects per event, spread (std) of the present objects' standardised pT and their mean |eta|."""
    slots = np.asarray(X, dtype=np.float64).reshape(-1, N_SLOTS, 3)
    present = slots[..., 0] != 0
    return {
        "n_objects": float(present.sum(axis=1).mean()),
        "pt_spread": float(slots[..., 0][present].std()),
        "mean_abs_eta": float(np.abs(slots[..., 1][present]).mean()),
    }


def negatives_summary(model: MPDR, X_val: np.ndarray, seed: int) -> dict[str, Any]:
    """Negatives drawn by the trained model for the validation events, beside those events themselves."""
    x = torch.as_tensor(np.asarray(X_val, dtype=np.float32), device=model.device)
    gen = torch.Generator(device=model.device).manual_seed(seed)
    neg = model.sample_negatives(x, gen)
    with torch.no_grad():
        e_data, e_neg = model.energy(x).cpu().numpy(), model.energy(neg.x).cpu().numpy()
        decode = float((neg.x_init - x).norm(dim=1).mean().item())
        chain = float((neg.x - neg.x_init).norm(dim=1).mean().item())
    pt = np.asarray(X_val, dtype=np.float64).reshape(-1, N_SLOTS, 3)[..., 0].sum(axis=1)
    return {
        "background": {**object_summary(X_val), "energy": float(e_data.mean())},
        "negatives": {**object_summary(neg.x.cpu().numpy()), "energy": float(e_neg.mean())},
        # The sign check: the energy should be higher on negatives than on data (AUC > 0.5).
        "energy_auc_negatives_vs_background": metrics.auc(
            np.r_[np.zeros(len(e_data)), np.ones(len(e_neg))], np.r_[e_data, e_neg]
        ),
        # How far the negatives are from the events they came from: the decoded projection (the latent
        # chain's end), then the input-space chain's own move. A chain that barely moves leaves decodes.
        "decode_distance": decode,
        "chain_distance": chain,
        # What the energy follows on background: the rank correlation with the summed standardised pT.
        "energy_sum_pt_spearman": _spearman(e_data, pt),
    }


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation (ties broken by order; enough for a diagnostic); NaN when either is constant."""
    ra, rb = (np.argsort(np.argsort(v, kind="mergesort")).astype(np.float64) for v in (a, b))
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def _markdown(run: Study, study: dict, plot_files: list[str]) -> list[str]:
    data, methods, external, cfg = study["data"], study["methods"], study["external"], study["settings"]
    signals = list(data["n_test_signal"])
    reg = study["energy_reg"]
    lines = [
        *run.heading(),
        *l1_data_lines(study),
        f"Projection: a dense AE {study['architecture']} (LeakyReLU, latent vector on the unit sphere) trained "
        f"{cfg['ae_epochs']} epochs on background; z = f_e(x), diffused to z~ = normalise(z + σ ε), σ = "
        f"{cfg['sigma']:g}. Energies, trained {cfg['epochs']} epochs (learning rate {cfg['learning_rate']:g}) by "
        "the recovery likelihood log p(x | z~): MPDR-S, a scalar network "
        f"{study['scalar_architecture']}; MPDR-R, the reconstruction error of its own AE, started from the "
        "projection AE's weights. Loss (mean E(data) - mean E(negatives)) / T + γ_data mean E(data)² + γ_neg "
        f"mean E(negatives)², T = {cfg['temperature']:g}, (γ_data, γ_neg) = "
        + ", ".join(f"{ENERGY_LABELS[e]} ({g[0]:g}, {g[1]:g})" for e, g in reg.items())
        + ". Negatives per event: a latent chain from z~ on the sphere "
        f"({cfg['latent_steps']} normalised-gradient steps of {cfg['latent_step_size']:g}, noise "
        f"{cfg['latent_noise']:g}) on E(f_d(z)) / T + |f_e(f_d(z)) - z~|² / 2σ², decoded, then "
        f"{cfg['visible_steps']} Langevin steps in input space (step {cfg['visible_step_size']:g}, noise "
        f"{cfg['visible_noise']:g}) on E(x) / T + |f_e(x) - z~|² / 2σ². Negatives are physical inputs: the "
        "decoded slot occupancy (calibrated so that decodes of diffused background reproduce its per-slot "
        "occupancy, filled slots first within a class) is fixed, empty slots stay exactly 0, pT and η stay in "
        "the range the background spans in that slot and φ is wrapped. Score = E(x); at inference only the "
        "energy runs.",
        "",
        "### AUC per signal (mean ± std over seeds)",
        "",
        *auc_table([*methods.values(), *external.values()], signals, with_runs=True),
        "",
        f"### Maximum SIC and TPR at FPR {study['trigger_fpr']:g}",
        "",
        *table_head(["method"], [*(f"max SIC {s}" for s in signals), *(f"TPR {s}" for s in signals)]),
    ]
    for info in [*methods.values(), *external.values()]:
        agg = info["aggregate"]
        lines.append(
            f"| {info['label']} | "
            + " | ".join(mean_std(agg[s]["max_sic"], 2) for s in signals)
            + f" | {tpr_cells(agg, signals)} |"
        )
    for name, why in study["external_skipped"].items():
        lines.append(f"\nThe {name} study is not in the table: {why}.")

    lines += [
        "",
        "Measured here (negatives: drawn once by the trained model of the first seed for the validation events):",
    ]
    base, longer = methods[AE]["aggregate"], methods[SAME_EPOCHS]["aggregate"]
    nae = external.get(_external_key("nae", NAE))
    for key in study["energies"]:
        info = methods[key]
        d = {s: info["aggregate"][s]["auc"]["mean"] - base[s]["auc"]["mean"] for s in signals}
        line = (
            f"- {info['label']} against the projection AE: AUC change "
            + ", ".join(f"{s} {v:+.3f}" for s, v in d.items())
            + f"; higher on {sum(v > 0 for v in d.values())} of {len(signals)} signals; against the AE trained "
            "as many epochs "
            + ", ".join(
                f"{s} {info['aggregate'][s]['auc']['mean'] - longer[s]['auc']['mean']:+.3f}" for s in signals
            )
        )
        if nae is not None:
            dn = {
                s: info["aggregate"][s]["auc"]["mean"] - nae["aggregate"][s]["auc"]["mean"] for s in signals
            }
            line += "; against the NAE " + ", ".join(f"{s} {v:+.3f}" for s, v in dn.items())
        bkg, neg = info["negatives_first_seed"]["background"], info["negatives_first_seed"]["negatives"]
        line += (
            f". Mean energy {bkg['energy']:.3g} (background), {neg['energy']:.3g} (negatives); objects per event "
            f"{bkg['n_objects']:.2f} / {neg['n_objects']:.2f}; spread of the present objects' standardised pT "
            f"{bkg['pt_spread']:.2f} / {neg['pt_spread']:.2f}; their mean |η| {bkg['mean_abs_eta']:.2f} / "
            f"{neg['mean_abs_eta']:.2f}."
        )
        diag = info["negatives_first_seed"]
        if "energy_auc_negatives_vs_background" in diag:
            line += (
                f" Sign check: the energy ranks negatives above background events with AUC "
                f"{diag['energy_auc_negatives_vs_background']:.3f} (> 0.5: E(data) < E(negatives), the sign the "
                f"recovery likelihood asks for). The decoded projection lies {diag['decode_distance']:.2f} from "
                f"its event (57 standardised inputs), the input-space chain then moves it {diag['chain_distance']:.2f}: "
                "the negatives stay decodes. Rank correlation of the energy with the summed standardised pT on "
                f"background {diag['energy_sum_pt_spearman']:+.3f}."
            )
        inverted = [s for s in signals if info["aggregate"][s]["auc"]["mean"] < 0.5]
        if inverted:
            line += (
                f" AUC below 0.5 ({', '.join(inverted)}): the energy ranks these signals as more "
                "background-like than the background"
            )
            if neg["pt_spread"] < bkg["pt_spread"]:
                line += (
                    "; with the negatives' pT spread narrower than the background's (decodes regress towards "
                    "the mean), an energy can tell data from negatives by giving hard objects low energy, "
                    "which fits this ranking"
                )
            if "decode_distance" in diag and diag["chain_distance"] < 0.5 * diag["decode_distance"]:
                line += (
                    ". Measured cause: not the sign (the energy is higher on negatives) but the negatives: "
                    "the chains leave them near the decodes, so the energy learns to tell real events from "
                    "decoded ones, and a signal with more structure than any decode (four hard leptons) "
                    "looks the most real"
                )
            line += "."
        lines.append(line)
    lines.append(highest_auc_line([*methods.values(), *external.values()], signals))

    lines += [
        "",
        "### Training time per epoch",
        "",
        "| method | device | training events | s per epoch | µs per training event |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for info in [*methods.values(), *external.values()]:
        t, n = info.get("epoch_seconds"), info.get("n_train_events")
        if t is None or not n:
            continue
        lines.append(
            f"| {info['label']} | {info.get('device', study['device'])} | {n} | {mean_std(t, 2)} | "
            f"{1e6 * t['mean'] / n:.0f} |"
        )
    sizes = {k: methods[k]["size"] for k in methods}
    lines += [
        "",
        "MPDR's sampler (two chains, each step a forward and backward pass of the energy and the encoder) is "
        "needed in training only: at inference "
        + ", ".join(
            f"{methods[k]['label']} costs {sizes[k]['macs']:,} multiply-accumulates per event"
            for k in methods
        )
        + ". This study's times are the median over epochs (mean ± std over seeds), robust to other jobs on a "
        "shared CPU; the other studies quote their own mean. The NAE lines are its pretraining and its "
        "maximum-likelihood phase, the AnomalyCLR lines their encoder's epochs.",
        "",
    ]
    return lines + run.plot_links(plot_files)


def run_mpdr_study(config: Config, out: Path, run_dir: Path) -> dict[str, Any]:
    """Train the projection AE, an equally long plain AE and each configured MPDR energy per seed; compare with
    the NAE and AnomalyCLR results of the run; write study.json, study.md and plots into ``out``."""
    cfg = config.studies.mpdr
    unknown = [e for e in cfg.energies if e not in ENERGY_LABELS]
    if unknown:
        raise ValueError(f"studies.mpdr.energies: unknown {unknown} (known: {', '.join(ENERGY_LABELS)})")
    run = Study("mpdr", TITLE, config, out, run_dir)
    device = run.device
    splits = run.splits("l1")
    X, X_val = l1_training_events(splits, cfg.max_train_events, config.run.seed)
    signals = per_signal(splits)
    energies = list(dict.fromkeys(cfg.energies))

    keys = [AE, SAME_EPOCHS, *energies]
    longer_config = dataclasses.replace(projection_config(cfg), pretrain_epochs=cfg.ae_epochs + cfg.epochs)
    ae_size = dense_ae_size(N_INPUTS, tuple(cfg.ae_hidden), cfg.ae_latent)
    sizes = {
        AE: ae_size,
        SAME_EPOCHS: ae_size,
        "reconstruction": ae_size,
        "scalar": mlp_size([N_INPUTS, *cfg.energy_hidden, 1]),
    }
    labels = {
        AE: f"AE (projection, {cfg.ae_epochs} epochs)",
        SAME_EPOCHS: f"AE (same epochs, {longer_config.pretrain_epochs})",
        **ENERGY_LABELS,
    }
    runs = {key: MethodRuns(labels[key], sizes[key]) for key in keys}
    epoch_seconds: dict[str, list[float]] = {k: [] for k in keys}
    histories: dict[str, list[dict]] = {}
    negatives: dict[str, dict] = {}
    for seed in run.seeds:
        first = seed == run.seeds[0]
        run.log(f"seed {seed}: {len(X)} training events, {device}")
        projection = NormalizedAutoencoder(
            projection_config(cfg), N_INPUTS, seed, device, run.checkpoints / f"projection_seed{seed}"
        ).fit(X, X_val)
        # The plain AE trained for the projection's plus the MPDR epochs separates the effect of the MPDR
        # objective on MPDR-R (which starts from the projection AE) from that of longer training.
        longer = NormalizedAutoencoder(
            longer_config, N_INPUTS, seed, device, run.checkpoints / f"ae_same_epochs_seed{seed}"
        ).fit(X, X_val)
        models: dict[str, Any] = {AE: projection, SAME_EPOCHS: longer}
        for key in (AE, SAME_EPOCHS):
            epoch_seconds[key].append(median_epoch_seconds(models[key].history["pretrain"]))
        for energy in energies:
            model = MPDR(cfg, energy, seed, device, run.checkpoints / f"seed{seed}", projection=projection)
            models[energy] = model.fit(X, X_val)
            epoch_seconds[energy].append(median_epoch_seconds(model.history))
            if first:
                histories[energy] = model.history
                negatives[energy] = negatives_summary(model, X_val, seed)
        for key, s in score_models(models, splits.test.X, run.out / "models" if first else None).items():
            runs[key].add(s, {"seed": seed, "signals": signal_figures(s, signals, config)})
        print_seed_aucs("mpdr", seed, signals, {k: r.records for k, r in runs.items()})

    methods = {}
    for key in keys:
        seconds = [t for t in epoch_seconds[key] if np.isfinite(t)]
        methods[key] = runs[key].entry(
            n_train_events=len(X),
            device=device,
            **({"epoch_seconds": metrics.aggregate(seconds, higher_is_better=False)} if seconds else {}),
            **({"history": histories[key], "last_epoch": histories[key][-1]} if key in histories else {}),
            **({"negatives_first_seed": negatives[key]} if key in negatives else {}),
        )
    scores = {key: r.scores for key, r in runs.items()}
    run.write_scores(scores, splits)

    data = l1_data_record(config, splits, X, X_val, signals)
    external, external_scores, skipped = read_external(run.run_dir, data, splits.test.y)

    # Six curves stay legible: this study's four, the NAE, and the AnomalyCLR loss with the highest AUC
    # averaged over the signals (every method is in the table).
    curve_keys: list[str] = list(keys)
    nae_key = _external_key("nae", NAE)
    if nae_key in external_scores:
        curve_keys.append(nae_key)
    clr = [k for k in external_scores if external[k]["study"] == "anomalyclr"]
    if clr:
        curve_keys.append(
            max(clr, key=lambda k: np.mean([a["auc"]["mean"] for a in external[k]["aggregate"].values()]))
        )
    first_scores = {**{k: scores[k][0] for k in keys}, **external_scores}
    all_labels = {
        **{k: m["label"] for k, m in methods.items()},
        **{k: m["label"] for k, m in external.items()},
    }
    label = run.data_label(config.data.l1.source)
    plot_files = []
    for signal, (sel, lab) in signals.items():
        curves = {
            f"{all_labels[k]} (AUC {metrics.auc(lab, first_scores[k][sel]):.3f})": (lab, first_scores[k][sel])
            for k in curve_keys
        }
        plot_files += roc_and_sic_plots(
            curves,
            run.paths.plots,
            signal,
            f"{signal} vs background, first seed",
            label,
            config.metrics.trigger_fpr_l1,
            config.metrics.min_background_for_sic,
        )

    study = {
        "data": data,
        "device": device,
        "n_seeds": config.run.n_seeds,
        "settings": dataclasses.asdict(cfg),
        "energies": energies,
        "energy_reg": {e: list(getattr(cfg, f"{e}_energy_reg")) for e in energies},
        "architecture": architecture(dense_ae_widths(N_INPUTS, cfg.ae_hidden, cfg.ae_latent)),
        "scalar_architecture": architecture([N_INPUTS, *cfg.energy_hidden, 1]),
        "trigger_fpr": config.metrics.trigger_fpr_l1,
        "methods": methods,
        "external": external,
        "external_skipped": skipped,
        "plots": plot_files,
    }
    run.finish(study, _markdown(run, {"title": TITLE, **study}, plot_files))
    return {
        **l1_summary(study, {**methods, **external}),
        "epoch_seconds": {
            key: round(info["epoch_seconds"]["mean"], 2)
            for key, info in methods.items()
            if "epoch_seconds" in info
        },
    }
