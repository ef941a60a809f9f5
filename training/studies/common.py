"""Helpers the studies share: event subsampling, the per-signal test selections and figures, their
aggregation over seeds, model sizes, the L1 studies' data record, the study.md table pieces and plots,
and writing study.json and study.md."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.artifacts import RELATIVE, StudyPaths
from l1ad.config import Config
from l1ad.io import atomic_path, write_record
from reports.records import StudyRecord
from training import metrics
from training.data.splits import Splits
from training.metrics import mean_std
from training.nae import AEParams

# SIC is quoted at this signal efficiency (as the AnomalyCLR paper's tables do), beside the maximum SIC.
SIC_SIGNAL_EFFICIENCY = 0.2
VAL_FRACTION = 0.1  # validation events (monitoring only) per training event of the L1 studies


def subsample(X: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """At most ``limit`` rows of ``X`` drawn without replacement with ``default_rng(seed)``, in file order."""
    if len(X) <= limit:
        return X
    idx = np.random.default_rng(seed).choice(len(X), size=limit, replace=False)
    return X[np.sort(idx)]


def l1_training_events(splits: Splits, max_train_events: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An L1 study's background training events (at most ``max_train_events``, drawn with ``seed``) and its
    validation events (``VAL_FRACTION`` as many, drawn with ``seed + 1``)."""
    X = subsample(splits.train.X, max_train_events, seed)
    X_val = subsample(splits.val.X, max(1, int(VAL_FRACTION * max_train_events)), seed + 1)
    return X, X_val


