"""``l1ad scan``: the design space of the deployable scorers, one Dask task per point.

A point (model, bit width, reuse factor, strategy, quantizer) is a QAT retrain from the run's
float weights (``quantize.quantizer``: QKeras or HGQ), an hls4ml conversion into the point's own
folder, a g++ C simulation of the test set checked against the quantized model's exact scores, and
a resource estimate (vendor synthesis where installed and ``scan.synth``). Points run on a
LocalCluster by default or on the scheduler in ``cluster.scheduler``. Each finished point lives in
RUN_DIR/scan/points/<id>/ (written under a temporary name, renamed when complete) with a
``result.json`` carrying the fingerprint of the config it was made with; a rerun skips finished
points. A failed point is recorded in
RUN_DIR/scan/failed/<id>.json with its error and does not stop the others; it is retried on the
next run. The table, the Pareto plots and scan.json are written by ``reports.scan``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import time
import traceback
from pathlib import Path
from typing import Any

from firmware.records import PointFailure, PointResult, Validation
from l1ad.artifacts import RELATIVE, RunPaths, ScanPaths, ScanPointPaths
from l1ad.config import Config, ScanPoint, grid_points
from l1ad.io import atomic_dir, read_json, read_record, write_record
from l1ad.typed_schema import record_problems
from training.records import TrainInfo


def scan_points(config: Config) -> list[ScanPoint]:
    """The scan's points: ``scan.points`` when given, else the grid of models x bits x reuse factors x strategies."""
    return list(config.scan.points or grid_points(config.scan))


def point_id(point: ScanPoint) -> str:
    """A folder name that says what the point is, e.g. ``ae-b6-rf4-latency``, ``ae-hgq1e-06-b6-rf1-latency``
    or, with the model's configured formats (bits 0) but its own input format quantized_bits(10, 7),
    ``ae-bcfg-rf1-da-in10.7``."""
    quantizer = f"-hgq{point.beta:g}" if point.quantizer == "hgq" else ""
    strategy = "da" if point.strategy == "distributed_arithmetic" else point.strategy.lower()
    fmt = f"-in{point.input_width}.{point.input_integer}" if point.input_format else ""
    bits = f"b{point.bits}" if point.bits else "bcfg"  # 0: quantize.<model>'s own formats
    return f"{point.model}{quantizer}-{bits}-rf{point.reuse_factor}-{strategy}{fmt}"


