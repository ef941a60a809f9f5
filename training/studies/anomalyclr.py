"""The AnomalyCLR study on L1 objects: transformer representations trained with CLR, AnomCLR and AnomCLR+,
each scored by an AE, against the same AE on the raw 57 inputs and the compact L1 AE architecture.

Reads the L1 splits and preprocessing of the data stage (synthetic or real ADC2021); writes study.json,
study.md, per-signal ROC and SIC plots, and the trained scorers. An ablation over anomaly-augmentation
subsets and a scan over the representation dimension run only when configured.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.config import AnomalyCLRConfig, Config
from training import metrics
from training.anomalyclr import (
    ANOMALY_AUGMENTATIONS,
    AnomalyCLR,
    count_parameters,
    encoder_macs,
    raw_ae_params,
    representation_ae_params,
)
from training.data.splits import Split
from training.device import torch_device
from training.l1_events import load_preprocessor
from training.metrics import mean_std
from training.nae import AEParams, TorchAutoencoder
from training.studies.base import MethodRuns, Study
from training.studies.common import (
    SIC_SIGNAL_EFFICIENCY,
    architecture,
    auc_cells,
    auc_table,
    compact_ae_params,
    dense_ae_size,
    dense_ae_widths,
    highest_auc_line,
    l1_data_record,
    l1_source,
    l1_summary,
    l1_training_events,
    mean_epoch_seconds,
    per_signal,
    roc_and_sic_plots,
    signal_figures,
    table_head,
    tpr_cells,
)

TITLE = "AnomalyCLR: contrastive representations of L1 objects"
LOSS_LABELS = {"clr": "CLR + AE", "anomclr": "AnomCLR + AE", "anomclr_plus": "AnomCLR+ + AE"}
RAW, COMPACT = "ae_raw", "ae_compact"
# Legend labels: five curves share one plot, so they stay short.
SHORT_LABELS = {
    RAW: "AE raw",
    COMPACT: "compact AE",
    "clr": "CLR",
    "anomclr": "AnomCLR",
    "anomclr_plus": "AnomCLR+",
}
# The ablation and the dimension scan train one loss only: the one with in-batch negatives and anomalies.
SCAN_LOSS = "anomclr"


# ---------------------------------------------------------------------------------------------
# The study
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Data:
    train: np.ndarray
    val: np.ndarray
    test: Split
    signals: dict[str, tuple[np.ndarray, np.ndarray]]


def _fit_ae(
    params: AEParams, X: np.ndarray, X_val: np.ndarray, X_test: np.ndarray, seed: int, device: str
) -> tuple[TorchAutoencoder, np.ndarray, float]:
    ae = TorchAutoencoder(params, X.shape[1], seed, device).fit(X, X_val)
    return ae, ae.score(X_test), mean_epoch_seconds(ae.history)


def _ae_seeds(config: Config, run: int) -> list[int]:
    n = config.studies.anomalyclr.n_ae_seeds
    return [config.run.seed + run * n + a for a in range(n)]


def _clr_runs(
    config: Config,
    data: _Data,
    preprocessor,
    loss: str,
    runs: range,
    out: Path,
    checkpoints: Path,
    tag: str,
    label: str,
    embed_dim: int | None = None,
    augmentations: tuple[str, ...] = tuple(ANOMALY_AUGMENTATIONS),
) -> dict[str, Any]:
    """Train the encoder once per run (seed) and n_ae_seeds AEs on its representations, scoring the test set;
    the method's study.json entry, its test scores under ``scores``."""
    cfg = config.studies.anomalyclr
    device = torch_device(config.train.device)
    method = MethodRuns(label, _clr_size(cfg, embed_dim or cfg.embed_dim))
    timing: dict[str, list[float]] = {
        "encoder_epoch_seconds": [],
        "ae_epoch_seconds": [],
        "encode_test_seconds": [],
    }
    for run in runs:
        seed = config.run.seed + run
        print(f"  [{tag}] CLR seed {seed}: {len(data.train)} training events, {device}", flush=True)
        model = AnomalyCLR(
            cfg,
            preprocessor,
            loss,
            seed,
            device,
            embed_dim,
            augmentations,
            checkpoints / f"{tag}_seed{seed}",
        )
        model.fit_encoder(data.train, data.val)
        timing["encoder_epoch_seconds"].append(mean_epoch_seconds(model.history))
        rep_train = model.representations(data.train)
        rep_val = model.representations(data.val)
        start = time.perf_counter()
        rep_test = model.representations(data.test.X)
        timing["encode_test_seconds"].append(time.perf_counter() - start)
        for a, ae_seed in enumerate(_ae_seeds(config, run)):
            ae, scores, epoch_s = _fit_ae(
                representation_ae_params(cfg), rep_train, rep_val, rep_test, ae_seed, device
            )
            timing["ae_epoch_seconds"].append(epoch_s)
            record = {
                "clr_seed": seed,
                "ae_seed": ae_seed,
                "signals": signal_figures(scores, data.signals, config),
            }
            method.add(scores, record)
            first = next(iter(record["signals"].items()))
            print(
                f"  [{tag}] CLR seed {seed}, AE seed {ae_seed}: AUC {first[0]} {first[1]['auc']:.3f}",
                flush=True,
            )
            if a == 0:
                model.ae = ae
                model.save(out / "models" / f"{tag}_seed{seed}")
    return _entry(method, timing)