def per_signal(splits: Splits) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Signal name -> (mask of that signal's and all background test events, their 0/1 labels)."""
    return metrics.signal_selections(splits.test.y, splits.classes, splits.n_background_classes)


def l1_data_record(
    config: Config,
    splits: Splits,
    X: np.ndarray,
    X_val: np.ndarray,
    signals: dict[str, tuple[np.ndarray, np.ndarray]],
    n_test_events: bool = False,
) -> dict[str, Any]:
    """The ``data`` entry of an L1 study's study.json: source, training events used and available, test
    events (their total too with ``n_test_events``). The MPDR study compares these entries to quote other
    studies only where they tested on the same events."""
    record: dict[str, Any] = {
        "source": config.data.l1.source,
        "splits": str(RELATIVE.data.splits("l1")),
        "n_train_available": len(splits.train.X),
        "n_train_events": len(X),
        "n_val_events": len(X_val),
    }
    if n_test_events:
        record["n_test_events"] = len(splits.test.X)
    record["n_test_background"] = int(splits.is_background(splits.test.y).sum())
    record["n_test_signal"] = {s: int(lab.sum()) for s, (_, lab) in signals.items()}
    return record


def l1_source(source: str) -> str:
    """How the L1 studies' study.md names their data (``data.l1.source``)."""
    if source == "synthetic":
        return "synthetic ADC2021-like L1 objects (the seeded generator writing the real file layout)"
    return f"real ADC2021 files from `{source}`"


def l1_data_lines(study: dict) -> list[str]:
    """The line of the NAE and MPDR studies' study.md naming their data, events and seeds (after the heading)."""
    data = study["data"]
    return [
        f"Data: {l1_source(data['source'])}. Training: {data['n_train_events']} background events (of "
        f"{data['n_train_available']}), {data['n_val_events']} for the monitored validation energy. Test: "
        f"{data['n_test_background']} background events and "
        + ", ".join(f"{n} {s}" for s, n in data["n_test_signal"].items())
        + f" events. Device: {study['device']}; {study['n_seeds']} seed(s), mean ± std over seeds.",
        "",
    ]


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


def score_models(
    models: dict[str, Any], X_test: np.ndarray, models_dir: Path | None
) -> dict[str, np.ndarray]:
    """Each fitted model's scores of ``X_test`` by key; each model is saved into ``models_dir / key`` when a
    folder is given (the first seed's models)."""
    scores = {}
    for key, model in models.items():
        scores[key] = model.score(X_test)
        if models_dir is not None:
            model.save(models_dir / key)
    return scores


def print_seed_aucs(tag: str, seed: int, signals: dict, records: dict[str, list[dict]]) -> None:
    """One console line: each method's AUC on the first signal in its latest record (this seed's)."""
    first = next(iter(signals))
    print(
        f"  [{tag}] seed {seed}: AUC {first} "
        + ", ".join(f"{k} {r[-1]['signals'][first]['auc']:.3f}" for k, r in records.items()),
        flush=True,
    )


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


def l1_summary(study: dict, methods: dict[str, dict]) -> dict[str, Any]:
    """What an L1 study's run returns first: its data source, device, training events and, per method and
    signal, the mean AUC over the runs to four decimals."""
    return {
        "source": study["data"]["source"],
        "device": study["device"],
        "n_train_events": study["data"]["n_train_events"],
        "auc_mean": {
            key: {s: round(a["auc"]["mean"], 4) for s, a in info["aggregate"].items()}
            for key, info in methods.items()
        },
    }


def dense_ae_widths(n_inputs: int, hidden: Sequence[int], latent: int) -> list[int]:
    """Layer widths of a dense AE with a mirrored decoder, inputs and outputs included."""
    return [n_inputs, *hidden, latent, *reversed(hidden), n_inputs]


def architecture(widths: Sequence[int]) -> str:
    """Layer widths as the studies write them: ``57-32-3-32-57``."""
    return "-".join(str(w) for w in widths)


def mlp_size(widths: Sequence[int]) -> dict[str, int]:
    """Parameters and multiply-accumulates per event of dense layers of these widths (inputs first)."""
    macs = sum(a * b for a, b in zip(widths[:-1], widths[1:], strict=True))
    return {"parameters": macs + sum(widths[1:]), "macs": macs}


def dense_ae_size(n_inputs: int, hidden: tuple[int, ...], latent: int) -> dict[str, int]:
    """Parameters and multiply-accumulates per event of a dense AE with a mirrored decoder."""
    return mlp_size(dense_ae_widths(n_inputs, hidden, latent))


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


def table_head(text_columns: Sequence[str], number_columns: Sequence[str]) -> list[str]:
    """The header and alignment rows of a study.md table: text columns first (left-aligned), then
    number columns (right-aligned)."""
    return [
        "| " + " | ".join([*text_columns, *number_columns]) + " |",
        "| " + " | ".join(["---"] * len(text_columns) + ["---:"] * len(number_columns)) + " |",
    ]


def auc_cells(info: dict, signals: Sequence[str]) -> str:
    """Table cells of a method's AUC per signal, mean ± std over its runs."""
    return " | ".join(mean_std(info["aggregate"][s]["auc"], 3) for s in signals)


def auc_table(methods: Sequence[dict], signals: Sequence[str], with_runs: bool) -> list[str]:
    """The study.md table of each method's AUC per signal (mean ± std over its runs), after a column with
    the number of runs when ``with_runs``."""
    lines = table_head(["method"], ["runs", *signals] if with_runs else signals)
    for info in methods:
        runs = f"{info['n_runs']} | " if with_runs else ""
        lines.append(f"| {info['label']} | {runs}{auc_cells(info, signals)} |")
    return lines


def tpr_cells(aggregate: dict, signals: Sequence[str]) -> str:
    """Table cells of the TPR at the trigger FPR per signal, mean ± std ('n/a' where a run cannot reach it)."""
    return " | ".join(
        mean_std(aggregate[s]["tpr_at_fpr"], 4) if aggregate[s]["tpr_reachable"] else "n/a" for s in signals
    )


def highest_auc_line(methods: Sequence[dict], signals: Sequence[str]) -> str:
    """The study.md line naming, per signal, the method with the highest mean AUC."""
    best = {s: max(methods, key=lambda m: m["aggregate"][s]["auc"]["mean"])["label"] for s in signals}
    return "- Highest mean AUC: " + ", ".join(f"{s} {best[s]}" for s in signals) + "."


def roc_and_sic_plots(
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    plot_dir: Path,
    signal: str,
    title: str,
    data_label: str,
    trigger_fpr: float,
    min_background: int,
) -> list[str]:
    """The ROC and SIC figures of one signal (``roc_<signal>.png``, ``sic_<signal>.png``); their file names."""
    from reports import plots

    roc = plots.roc_plot(curves, plot_dir / f"roc_{signal}.png", title, data_label, trigger_fpr)
    sic = plots.sic_plot(curves, plot_dir / f"sic_{signal}.png", title, data_label, min_background)
    return [roc.name, sic.name]


def write_study(out: Path, study: dict, markdown: str) -> None:
    """A study's study.json and study.md into ``out``, each written atomically."""
    paths = StudyPaths(Path(out))
    write_record(paths.json, StudyRecord, study)
    with atomic_path(paths.markdown) as tmp:
        tmp.write_text(markdown)
