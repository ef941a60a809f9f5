"""The ``quantize`` stage: QKeras quantization-aware retraining and the bit-width scan.

For each deployable float scorer the QKeras twin of its graph is initialised from
the float weights and retrained with the scorer's own recipe on inputs already in
the declared input format (what the trigger delivers). The scan repeats this at
uniform internal bit widths and records AUC / AUC_float and TPR / TPR_float at the
trigger FPR, as in the AE-on-FPGA study.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.config import Config, QuantBits
from l1ad.io import read_json, write_json
from quantize.qmodels import input_format, predict_exact, quantize_inputs, save_qmodel, to_qkeras
from training import metrics
from training.data.splits import Split, read_splits
from training.scorer import load_scorer
from training.stage import read_scores, write_scores


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


def scan_bits(default: QuantBits, b: int) -> QuantBits:
    """Uniform internal width ``b`` for weights, biases and activations; the input and
    output formats stay as configured (they are the interface to the trigger system)."""
    return dataclasses.replace(
        default,
        weight_bits=b,
        weight_integer=min(default.weight_integer, b - 1),
        bias_bits=b,
        bias_integer=min(default.bias_integer, b - 1),
        activation_bits=b,
        activation_integer=min(default.activation_integer, b),
    )


def quantize_one(scorer, bits: QuantBits, train: Split, val: Split, epochs: int, lr: float):
    """QKeras twin of ``scorer.model`` retrained from the float weights on input-quantized data.

    A scorer that uses labels gets the split's background labels and nuisance (NuRD also refits
    its frozen head on the twin's representation, even without retraining epochs).
    """
    qmodel = to_qkeras(scorer.model, bits)
    Xq = quantize_inputs(train.X, bits.input_bits, bits.input_integer)
    Xq_val = quantize_inputs(val.X, bits.input_bits, bits.input_integer)
    if scorer.uses_labels:
        history = scorer.train_graph(
            qmodel, Xq, Xq_val, epochs, lr, y=train.y, nuisance=train.nuisance, y_val=val.y
        )
    else:
        history = scorer.train_graph(qmodel, Xq, Xq_val, epochs, lr) if epochs > 0 else {}
    return qmodel, history


def qkeras_scores(qmodel, X: np.ndarray, bits: QuantBits) -> np.ndarray:
    """Exact QKeras scores (float64 twin: the bit-level reference csim is compared with)."""
    return predict_exact(qmodel, quantize_inputs(X, bits.input_bits, bits.input_integer))


def run_quantize(config: Config, out: Path, run_dir: Path) -> dict[str, Any]:
    from training.device import configure_tensorflow

    configure_tensorflow(config.train.device)
    summary: dict[str, Any] = {}
    for name in config.run.models:
        info = read_json(run_dir / "train" / name / "info.json")
        family = info["family"]
        splits = read_splits(run_dir / info["splits"])
        scorer = load_scorer(run_dir / info["deployed"])
        float_all, y, classes, n_bkg = read_scores(run_dir / "train" / name / "scores.h5")
        float_scores = float_all[0]  # the deployed (first) seed
        qcfg = getattr(config.quantize, name)
        fpr, min_bkg = trigger_fpr(config, family), config.metrics.min_background_for_sic

        print(f"  {name}: QAT at {qcfg.bits.weight_bits}-bit weights, {qcfg.epochs} epochs")
        qmodel, history = quantize_one(
            scorer, qcfg.bits, splits.train, splits.val, qcfg.epochs, qcfg.learning_rate
        )
        save_qmodel(qmodel, out / name / "qmodel.h5")
        q_scores = qkeras_scores(qmodel, splits.test.X, qcfg.bits)
        write_scores(out / name / "scores.h5", q_scores, y, classes, n_bkg)
        float_summary = score_summary(float_scores, y, classes, fpr, min_bkg, n_bkg)
        q_summary = score_summary(q_scores, y, classes, fpr, min_bkg, n_bkg)
        extra = {}
        if hasattr(scorer, "qat_report"):  # model-specific quantization figures (the NuRD head constants)
            extra["qat_report"] = scorer.qat_report(
                qmodel, quantize_inputs(splits.test.X, qcfg.bits.input_bits, qcfg.bits.input_integer)
            )

        scan = []
        if config.quantize.scan.enabled:
            for b in config.quantize.scan.bits:
                bits = scan_bits(qcfg.bits, b)
                print(f"  {name}: scan point {b} bits ({config.quantize.scan.epochs} QAT epochs)")
                qm, _ = quantize_one(
                    scorer, bits, splits.train, splits.val, config.quantize.scan.epochs, qcfg.learning_rate
                )
                point = score_summary(qkeras_scores(qm, splits.test.X, bits), y, classes, fpr, min_bkg, n_bkg)
                scan.append(
                    {
                        "bits": b,
                        "auc_ratio": {s: point[s]["auc"] / float_summary[s]["auc"] for s in point},
                        "tpr_ratio": {
                            s: _ratio(point[s]["tpr_at_fpr"]["tpr"], float_summary[s]["tpr_at_fpr"]["tpr"])
                            for s in point
                        },
                        "auc": {s: point[s]["auc"] for s in point},
                    }
                )
        write_json(out / name / "scan.json", {"model": name, "trigger_fpr": fpr, "points": scan})
        write_json(
            out / name / "info.json",
            {
                "model": name,
                "family": family,
                "splits": info["splits"],
                "qmodel": f"quantize/{name}/qmodel.h5",
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


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")