def _baseline_runs(
    config: Config, data: _Data, params: AEParams, out: Path, tag: str, label: str
) -> dict[str, Any]:
    """The AE ``params`` on the inputs, as many AEs as the contrastive methods train; its study.json entry."""
    device = torch_device(config.train.device)
    method = MethodRuns(label, dense_ae_size(data.train.shape[1], params.hidden, params.latent))
    epoch_seconds = []
    for run in range(config.run.n_seeds):
        for ae_seed in _ae_seeds(config, run):
            print(f"  [{tag}] AE seed {ae_seed}", flush=True)
            ae, scores, epoch_s = _fit_ae(params, data.train, data.val, data.test.X, ae_seed, device)
            epoch_seconds.append(epoch_s)
            method.add(scores, {"ae_seed": ae_seed, "signals": signal_figures(scores, data.signals, config)})
            if run == 0 and ae_seed == _ae_seeds(config, 0)[0]:
                ae.save(out / "models" / tag)
    return _entry(method, {"ae_epoch_seconds": epoch_seconds})


def _entry(method: MethodRuns, timing: dict[str, list[float]]) -> dict[str, Any]:
    """A method's study.json entry with its mean epoch and encoding times; its test scores under ``scores``
    (taken out before the entry is written)."""
    entry = method.entry(
        timing={k: metrics.aggregate(v, higher_is_better=False) for k, v in timing.items() if v}
    )
    return {**entry, "scores": method.scores}


def _clr_size(cfg: AnomalyCLRConfig, model_dim: int) -> dict:
    from training.anomalyclr import ObjectEncoder

    encoder = ObjectEncoder(model_dim, cfg.n_heads, cfg.n_layers, cfg.head_dims)
    head = sum(p.numel() for p in encoder.head.parameters())
    ae = dense_ae_size(model_dim, tuple(cfg.ae_hidden), cfg.ae_latent)
    enc_macs = encoder_macs(model_dim, cfg.n_layers, cfg.head_dims)
    return {
        "parameters": count_parameters(encoder) - head + ae["parameters"],
        "macs": enc_macs + ae["macs"],
        "encoder_parameters": count_parameters(encoder) - head,
        "encoder_macs": enc_macs,
        "attention_softmaxes": cfg.n_layers * cfg.n_heads * 19,
    }


