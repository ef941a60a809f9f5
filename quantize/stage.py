"""The ``quantize`` stage: QKeras quantization-aware retraining of each deployed scorer.

For each deployable float scorer the QKeras twin of its graph is initialised from
the float weights and retrained with the scorer's own recipe on inputs already in
the declared input format (what the trigger delivers). Other bit widths, reuse factors
and quantizers are ``l1ad scan``'s points (``l1ad/scan.py``), each with its firmware.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.artifacts import RELATIVE, QuantizePaths, RunPaths
from l1ad.config import Config
from l1ad.io import read_record, write_record
from quantize.frozen_head import frozen_head_report
from quantize.qmodels import clip_to_input_range, declared_inputs, input_format, save_qmodel
from quantize.quantizer import QKeras
from quantize.records import QuantizeInfo
from training import metrics
from training.data.splits import Splits, read_splits
from training.nurd import NuRD
from training.records import TrainInfo
from training.scorer import load_scorer
from training.stage import read_scores, score_rate_sample, write_rate_scores, write_scores

QKERAS = QKeras()  # the stage's quantizer


def trigger_fpr(config: Config, family: str) -> float:
    """The FPR that defines "the trigger rate" for a data family (``metrics.trigger_fpr_<family>``)."""
    return getattr(config.metrics, f"trigger_fpr_{family}")


def score_summary(
    scores: np.ndarray, y: np.ndarray, classes: list[str], fpr: float, min_bkg: int, n_bkg: int = 1
) -> dict:
    """Per signal: AUC, max SIC and TPR at ``fpr`` against the background (the first ``n_bkg`` classes)."""
    return metrics.per_signal(
        scores, y, classes, n_bkg, metrics.summarise, target_fpr=fpr, min_background=min_bkg
    )


def run_quantize(config: Config, out: Path, run_dir: Path) -> dict[str, Any]:
    """QAT of each model of ``run.models`` from the train stage's float weights in ``run_dir`` into ``out``
    (``QuantizePaths``); returns float and QKeras AUC per model and signal."""
    from training.device import configure_tensorflow

    configure_tensorflow(config.train.device)
    trained, paths = RunPaths(run_dir).train, QuantizePaths(out)
    summary: dict[str, Any] = {}
    for name in config.run.models:
        info: TrainInfo = read_record(trained.info(name), TrainInfo)
        family = info["family"]
        splits = read_splits(run_dir / info["splits"])
        scorer = load_scorer(run_dir / info["deployed"])
        float_all, y, classes, n_bkg = read_scores(trained.scores(name))
        float_scores = float_all[0]  # the deployed (first) seed
        qcfg = getattr(config.quantize, name)
        fpr, min_bkg = trigger_fpr(config, family), config.metrics.min_background_for_sic

        print(f"  {name}: QAT at {qcfg.bits.weight_bits}-bit weights, {qcfg.epochs} epochs")
        qmodel, history = QKERAS.train_from_float(
            scorer, qcfg.bits, splits.train, splits.val, qcfg.epochs, qcfg.learning_rate
        )
        save_qmodel(qmodel, paths.qmodel(name))
        q_scores = QKERAS.reference_scores(qmodel, splits.test.X, qcfg.bits)
        write_scores(paths.scores(name), q_scores, y, classes, n_bkg)
        write_rate_sample_scores(
            config, paths, RunPaths(run_dir).data.rate_sample(family), name, splits, scorer, qmodel
        )
        float_summary = score_summary(float_scores, y, classes, fpr, min_bkg, n_bkg)
        q_summary = score_summary(q_scores, y, classes, fpr, min_bkg, n_bkg)
        extra = {}
        if isinstance(scorer, NuRD):  # the frozen Mahalanobis head's constants
            extra["qat_report"] = frozen_head_report(
                qmodel, declared_inputs(splits.test.X, qcfg.bits), scorer.n_backgrounds, scorer.config.combine
            )

        write_record(
            paths.info(name),
            QuantizeInfo,
            {
                "model": name,
                "family": family,
                "splits": info["splits"],
                "qmodel": str(RELATIVE.quantize.qmodel(name)),
                "bits": dataclasses.asdict(qcfg.bits),
                "input_format": input_format(qcfg.bits),
                "epochs": qcfg.epochs,
                "history": history,
                "trigger_fpr": fpr,
                "float": float_summary,
                "qkeras": q_summary,
                **extra,
            },
        )
        summary[name] = {
            s: {"float": round(float_summary[s]["auc"], 4), "qkeras": round(q_summary[s]["auc"], 4)}
            for s in q_summary
        }
        print(
            f"  {name}: AUC float -> QKeras "
            + ", ".join(f"{s} {v['float']:.3f} -> {v['qkeras']:.3f}" for s, v in summary[name].items())
        )
    return summary


def write_rate_sample_scores(
    config: Config,
    paths: QuantizePaths,
    sample: Path,
    name: str,
    splits: Splits,
    scorer: Any,
    qmodel: Any,
) -> None:
    """What the trigger's efficiency at its rate needs from this stage (``training/efficiency.py``): the float
    model's test-set scores on inputs clipped to the input format's range and, where the family has a rate
    sample (``sample``), the exact QKeras scores and the clipped float scores of that sample."""
    bits, test = getattr(config.quantize, name).bits, splits.test
    clipped = scorer.score(clip_to_input_range(test.X, bits))
    write_scores(paths.clipped_scores(name), clipped, test.y, splits.classes, splits.n_background_classes)
    if not sample.is_file():
        return
    versions = {
        "qkeras": (paths.rate_scores(name), lambda X: QKERAS.reference_scores(qmodel, X, bits)),
        "float_clipped": (
            paths.clipped_rate_scores(name),
            lambda X: scorer.score(clip_to_input_range(X, bits)),
        ),
    }
    for version, (path, score) in versions.items():
        scores = score_rate_sample(
            sample,
            score,
            config.data.chunk_events,
            log=lambda line, version=version: print(f"  {name}: {version}, {line}"),
        )
        write_rate_scores(path, scores, version)