def point_fingerprint(config: Config, point: ScanPoint) -> str:
    """Hash of everything a point's results depend on: the float models (the train stage's chain),
    the model's QAT settings, the scan epochs, the firmware section and the point itself."""
    from l1ad.pipeline import fingerprint

    keys = [f"quantize.{point.model}", "scan.epochs", "scan.synth", "firmware", "metrics", "run.seed"]
    own = config.fingerprint(*keys, *(["scan.hgq_learning_rate"] if point.quantizer == "hgq" else []))
    blob = fingerprint(config, "train") + own + json.dumps(dataclasses.asdict(point), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def finished(scan: ScanPaths, point: ScanPoint, fp: str) -> PointResult | None:
    """The point's result when it was finished with the same fingerprint, else None."""
    path = scan.point(point_id(point)).result
    if not path.is_file():
        return None
    result = read_json(path)
    # a result of other settings, or one this version would not write (its point runs again)
    if record_problems(PointResult, result) or result["fingerprint"] != fp:
        return None
    return result


def run_point(config: Config, run_dir: str, point: ScanPoint) -> PointResult:
    """One scan point, run on a Dask worker: QAT, conversion, csim validation, resources.

    Writes RUN_DIR/scan/points/<id>/ (result.json, csim_validation.json, hls_project/, the
    quantized model, log.txt) atomically and returns the result. Everything the point prints
    (Keras progress, hls4ml) goes to log.txt, not to the worker's terminal.
    """
    from firmware.scan_point import (
        FirmwareTarget,
        build_point_firmware,
        efficiency_summary,
        point_firmware_scorer,
    )
    from l1ad.io import quiet_known_warnings
    from quantize.quantizer import quantizer_for, scan_bits
    from quantize.stage import score_summary, trigger_fpr
    from training.data.splits import read_splits
    from training.scorer import load_scorer
    from training.stage import read_scores

    quiet_known_warnings()
    _one_thread()
    run = Path(run_dir)
    paths = RunPaths(run)
    pid = point_id(point)
    start = time.perf_counter()
    with atomic_dir(paths.scan.point(pid).root) as out:
        written = ScanPointPaths(out)
        log = io.StringIO()
        try:
            with contextlib.redirect_stdout(log):
                info: TrainInfo = read_record(paths.train.info(point.model), TrainInfo)
                splits = read_splits(run / info["splits"])
                scorer = load_scorer(run / info["deployed"])
                float_scores = read_scores(paths.train.scores(point.model))[0][0]
                fw = dataclasses.replace(
                    config.firmware,
                    reuse_factor=point.reuse_factor,
                    strategy=point.strategy,
                    synth=config.scan.synth,
                )
                qcfg = getattr(config.quantize, point.model)
                quantizer = quantizer_for(point.quantizer, point.beta)
                # HGQ's bit widths move by about the learning rate per step: its points train at their own
                lr = config.scan.hgq_learning_rate if point.quantizer == "hgq" else qcfg.learning_rate
                bits = scan_bits(qcfg.bits, point.bits, point.input_format)
                model, history = quantizer.train_from_float(
                    scorer, bits, splits.train, splits.val, config.scan.epochs, lr
                )
                target = FirmwareTarget(point.model, splits, float_scores, config, fw, out)
                validation, quantized, csim = build_point_firmware(quantizer, model, history, bits, target)
                efficiency = efficiency_summary(
                    config,
                    paths,
                    point.model,
                    info["family"],
                    splits,
                    float_scores,
                    quantized,
                    point_firmware_scorer(quantizer, model, bits, out),
                )
        finally:
            written.log.write_text(log.getvalue())
        validation["hls_project"] = str(RELATIVE.scan.point(pid).hls_project)
        write_record(written.validation, Validation, validation)

        fpr = trigger_fpr(config, info["family"])
        y, classes, n_bkg = splits.test.y, splits.classes, splits.n_background_classes
        summaries = {
            version: score_summary(s, y, classes, fpr, config.metrics.min_background_for_sic, n_bkg)
            for version, s in (("float", float_scores), ("quantized", quantized), ("csim", csim))
        }
        signals = classes[n_bkg:]
        r = validation["resources"]
        result = {
            "id": pid,
            "point": dataclasses.asdict(point),
            "fingerprint": point_fingerprint(config, point),
            "family": info["family"],
            "trigger_fpr": fpr,
            "auc": {s: {v: summaries[v][s]["auc"] for v in summaries} for s in signals},
            "tpr_at_trigger": {
                s: {v: summaries[v][s]["tpr_at_fpr"]["tpr"] for v in summaries} for s in signals
            },
            "input_format": validation.get("input_format"),
            # the trigger's figure of merit at firmware.trigger_rate_hz, float vs the point's firmware
            "efficiency_at_rate": efficiency,
            "csim_exact_fraction": validation["exact_fraction"],
            "csim_within_1lsb_fraction": validation["within_1lsb_fraction"],
            # HGQ proxies saturate by construction and are traced on what the firmware scores
            "saturated_fraction": (validation.get("saturation") or {}).get("fraction"),
            "resources": {
                k: r[k]
                for k in (
                    *("source", "latency_cycles", "latency_ns", "ii", "dsp", "lut", "ff", "bram", "bops"),
                    *("part", "part_capacity", "clock_period_ns"),
                )
                if k in r
            }
            | {"ebops": r.get("ebops"), "percent_of_part": r.get("percent_of_part")},
            "hgq_ebops": validation.get("hgq_ebops"),
            "has_convolution": validation.get("has_convolution"),
            "hls_project": validation["hls_project"],
            "seconds": time.perf_counter() - start,
            "convert_compile_seconds": validation.get("convert_compile_seconds"),
        }
        # Written last: a point folder is finished when its result.json exists.
        write_record(written.result, PointResult, result)
    return result


def _one_thread() -> None:
    """One TensorFlow thread per task: a worker runs one point at a time, and the cluster's
    parallelism comes from its worker count, not from threads fighting over cores."""
    import tensorflow as tf

    with contextlib.suppress(RuntimeError):  # already set: this worker ran a point before
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)


