"""Helpers the studies share: event subsampling, the per-signal test selections and figures, their
aggregation over seeds, the compact L1 AE and model sizes."""

from __future__ import annotations

import numpy as np

from l1ad.config import Config
from training import metrics
from training.data.splits import Splits
from training.nae import AEParams

# SIC is quoted at this signal efficiency (as the AnomalyCLR paper's tables do), beside the maximum SIC.
SIC_SIGNAL_EFFICIENCY = 0.2


def subsample(X: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """At most ``limit`` rows of ``X`` drawn without replacement with ``default_rng(seed)``, in file order."""
    if len(X) <= limit:
        return X
    idx = np.random.default_rng(seed).choice(len(X), size=limit, replace=False)
    return X[np.sort(idx)]


def per_signal(splits: Splits) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Signal name -> (mask of that signal's and all background test events, their 0/1 labels)."""
    return metrics.signal_selections(splits.test.y, splits.classes, splits.n_background_classes)


def sic_at_efficiency(
    labels: np.ndarray, scores: np.ndarray, efficiency: float, min_background: int
) -> float:
    """SIC = TPR / sqrt(FPR) at the first working point with TPR >= ``efficiency`` (NaN if none qualifies)."""
    tpr, sic = metrics.sic_curve(labels, scores, min_background)
    reached = np.nonzero(tpr >= efficiency)[0]
    return float(sic[reached[0]]) if reached.size else float("nan")


def signal_figures(
    scores: np.ndarray, signals: dict[str, tuple[np.ndarray, np.ndarray]], config: Config
) -> dict[str, dict]:
    """Per signal: ``summarise`` (AUC, max SIC, TPR at the L1 trigger FPR) plus SIC at the fixed efficiency."""
    m = config.metrics
    out = {}
    for signal, (sel, labels) in signals.items():
        figs = metrics.summarise(labels, scores[sel], m.trigger_fpr_l1, m.min_background_for_sic)
        figs["sic_at_efficiency"] = sic_at_efficiency(
            labels, scores[sel], SIC_SIGNAL_EFFICIENCY, m.min_background_for_sic
        )
        out[signal] = figs
    return out


def aggregate_runs(records: list[dict]) -> dict[str, dict]:
    """Per signal: best / mean / std over the runs of AUC, max SIC, SIC at the fixed efficiency, TPR."""
    out = {}
    for signal in records[0]["signals"]:
        figs = [r["signals"][signal] for r in records]
        sic_eff = [f["sic_at_efficiency"] for f in figs if np.isfinite(f["sic_at_efficiency"])]
        out[signal] = {
            "auc": metrics.aggregate([f["auc"] for f in figs]),
            "max_sic": metrics.aggregate([f["max_sic"] for f in figs]),
            "sic_at_efficiency": metrics.aggregate(sic_eff) if sic_eff else None,
            "tpr_at_fpr": metrics.aggregate([f["tpr_at_fpr"]["tpr"] for f in figs]),
            "tpr_reachable": all(f["tpr_at_fpr"]["reachable"] for f in figs),
        }
    return out


def dense_ae_size(n_inputs: int, hidden: tuple[int, ...], latent: int) -> dict[str, int]:
    """Parameters and multiply-accumulates per event of a dense AE with a mirrored decoder."""
    widths = [n_inputs, *hidden, latent, *reversed(hidden), n_inputs]
    macs = sum(a * b for a, b in zip(widths[:-1], widths[1:], strict=True))
    return {"parameters": macs + sum(widths[1:]), "macs": macs}


def mean_epoch_seconds(history: list[dict]) -> float:
    """Mean wall time of the epochs trained in this process (NaN when all were restored from a checkpoint)."""
    seconds = [h["seconds"] for h in history]
    return float(np.mean(seconds)) if seconds else float("nan")


def compact_ae_params(config: Config) -> AEParams:
    """The deployed L1 AE's architecture and recipe (``train.ae``), trained here in PyTorch as a reference."""
    ae = config.train.ae
    return AEParams(
        hidden=tuple(ae.encoder),
        latent=ae.latent,
        epochs=ae.epochs,
        batch_size=ae.batch_size,
        learning_rate=ae.learning_rate,
        activation="relu",
        standardize=False,
    )
