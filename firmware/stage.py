"""The ``firmware`` stage: hls4ml HLS projects, C simulation and csim validation per model.

For each QKeras graph from ``quantize``: profile its activations on background
and signal, convert with deliberate per-layer precisions, write the complete HLS
project (with testbench data from the test set), compile the C simulation with g++,
score the full test set, and compare with the exact QKeras score event by event.
With ``firmware.rtl.enabled`` the same graph also becomes pipelined Verilog (da4ml), simulated
with Verilator on the full test set against the C simulation, and, with ``synthesize``,
synthesized by Yosys in the background; every model is traced before the first is converted, so the
syntheses overlap all the other work (``firmware/rtl.py``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from firmware import rtl
from firmware.csim import predict as csim_predict
from firmware.csim import validate
from firmware.hls import convert, has_convolution, io_type_for
from firmware.records import FirmwareValidation, RTLRecord
from firmware.trigger import trigger_threshold, write_threshold
from firmware.vendor import resources_report
from l1ad.artifacts import RELATIVE, DataPaths, FirmwarePaths, ModelFirmwarePaths, RunPaths
from l1ad.config import Config, FirmwareConfig, QuantBits
from l1ad.io import read_record, write_record
from quantize.qmodels import input_format, input_range, load_qmodel, quantize_inputs
from quantize.records import QuantizeInfo
from training.data.rate import WHAT
from training.data.splits import Splits, read_splits
from training.stage import read_scores, write_rate_scores, write_scores

RATE_CHECK_EVENTS = 10_000  # rate-sample events scored by both the RTL and the C simulation


def run_firmware(config: Config, out: Path, run_dir: Path) -> dict[str, Any]:
    if config.firmware.rtl.enabled:
        rtl.require_tools(config.firmware.rtl.synthesize)  # one line naming a missing tool, before any work
    rtl_builds: dict[str, rtl.RTLBuild] = {}
    try:
        return _run_firmware(config, out, run_dir, rtl_builds)
    finally:
        for build in rtl_builds.values():  # a failed or interrupted stage leaves no Yosys behind
            if build.synthesis is not None:
                build.synthesis.stop()


def _run_firmware(
    config: Config, out: Path, run_dir: Path, rtl_builds: dict[str, rtl.RTLBuild]
) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    rtl_config = config.firmware.rtl
    run = RunPaths(run_dir)
    qinfos = {name: read_record(run.quantize.info(name), QuantizeInfo) for name in config.run.models}
    qmodels = {name: load_qmodel(run_dir / qinfo["qmodel"]) for name, qinfo in qinfos.items()}
    if rtl_config.enabled:
        # Every model's Verilog first: their Verilator builds and Yosys run in the background while the
        # models are converted, compiled and simulated one after another, so the longest synthesis (NuRD's,
        # minutes) overlaps all of that instead of starting with the last model.
        for name, qmodel in qmodels.items():
            print(f"  {name}: tracing the QKeras graph to Verilog (da4ml)", flush=True)
            rtl_builds[name] = rtl.prepare_rtl(
                name,
                qmodel,
                FirmwarePaths(out).model(name).rtl,
                config.firmware.clock_period_ns,
                config.firmware.part,
                rtl_config.synthesize,
                n_jobs=os.cpu_count() or 1,
                synth_max_cost=rtl_config.synth_max_cost,
                use_dsp=config.firmware.use_dsp,
            )
    for name, qmodel in qmodels.items():
        written, qinfo = FirmwarePaths(out).model(name), qinfos[name]
        splits = read_splits(run_dir / qinfo["splits"])
        qkeras, y, classes, n_bkg = read_scores(run.quantize.scores(name))
        float_scores = read_scores(run.train.scores(name))[0][0]
        validation, csim, hls_model = build_firmware(
            name,
            qmodel,
            QuantBits(**qinfo["bits"]),
            splits,
            qkeras,
            float_scores,
            config,
            config.firmware,
            written.root,
            log=lambda line, name=name: print(f"  {name}: {line}"),
        )
        validation["hls_project"] = str(RELATIVE.firmware.model(name).hls_project)
        write_scores(written.csim_scores, csim, splits.test.y, classes, n_bkg)
        resources = validation["resources"]
        summary[name] = {
            "exact_fraction": validation["exact_fraction"],
            "within_1lsb_fraction": validation["within_1lsb_fraction"],
            "saturated_events": validation["saturated_events"],
        }
        print(
            f"  {name}: csim == QKeras on {validation['exact_fraction']:.4%} of events, within 1 LSB on "
            f"{validation['within_1lsb_fraction']:.4%}; {validation['csim_events_per_second']:.0f} events/s; "
            f"{resources['source']}: {resources['latency_cycles']} cycles, {resources['dsp']} DSP, "
            f"{resources['lut']:.0f} LUT"
        )
        if name in rtl_builds:
            bits = QuantBits(**qinfo["bits"])
            X_test = quantize_inputs(splits.test.X, bits.input_bits, bits.input_integer)
            print(f"  {name}: Verilator build of the RTL, then {len(X_test)} events simulated", flush=True)
            figures = rtl.simulate_rtl(
                rtl_builds[name],
                X_test,
                csim,
                qkeras,
                testbench_rows(len(X_test), config.firmware.n_testbench_events, config.run.seed),
            )
            print(
                f"  {name}: RTL == csim on {figures['exact_fraction']:.4%} of events; "
                f"Verilator build {figures['build_seconds']:.0f} s, {figures['events_per_second']:.0f} events/s; "
                f"{figures['latency_cycles']} cycles",
                flush=True,
            )
        if run.data.rate_sample(qinfo["family"]).is_file():
            build = rtl_builds.get(name)
            validation["trigger"] = rate_trigger(
                run.data,
                qinfo["family"],
                QuantBits(**qinfo["bits"]),
                hls_model,
                build.project if build else None,
                config,
                {classes[k]: csim[y == k] for k in range(n_bkg, len(classes))},
                validation["trigger"],
                written.rate_scores,
                log=lambda line, name=name: print(f"  {name}: {line}", flush=True),
            )
            write_threshold(written.hls_sources, validation["trigger"])
        # Written last: its presence marks the model's firmware as complete.
        write_record(written.validation, FirmwareValidation, validation)
    for name, build in rtl_builds.items():
        if build.synthesis is not None:
            print(f"  {name}: waiting for {build.synthesis.tool} synthesis", flush=True)
        figures = rtl.rtl_figures(
            build, rtl_config.yosys_timeout_s, log=lambda line, n=name: print(f"  {n}: {line}")
        )
        figures["rtl_project"] = str(RELATIVE.firmware.model(name).rtl)
        write_record(FirmwarePaths(out).model(name).rtl_record, RTLRecord, figures)
        summary[name]["rtl_exact_fraction"] = figures["exact_fraction"]
        if figures["lut"] is not None:
            print(
                f"  {name}: {figures['source']}: {figures['lut']} LUT, {figures['ff']} FF, "
                f"{figures['carry']} CARRY, {figures['dsp']} DSP in {figures['synth_seconds']:.0f} s ({figures['synth_cpu_seconds']:.0f} s of CPU)",
                flush=True,
            )
    return summary


def rate_trigger(
    data: DataPaths,
    family: str,
    bits: QuantBits,
    hls_model: Any,
    rtl_project: rtl.RTLProject | None,
    config: Config,
    signals: dict[str, np.ndarray],
    test_trigger: dict[str, Any],
    scores_path: Path,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The trigger threshold set on ``family``'s rate sample in ``data`` (``training/data/rate.py``); the
    firmware scores of the sample go to ``scores_path`` (``write_rate_scores``) for the report's
    efficiency at the rate.

    Every event is scored bit-exactly, chunk by chunk: by the Verilated RTL when the model has
    one (fast), else by the C simulation; the first ``RATE_CHECK_EVENTS`` are also scored the
    other way (RTL against csim; without RTL the csim scores stand alone). Signal efficiencies
    stay on the test set's csim scores (``signals``); ``test_trigger`` (the threshold on the test
    set's background) is kept beside for comparison.
    """
    from tqdm import tqdm

    step = config.data.chunk_events
    scored_with = "RTL (Verilator)" if rtl_project is not None else "C simulation"
    with h5py.File(data.rate_sample(family), "r") as f:
        X_all = f["X"]
        n = len(X_all)
        scores = np.empty(n, dtype=np.float64)
        t0 = time.perf_counter()
        # a progress bar on the console whatever stderr is (the stage's log, echoed: l1ad.console)
        with tqdm(total=n, desc="  rate sample", unit=" events", unit_scale=True, disable=False) as bar:
            for start in range(0, n, step):
                X = quantize_inputs(X_all[start : start + step], bits.input_bits, bits.input_integer)
                if rtl_project is not None:
                    scores[start : start + len(X)] = rtl.predict_rtl(
                        rtl_project, X, n_threads=os.cpu_count() or 1
                    )[:, 0]
                else:
                    scores[start : start + len(X)] = csim_predict(hls_model, X)
                bar.update(len(X))
        seconds = time.perf_counter() - t0
        log(f"rate sample: {n:,} background events scored by the {scored_with} in {seconds:.0f} s")
        check = None
        if rtl_project is not None:
            X = quantize_inputs(X_all[:RATE_CHECK_EVENTS], bits.input_bits, bits.input_integer)
            equal = csim_predict(hls_model, X) == scores[: len(X)]
            check = {"events": len(X), "rtl_equals_csim_fraction": float(np.mean(equal))}
    write_rate_scores(scores_path, scores, scored_with)
    trigger = trigger_threshold(
        scores,
        config.firmware.trigger_rate_hz,
        config.metrics.bunch_crossing_rate_hz,
        test_trigger["score_type"],
        signals,
    )
    trigger["background_sample"] = {
        "source": f"{WHAT}, {RELATIVE.data.rate_sample(family)}",
        "events": n,
        "scored_with": scored_with,
        "events_per_second": n / seconds if seconds > 0 else None,
        "check": check,
    }
    trigger["test_set"] = {
        k: test_trigger[k]
        for k in (
            "threshold_fixed",
            "n_background",
            "n_background_pass",
            "achieved_rate_hz",
            "rate_uncertainty_hz",
        )
    }
    return trigger