def run_scan(config: Config, run_dir: str | Path) -> dict[str, Any]:
    """Run every point of the scan not finished yet on Dask, then write the scan's tables and plots, and
    rebuild the run's report where its chain is up to date for this config.

    Returns the scan summary (``reports.scan.write_scan``): finished points, failed points
    with their errors, Pareto-optimal points per model.
    """
    from tqdm import tqdm

    from l1ad.cluster import dask_client
    from l1ad.pipeline import fingerprint, run_stage
    from l1ad.rundir import RunDir
    from reports.scan import write_scan

    run = Path(run_dir).resolve()
    run_stage(config, run, "train", quiet_if_done=True)  # the float weights every point starts from
    scan = RunPaths(run).scan
    points = scan_points(config)
    fingerprints = {point_id(p): point_fingerprint(config, p) for p in points}
    todo = [p for p in points if finished(scan, p, fingerprints[point_id(p)]) is None]
    print(
        f"[scan] {len(points)} points: {len(points) - len(todo)} finished before, {len(todo)} to run",
        flush=True,
    )
    if todo:
        from distributed import as_completed

        c = config.cluster
        with dask_client(c.scheduler, c.workers, c.memory_limit) as client:
            where = c.scheduler or f"a LocalCluster of {len(client.scheduler_info()['workers'])} workers"
            print(f"[scan] running on {where}", flush=True)
            futures = {client.submit(run_point, config, str(run), p, pure=False): p for p in todo}
            with tqdm(total=len(futures), desc="scan points", unit="point") as bar:
                for future in as_completed(futures):
                    point = futures[future]
                    failed = scan.failed(point_id(point))
                    try:
                        result = future.result()
                    except Exception as exc:  # any failure of one point is recorded, the others go on
                        _record_failure(failed, point, exc, future.traceback())
                        bar.write(f"[scan] {point_id(point)} failed: {type(exc).__name__}: {exc}")
                    else:
                        failed.unlink(missing_ok=True)
                        bar.write(_one_line(result))
                    bar.update()
    results, failed, pending = [], [], []
    for point in points:
        pid = point_id(point)
        result = finished(scan, point, fingerprints[pid])
        if result is not None:
            results.append(result)
        elif scan.failed(pid).is_file():
            failed.append(read_record(scan.failed(pid), PointFailure))
        else:
            pending.append(pid)
    summary = write_scan(config, run, results, failed, pending)
    # the report shows the scan (its section, the per-model bit-width plots) where the chain is up to date
    if RunDir(run, config).is_done("firmware", fingerprint(config, "firmware")):
        run_stage(config, run, "report", quiet_if_done=True)
    else:
        print("[scan] report not rebuilt: the main job is not up to date for this config (`l1ad run`)")
    return summary


def _record_failure(path: Path, point: ScanPoint, exc: BaseException, tb: Any) -> None:
    write_record(
        path,
        PointFailure,
        {
            "id": point_id(point),
            "point": dataclasses.asdict(point),
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": "".join(traceback.format_tb(tb)) if tb is not None else "",
        },
    )


def _one_line(result: dict[str, Any]) -> str:
    r = result["resources"]
    mean_auc = sum(a["csim"] for a in result["auc"].values()) / len(result["auc"])
    ratio = (result.get("efficiency_at_rate") or {}).get("min_ratio")
    ratio_text = "n/a" if ratio is None else f"{ratio:.3f}"
    return (
        f"[scan] {result['id']}: mean csim AUC {mean_auc:.3f}, efficiency ratio at the rate {ratio_text}, "
        f"csim == quantized model on "
        f"{result['csim_exact_fraction']:.2%}, {r['latency_cycles']} cycles, {r['lut']:.0f} LUT, "
        f"{r['dsp']} DSP ({r['source']}), {result['seconds']:.0f} s"
    )
