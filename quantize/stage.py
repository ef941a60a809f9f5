"""The ``quantize`` stage: QKeras quantization-aware retraining and the bit-width scan.

For each deployable float scorer the QKeras twin of its graph is initialised from
the float weights and retrained with the scorer's own recipe on inputs already in
the declared input format (what the trigger delivers). The scan repeats this at
uniform internal bit widths (``quantize.quantizer.train_point``, the QAT step of a
``l1ad scan`` point too) and records AUC / AUC_float, as in the AE-on-FPGA study, and
the firmware / float signal efficiency at the trigger rate (``efficiency_summary``); its models stay in ``<model>/sweep/b<bits>/``,
where ``l1ad scan`` takes them instead of training the same point again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.artifacts import RELATIVE, QuantizePaths, RunPaths
from l1ad.config import Config
from l1ad.io import read_json, write_json
from quantize.qmodels import clip_to_input_range, declared_inputs, input_format, save_qmodel
from quantize.quantizer import QKeras, save_sweep_model, scan_bits, train_point
from training import metrics
from training.data.splits import Splits, read_splits
from training.efficiency import efficiency_at_rate
from training.scorer import load_scorer
from training.stage import read_rate_scores, read_scores, score_rate_sample, write_rate_scores, write_scores

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
    """QAT of each model of ``run.models`` from the train stage's float weights in ``run_dir``, and its
    bit-width scan, into ``out`` (``QuantizePaths``); returns float and QKeras AUC per model and signal."""
    from training.device import configure_tensorflow

    configure_tensorflow(config.train.device)
    trained, paths = RunPaths(run_dir).train, QuantizePaths(out)
    summary: dict[str, Any] = {}
    for name in config.run.models:
        info = read_json(trained.info(name))
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
        if hasattr(scorer, "qat_report"):  # model-specific quantization figures (the NuRD head constants)
            extra["qat_report"] = scorer.qat_report(qmodel, declared_inputs(splits.test.X, qcfg.bits))

        scan = []
        if config.quantize.scan.enabled:
            epochs = config.quantize.scan.epochs
            for b in config.quantize.scan.bits:
                bits = scan_bits(qcfg.bits, b)
                print(f"  {name}: scan point {b} bits ({epochs} QAT epochs)")
                qm, _ = train_point(QKERAS, scorer, splits, bits, epochs, qcfg.learning_rate)
                save_sweep_model(paths.sweep(name, b), qm, bits, epochs, qcfg.learning_rate)
                point_scores = QKERAS.reference_scores(qm, splits.test.X, bits)
                point = score_summary(point_scores, y, classes, fpr, min_bkg, n_bkg)
                efficiency = efficiency_summary(
                    config,
                    RunPaths(run_dir),
                    name,
                    family,
                    splits,
                    float_scores,
                    point_scores,
                    QKERAS.firmware_scorer(qm, bits, paths.sweep(name, b).root),
                )
                scan.append(
                    {
                        "bits": b,
                        "auc_ratio": {s: point[s]["auc"] / float_summary[s]["auc"] for s in point},
                        # firmware / float signal efficiency at the trigger rate, for the gated signals
                        "efficiency_ratio": {
                            s: e["ratio"]
                            for s, e in efficiency["signals"].items()
                            if e["n_float_pass"] >= config.check.min_float_passing
                        },
                        "efficiency_at_rate": efficiency,
                        "auc": {s: point[s]["auc"] for s in point},
                    }
                )
        write_json(paths.scan(name), {"model": name, "trigger_fpr": fpr, "points": scan})
        write_json(
            paths.info(name),
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


def efficiency_summary(
    config: Config,
    paths: RunPaths,
    model: str,
    family: str,
    splits: Splits,
    float_scores: np.ndarray,
    quantized: np.ndarray,
    firmware_scorer: Callable[[np.ndarray], np.ndarray],
) -> dict[str, Any]:
    """A quantized model's signal efficiency at ``firmware.trigger_rate_hz`` against the float model's
    (``training.efficiency``): the bit sweep's points and ``l1ad scan``'s. ``quantized`` are its exact
    test-set scores, ``firmware_scorer`` scores further events as its firmware does; the thresholds are
    set on the run's rate sample where it has one (float scores from the train stage), else on the test
    background. ``min_ratio`` is the smallest ratio over the signals the gate judges (at least
    ``check.min_float_passing`` float-passing events), None if none."""
    y, classes, n_bkg = splits.test.y, splits.classes, splits.n_background_classes
    rate, bc = config.firmware.trigger_rate_hz, config.metrics.bunch_crossing_rate_hz
    sample, float_rate = paths.data.rate_sample(family), paths.train.rate_scores(model)
    on_sample = sample.is_file() and float_rate.is_file()
    float_background = read_rate_scores(float_rate) if on_sample else float_scores[y < n_bkg]
    float_signals = {classes[k]: float_scores[y == k] for k in range(n_bkg, len(classes))}
    threshold = metrics.threshold_for_rate(float_background, rate, bc)["threshold"]
    float_pass = {name: int(np.count_nonzero(s > threshold)) for name, s in float_signals.items()}
    summary: dict[str, Any] = {
        "rate_hz": rate,
        "n_background": len(float_background),
        "source": f"generated background, {RELATIVE.data.rate_sample(family)}"
        if on_sample
        else "test set background",
        "min_ratio": None,
        "notes": [],
    }
    if max(float_pass.values()) < config.check.min_float_passing:
        # nothing the gate would judge: the rate sample is not scored again (minutes for a CNN)
        summary["signals"] = {
            name: {"float": n / len(float_signals[name]), "n_float_pass": n, "quantized": None, "ratio": None}
            for name, n in float_pass.items()
        }
        summary["notes"].append(
            f"fewer than {config.check.min_float_passing} signal events pass the float threshold for every signal: "
            "the quantized model's efficiency is not computed"
        )
        return summary
    quantized_background = (
        score_rate_sample(sample, firmware_scorer, config.data.chunk_events, log=lambda _: None)
        if on_sample
        else quantized[y < n_bkg]
    )
    record = efficiency_at_rate(
        {"float": float_background, "quantized": quantized_background},
        {
            name: {"float": s, "quantized": quantized[y == classes.index(name)]}
            for name, s in float_signals.items()
        },
        rate,
        bc,
        firmware="quantized",
        seed=config.run.seed,
    )
    summary["signals"] = {
        name: {
            "float": s["float"]["efficiency"],
            "quantized": s["quantized"]["efficiency"],
            "n_float_pass": s["float"]["n_pass"],
            "ratio": s.get("ratio"),
            "ratio_interval_68": s.get("ratio_interval_68"),
        }
        for name, s in record["signals"].items()
    }
    gated = [
        s["ratio"]
        for s in summary["signals"].values()
        if s["n_float_pass"] >= config.check.min_float_passing and s["ratio"] is not None
    ]
    summary["min_ratio"] = min(gated) if gated else None
    summary["notes"] += record["notes"]
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