def _markdown(run: Study, study: dict, plot_files: dict[str, list[str]]) -> list[str]:
    data, methods = study["data"], study["methods"]
    signals = list(data["n_test_signal"])
    source = l1_source(data["source"])
    cfg = study["settings"]
    eff = study["sic_signal_efficiency"]
    lines = [
        *run.heading(),
        f"Data: {source}. Training: {data['n_train_events']} background events (of {data['n_train_available']} "
        f"in the training split), {data['n_val_events']} for the monitored validation loss. Test: "
        f"{data['n_test_background']} background events and "
        + ", ".join(f"{n} {s}" for s, n in data["n_test_signal"].items())
        + f" events. Device: {study['device']}. Each contrastive encoder (embedding {cfg['embed_dim']}, "
        f"{cfg['n_layers']} attention layers x {cfg['n_heads']} heads, head {list(cfg['head_dims'])}, "
        f"τ = {cfg['temperature']}) trains {cfg['epochs']} epochs; {study['n_clr_seeds']} encoder seed(s) x "
        f"{cfg['n_ae_seeds']} AEs ({list(cfg['ae_hidden'])} -> {cfg['ae_latent']} -> mirrored, LeakyReLU, "
        f"{cfg['ae_epochs']} epochs) per representation; the baselines train the same number of AEs. "
        "Figures are mean ± std over those runs.",
        "",
        "The representation is the sum over objects of the transformer output, before the projection head; "
        "the AE sees it standardised with the background training mean and spread. AE (raw inputs) is the "
        "same AE on the 57 preprocessed inputs; the compact AE is the deployed L1 architecture "
        f"({study['compact_architecture']}, ReLU) trained in float here with the `train.ae` recipe.",
        "",
        "### AUC per signal (mean ± std over runs)",
        "",
        *auc_table(list(methods.values()), signals, with_runs=True),
        "",
        f"### SIC = TPR / √FPR at signal efficiency {eff:g}, and TPR at FPR {study['trigger_fpr']:g}",
        "",
        *table_head(["method"], [*(f"SIC {s}" for s in signals), *(f"TPR {s}" for s in signals)]),
    ]
    for info in methods.values():
        agg = info["aggregate"]
        lines.append(
            f"| {info['label']} | "
            + " | ".join(mean_std(agg[s]["sic_at_efficiency"], 2) for s in signals)
            + f" | {tpr_cells(agg, signals)} |"
        )
    first_tpr = methods[RAW]["per_run"][0]["signals"][signals[0]]["tpr_at_fpr"]
    lines += [
        "",
        f"The TPR at FPR {study['trigger_fpr']:g} rests on {first_tpr['n_background_pass']} of "
        f"{first_tpr['n_background']} background events passing the cut: at this test-set size it is "
        "counting noise, quoted because it is the trigger's working point.",
    ]
    raw = methods[RAW]["aggregate"]
    lines += ["", "Measured here:"]
    for key, info in methods.items():
        if key in (RAW, COMPACT):
            continue
        deltas = {s: info["aggregate"][s]["auc"]["mean"] - raw[s]["auc"]["mean"] for s in signals}
        better = [s for s in signals if deltas[s] > 0]
        lines.append(
            f"- {info['label']} against AE (raw inputs): AUC change "
            + ", ".join(f"{s} {d:+.3f}" for s, d in deltas.items())
            + f"; higher on {len(better)} of {len(signals)} signals."
        )
    lines.append(highest_auc_line(list(methods.values()), signals))

    sizes = {k: info["size"] for k, info in methods.items()}
    clr_key = next((k for k in methods if k not in (RAW, COMPACT)), None)
    lines += [
        "",
        "### Why these models stay full precision",
        "",
        "| model | parameters | multiply-accumulates per event | training time per epoch [s] (encoder for the contrastive models) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, info in methods.items():
        t = info["timing"].get("encoder_epoch_seconds") or info["timing"].get("ae_epoch_seconds")
        lines.append(
            f"| {info['label']} | {sizes[key]['parameters']:,} | {sizes[key]['macs']:,} | {mean_std(t, 2)} |"
        )
    if clr_key is not None:
        s = sizes[clr_key]
        compact = sizes[COMPACT]
        enc_t = methods[clr_key]["timing"].get("encode_test_seconds")
        rate = data["n_test_events"] / enc_t["mean"] if enc_t else float("nan")
        lines += [
            "",
            f"A contrastive scorer needs {s['macs'] / compact['macs']:.0f}x the multiply-accumulates of the "
            f"compact AE per event ({s['macs']:,} against {compact['macs']:,}) and "
            f"{s['parameters'] / compact['parameters']:.0f}x its parameters. Its {s['attention_softmaxes']} "
            "attention softmaxes per event need exponentials and a division over all 19 objects, and the "
            "19 x 19 score matrices are products of two data-dependent activations: none of this maps onto "
            "the fixed-latency dense layers that fit a 50 ns Global Trigger budget. The augmentations and "
            "contrastive pairs are needed in training only, but the encoder itself must run on every event. "
            f"On this CPU the encoder turns {rate:,.0f} events/s into representations (test set, batch 8192).",
            "",
            "What the compact AE gives up (figure of the contrastive scorer minus the compact AE's; positive = "
            "the contrastive scorer is better):",
        ]
        for key, info in methods.items():
            if key in (RAW, COMPACT):
                continue
            base = methods[COMPACT]["aggregate"]
            gap = {sig: info["aggregate"][sig]["auc"]["mean"] - base[sig]["auc"]["mean"] for sig in signals}
            tpr_gap = {
                sig: info["aggregate"][sig]["tpr_at_fpr"]["mean"] - base[sig]["tpr_at_fpr"]["mean"]
                for sig in signals
            }
            lines.append(
                f"- {info['label']}: AUC "
                + ", ".join(f"{sig} {g:+.3f}" for sig, g in gap.items())
                + f"; TPR at FPR {study['trigger_fpr']:g} "
                + ", ".join(f"{sig} {g:+.4f}" for sig, g in tpr_gap.items())
                + "."
            )
    for section, title in (
        ("ablation", "Ablation over anomaly augmentations"),
        ("scan", "Representation dimension scan"),
    ):
        rows = study.get(section) or {}
        if not rows:
            continue
        lines += [
            "",
            f"### {title} ({LOSS_LABELS[SCAN_LOSS]}, one encoder seed)",
            "",
            *table_head(["setting"], [f"AUC {s}" for s in signals]),
        ]
        for name, info in rows.items():
            lines.append(f"| {name} | {auc_cells(info, signals)} |")
    lines.append("")
    for signal in signals:
        lines += run.plot_links(plot_files[signal])
    return lines


def run_anomalyclr_study(config: Config, out: Path, run_dir: Path) -> dict[str, Any]:
    """Train AE (raw), the compact AE and one contrastive encoder + AEs per loss; write study.json/.md and plots."""
    cfg = config.studies.anomalyclr
    if cfg.n_ae_seeds < 1:
        raise ValueError(f"studies.anomalyclr.n_ae_seeds must be at least 1, got {cfg.n_ae_seeds}")
    unknown = [loss for loss in cfg.losses if loss not in LOSS_LABELS]
    if unknown:
        raise ValueError(f"studies.anomalyclr.losses: unknown {unknown} (known: {', '.join(LOSS_LABELS)})")
    # The ablation runs when the config names subsets (e.g. "add", "split+scale").
    subsets = cfg.augmentation_subsets
    for subset in subsets:
        bad = [name for name in subset.split("+") if name not in ANOMALY_AUGMENTATIONS]
        if bad:
            raise ValueError(
                f"studies.anomalyclr.augmentation_subsets: {subset!r} names {bad}; "
                f"use '+'-joined names from {list(ANOMALY_AUGMENTATIONS)}"
            )
    run = Study("anomalyclr", TITLE, config, out, run_dir)
    out, checkpoints = run.out, run.checkpoints
    splits = run.splits("l1")
    preprocessor = load_preprocessor(run.run_dir)
    train, val = l1_training_events(splits, cfg.max_train_events, config.run.seed)
    data = _Data(train=train, val=val, test=splits.test, signals=per_signal(splits))
    n_inputs = splits.train.X.shape[1]

    compact = compact_ae_params(config)
    methods = {
        RAW: _baseline_runs(config, data, raw_ae_params(cfg), out, RAW, "AE (raw inputs)"),
        COMPACT: _baseline_runs(config, data, compact, out, COMPACT, "compact AE (L1 architecture)"),
    }
    for loss in cfg.losses:
        methods[loss] = _clr_runs(
            config,
            data,
            preprocessor,
            loss,
            range(config.run.n_seeds),
            out,
            checkpoints,
            loss,
            LOSS_LABELS[loss],
        )
    test_scores = {key: entry.pop("scores") for key, entry in methods.items()}

    def one_encoder(tag: str, label: str, **options: Any) -> dict[str, Any]:
        """The scan loss with one encoder seed: its entry, without the test scores."""
        entry = _clr_runs(
            config, data, preprocessor, SCAN_LOSS, range(1), out, checkpoints, tag, label, **options
        )
        del entry["scores"]
        return entry

    ablation = {s: one_encoder(f"ablation_{s}", s, augmentations=tuple(s.split("+"))) for s in subsets}
    scan = {f"dim {d}": one_encoder(f"scan_dim{d}", f"dim {d}", embed_dim=d) for d in cfg.representation_dims}

    run.write_scores(test_scores, splits)

    label = run.data_label(config.data.l1.source)
    plot_files: dict[str, list[str]] = {}
    for signal, (sel, labels) in data.signals.items():
        curves = {
            f"{SHORT_LABELS[key]} (AUC {info['per_run'][0]['signals'][signal]['auc']:.3f})": (
                labels,
                test_scores[key][0][sel],
            )
            for key, info in methods.items()
        }
        plot_files[signal] = roc_and_sic_plots(
            curves,
            run.paths.plots,
            signal,
            f"{signal} vs background, first run of each method",
            label,
            config.metrics.trigger_fpr_l1,
            config.metrics.min_background_for_sic,
        )

    study = {
        "data": l1_data_record(config, splits, data.train, data.val, data.signals, n_test_events=True),
        "device": run.device,
        "settings": dataclasses.asdict(cfg),
        "n_clr_seeds": config.run.n_seeds,
        "compact_architecture": architecture(dense_ae_widths(n_inputs, compact.hidden, compact.latent)),
        "anomaly_augmentations": list(ANOMALY_AUGMENTATIONS),
        "sic_signal_efficiency": SIC_SIGNAL_EFFICIENCY,
        "trigger_fpr": config.metrics.trigger_fpr_l1,
        "min_background_for_sic": config.metrics.min_background_for_sic,
        "methods": methods,
        "ablation": ablation,
        "scan": scan,
        "plots": [f for files in plot_files.values() for f in files],
    }
    run.finish(study, _markdown(run, {"title": TITLE, **study}, plot_files))
    return {
        **l1_summary(study, methods),
        "encoder_epoch_seconds": {
            key: round(info["timing"]["encoder_epoch_seconds"]["mean"], 2)
            for key, info in methods.items()
            if "encoder_epoch_seconds" in info["timing"]
        },
    }