def testbench_rows(n_events: int, n_testbench: int, seed: int) -> np.ndarray:
    """The test events written as testbench data (HLS and RTL alike): a fixed random subset, in order."""
    rows = np.random.default_rng(seed).choice(n_events, min(n_testbench, n_events), replace=False)
    rows.sort()
    return rows


def build_firmware(
    name: str,
    qmodel: Any,
    bits: QuantBits,
    splits: Splits,
    qkeras: np.ndarray,
    float_scores: np.ndarray,
    config: Config,
    fw: FirmwareConfig,
    out: Path,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, Any], np.ndarray, Any]:
    """One model's HLS project in the model firmware folder ``out`` (``ModelFirmwarePaths``), its csim
    validation and resources: (figures, csim scores, the compiled hls4ml model).

    ``qkeras`` are the exact QKeras scores of the input-quantized test set and ``float_scores``
    the float model's; the design-space scan calls this with its own ``fw`` per point.
    """
    X_test = quantize_inputs(splits.test.X, bits.input_bits, bits.input_integer)
    X_train = quantize_inputs(splits.train.X, bits.input_bits, bits.input_integer)
    y, classes, n_bkg = splits.test.y, splits.classes, splits.n_background_classes
    tb_rows = testbench_rows(len(X_test), fw.n_testbench_events, config.run.seed)
    io_type = io_type_for(qmodel, fw)
    log(f"converting with hls4ml ({fw.backend}, {io_type}, {fw.strategy}, RF {fw.reuse_factor})")
    t0 = time.perf_counter()
    # Precisions are sized on training background and half of each signal's test events; the saturation
    # trace and its margins read the other half and the test background, which the sizing never saw.
    held_out = held_out_events(y, n_bkg)
    project = ModelFirmwarePaths(out)
    hls_model = convert(
        qmodel,
        project.hls_project,
        fw,
        profile_inputs=np.concatenate([X_train, X_test[~held_out]]),
        project_name=f"l1ad_{name}",
        testbench=(X_test[tb_rows], qkeras[tb_rows]),
    )
    convert_seconds = time.perf_counter() - t0
    log(f"compiling the C simulation (g++) and scoring {len(X_test)} test events")
    result, csim = validate(
        hls_model, qmodel, X_test, y, float_scores, qkeras, n_bkg, classes=classes, traceable=held_out
    )
    resources = resources_report(
        hls_model,
        fw.part,
        fw.clock_period_ns,
        synth=fw.synth,
        cosim=fw.cosim,
        logic_synthesis=fw.logic_synthesis,
        log=log,
    )
    # The threshold is set on the csim scores of background and written into the project's
    # firmware folder, so `#include "trigger_threshold.h"` resolves beside the model.
    trigger = trigger_threshold(
        csim[y < n_bkg],
        fw.trigger_rate_hz,
        config.metrics.bunch_crossing_rate_hz,
        result["output_type"],
        {classes[k]: csim[y == k] for k in range(n_bkg, len(classes))},
    )
    trigger["background_sample"] = {"source": "test set", "events": int((y < n_bkg).sum())}
    write_threshold(project.hls_sources, trigger)
    agreement, saturation = result["agreement"], result["saturation"]
    validation = {
        "model": name,
        "io_type": io_type,
        "strategy": fw.strategy,
        "has_convolution": has_convolution(qmodel),
        **agreement,
        "saturated_events": saturation["n_events"],
        "saturation": saturation,
        # what the types were sized on; the saturation trace and its margins read only other events
        "precision_profile": {
            "training_background_events": len(X_train),
            "test_signal_events": int((~held_out).sum()),
            "traced": "held-out test events: all background, every second event of each signal",
        },
        "input_clipped": input_clipping(splits.test.X, y, classes, bits),
        "output_lsb": result["output_lsb"],
        "output_format": result["output_type"],
        "input_format": input_format(bits),
        "layer_precisions": result["layer_precisions"],
        "relu_inputs_beyond_float32": result["relu_inputs_beyond_float32"],
        "auc_all_signals": result["auc"],
        "convert_seconds": convert_seconds,
        "compile_seconds": result["timing"]["compile_s"],
        "convert_compile_seconds": convert_seconds + result["timing"]["compile_s"],
        "csim_events_per_second": result["timing"]["csim_events_per_s"],
        "testbench_events": len(tb_rows),
        "resources": resources,
        "trigger": trigger,
    }
    return validation, csim, hls_model


def held_out_events(y: np.ndarray, n_background_classes: int) -> np.ndarray:
    """Test events the fixed-point types are not sized on (a mask): all background (the types see the
    training background instead) and every second event of each signal class."""
    y = np.asarray(y)
    held_out = y < n_background_classes
    for k in np.unique(y[y >= n_background_classes]):
        rows = np.flatnonzero(y == k)
        held_out[rows[1::2]] = True
    return held_out


def input_clipping(X: np.ndarray, y: np.ndarray, classes: list[str], bits: QuantBits) -> dict[str, Any]:
    """Per class, the events with at least one input outside the declared input format.

    The input quantizer saturates such values in QKeras and in firmware alike (so csim
    agreement cannot show it); the fraction tells whether the format fits the data.
    """
    lo, hi = input_range(bits)
    flat = np.asarray(X).reshape(len(X), -1)
    outside = ((flat < lo) | (flat > hi)).any(axis=1)
    return {
        "range": [lo, hi],
        "events": {c: int(outside[y == k].sum()) for k, c in enumerate(classes)},
        "fraction": {
            c: float(outside[y == k].mean()) if (y == k).any() else 0.0 for k, c in enumerate(classes)
        },
    }
