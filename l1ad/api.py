"""The Python API: one function per CLI subcommand, same arguments, same behaviour.

from l1ad import api
api.run("configs/default.yaml", "runs/default")
report = api.report(run_dir="runs/default")   # the report.json contract as a dict
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from l1ad.artifacts import RunPaths
from l1ad.config import Config, load_config
from l1ad.errors import L1adError
from l1ad.pipeline import run_stage

DEFAULT_CONFIG = Path("configs/default.yaml")
DEFAULT_RUN_DIR = Path("runs/default")


def _config(config: str | Path | Config | None, models: Sequence[str] | None = None) -> Config:
    """The config (a path, a ``Config``, or the default), with ``run.models`` replaced by ``models`` if given."""
    if isinstance(config, Config):
        cfg = config
    elif config is None:
        cfg = load_config(DEFAULT_CONFIG) if DEFAULT_CONFIG.is_file() else Config()
    else:
        cfg = load_config(config)
    if models is None:
        return cfg
    run = dataclasses.replace(cfg.run, models=tuple(models))
    if run.problems():
        raise L1adError(run.problems()[0].replace("run.models", "--models", 1))
    return dataclasses.replace(cfg, run=run)


def data(
    config: str | Path | Config | None = None,
    run_dir: str | Path = DEFAULT_RUN_DIR,
    force: bool = False,
    models: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Generate (or read) the three data families and write model-ready splits."""
    return run_stage(_config(config, models), run_dir, "data", force)


def train(
    config: str | Path | Config | None = None,
    run_dir: str | Path = DEFAULT_RUN_DIR,
    force: bool = False,
    models: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Train the float scorers (runs ``data`` first if needed)."""
    return run_stage(_config(config, models), run_dir, "train", force)


def quantize(
    config: str | Path | Config | None = None,
    run_dir: str | Path = DEFAULT_RUN_DIR,
    force: bool = False,
    models: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Quantization-aware retraining in QKeras from the float weights."""
    return run_stage(_config(config, models), run_dir, "quantize", force)


def firmware(
    config: str | Path | Config | None = None,
    run_dir: str | Path = DEFAULT_RUN_DIR,
    force: bool = False,
    synth: bool = False,
    models: Sequence[str] | None = None,
) -> dict[str, Any]:
    """hls4ml HLS projects, C simulation and csim validation; ``synth`` adds vendor C synthesis
    where the tool is installed (an estimate otherwise)."""
    cfg = _config(config, models)
    if synth:
        cfg.firmware.synth = True
    return run_stage(cfg, run_dir, "firmware", force)


def byo(
    model: str | Path,
    config: str | Path | Config | None = None,
    run_dir: str | Path = DEFAULT_RUN_DIR,
    weights: str | Path | None = None,
    data: str | Path | None = None,
    data_key: str | None = None,
    labels: str | Path | None = None,
    labels_key: str | None = None,
    input_range: tuple[float, float] | None = None,
    hls_config: str | Path | None = None,
    input_format: str | None = None,
    logits: bool = False,
    score: str | None = None,
    latent_layer: str | None = None,
    strategy: str | None = None,
    rtl: bool = False,
    weight_bits: int | None = None,
    frac_bits: int | None = None,
    io_type: str | None = None,
) -> dict[str, Any]:
    """Bring your own QKeras / Keras-2 model: convert, compile, validate csim against Keras on
    ``data`` (or on inputs drawn in ``input_range``) and estimate resources, into
    RUN_DIR/byo/<model name>; returns the report row. ``labels`` (one class per ``data`` event) adds the
    AUC of the reference and of csim to each output.

    ``input_format`` declares the trigger's input type for a model without an input quantizer
    (else l1ad profiles one); ``logits`` drops lookup-table activations (softmax, sigmoid) from the
    outputs; ``score`` composes an on-chip score (``residual`` or ``latent``, of ``latent_layer``);
    ``strategy`` overrides ``firmware.strategy`` and ``io_type`` ``firmware.io_type``; ``weight_bits``
    sets the post-training quantization of a float model's weights (default 8, 0: none), ``frac_bits`` the
    fractional bits of the types l1ad sets itself (default 16); ``rtl`` also
    simulates the model's Verilog against csim (``firmware.byo.byo_rtl``). See ``firmware.byo.byo_firmware``."""
    from firmware.byo import byo_firmware
    from l1ad.config import strategy_problems
    from l1ad.errors import InputError, L1adError
    from l1ad.io import atomic_dir

    if data is None and input_range is None:
        raise InputError(model, "give --data FILE (inputs to validate on) or --input-range LO HI")
    cfg = _config(config)
    fw = cfg.firmware
    if strategy is not None:
        problems = strategy_problems(strategy, fw.reuse_factor)
        if problems:
            raise L1adError(f"--strategy: {problems[0]}")
        fw = dataclasses.replace(fw, strategy=strategy)
    if io_type is not None:
        if io_type not in ("io_parallel", "io_stream"):
            raise L1adError(f"--io-type must be io_parallel or io_stream, got {io_type!r}")
        fw = dataclasses.replace(fw, io_type=io_type)
    if weight_bits is not None and not 0 <= weight_bits <= 32:
        raise L1adError(
            f"--weight-bits must lie in [0, 32] (0: no post-training quantization), got {weight_bits}"
        )
    if frac_bits is not None and not 0 <= frac_bits <= 32:
        raise L1adError(f"--frac-bits must lie in [0, 32], got {frac_bits}")
    name = Path(model).stem
    with atomic_dir(RunPaths(run_dir).byo(name).root) as out:
        return byo_firmware(
            model,
            out,
            fw,
            data=data,
            input_range=input_range,
            hls_config_yaml=hls_config,
            weights=weights,
            data_key=data_key,
            labels=labels,
            labels_key=labels_key,
            input_format=input_format,
            logits=logits,
            score=score,
            latent_layer=latent_layer,
            rtl_check=rtl,
            project_name=f"l1ad_{name}",
            **({} if weight_bits is None else {"weight_bits": weight_bits}),
            **({} if frac_bits is None else {"frac_bits": frac_bits}),
        )


def report(
    config: str | Path | Config | None = None,
    run_dir: str | Path = DEFAULT_RUN_DIR,
    force: bool = False,
    models: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Write report.md / report.json and plots; returns the report.json content."""
    from l1ad.io import read_json

    run_stage(_config(config, models), run_dir, "report", force)
    return read_json(RunPaths(run_dir).report.json)


def check(
    config: str | Path | Config | None = None,
    run_dir: str | Path = DEFAULT_RUN_DIR,
    models: Sequence[str] | None = None,
    baseline: str | Path | None = None,
) -> list[str]:
    """Apply the CI gate to the run's report.json, and with ``baseline`` (a run directory or report.json)
    the comparison with it (``compare``); raise ``GateError`` listing every failure and regression."""
    from reports.check import check_report

    return check_report(_config(config, models), Path(run_dir), baseline)


def compare(
    base: str | Path,
    new: str | Path,
    config: str | Path | Config | None = None,
    markdown: str | Path | None = None,
    json_file: str | Path | None = None,
) -> dict[str, Any]:
    """Compare a run with its baseline (run directories or report.json files) per model and signal with the
    tolerances of the ``check`` section (``reports.compare``); write the Markdown table to ``markdown`` and
    the rows to ``json_file`` where given. Returns ``{"regressions": [...], "rows": [...], "markdown": ...}``."""
    from l1ad.io import atomic_path, write_json
    from reports.compare import compare as compare_runs

    result = compare_runs(base, new, _config(config).check)
    if markdown is not None:
        with atomic_path(markdown) as tmp:
            tmp.write_text(result["markdown"])
    if json_file is not None:
        write_json(json_file, {k: v for k, v in result.items() if k != "markdown"})
    return result


def study(
    name: str,
    config: str | Path | Config | None = None,
    run_dir: str | Path = DEFAULT_RUN_DIR,
    force: bool = False,
) -> dict[str, Any]:
    """Run one full-precision study (oneclass, gaussian, anomalyclr, nae, mpdr, nurd) into RUN_DIR/studies/NAME."""
    from training.stage import require_family

    cfg = _config(config)
    require_family(cfg, name.removeprefix("studies/"))
    return run_stage(cfg, run_dir, name, force)


def scan(config: str | Path | Config | None = None, run_dir: str | Path = DEFAULT_RUN_DIR) -> dict[str, Any]:
    """The design-space scan (``scan`` section) on Dask into RUN_DIR/scan; finished points are skipped,
    failed ones recorded and retried on the next call. Returns the scan summary (scan.json)."""
    from l1ad.scan import run_scan

    return run_scan(_config(config), run_dir)


def csim(
    model: str,
    input: str | Path,
    output: str | Path,
    config: str | Path | Config | None = None,
    run_dir: str | Path = DEFAULT_RUN_DIR,
    key: str | None = None,
    chunk_events: int = 100_000,
    in_process: bool = False,
) -> dict[str, Any]:
    """Score every event of an HDF5 file with the run's compiled C simulation of ``model``, in
    chunks on Dask workers (``cluster`` section; ``in_process`` = a plain loop here), into
    ``output`` (scores in input order with the event index). Returns the summary."""
    from firmware.shard import score_file
    from l1ad.cluster import cluster_runner
    from l1ad.tasks import run_here

    runner = run_here if in_process else cluster_runner(_config(config).cluster)
    return score_file(run_dir, model, input, output, key, chunk_events, runner)


def run(
    config: str | Path | Config | None = None,
    run_dir: str | Path = DEFAULT_RUN_DIR,
    force: bool = False,
    models: Sequence[str] | None = None,
    with_studies: bool = False,
) -> list[str]:
    """The main job: data -> train -> quantize -> firmware, the report, then the gate.

    ``with_studies`` also runs the studies of ``run.studies`` (see ``studies``), beside the chain as
    tasks on the ``cluster`` (output in RUN_DIR/logs/<job>.log, the chain's copied to the console)
    unless ``cluster.parallel_studies`` is false: then one after another here."""
    from l1ad.pipeline import run_studies
    from training.stage import selected_studies

    cfg = _config(config, models)
    run_stage(cfg, run_dir, "data", force, quiet_if_done=not force)
    studies = selected_studies(cfg) if with_studies else []
    run_studies(cfg, run_dir, studies, force, chain=("train", "quantize", "firmware"))
    run_stage(cfg, run_dir, "report", force, quiet_if_done=not force)
    return check(cfg, run_dir)


def studies(
    config: str | Path | Config | None = None,
    run_dir: str | Path = DEFAULT_RUN_DIR,
    force: bool = False,
    names: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """The full-precision studies of ``run.studies`` (or ``names``), side by side on the ``cluster``
    (``cluster.parallel_studies``), resumable: finished ones are skipped. Where the main job's chain is
    up to date for this config, the report is then rebuilt with a section per study present (the studies
    never build the chain). Returns the studies' summaries by full name."""
    from l1ad.pipeline import fingerprint, run_studies
    from l1ad.rundir import RunDir
    from training.stage import require_family, selected_studies

    cfg = _config(config)
    chosen = list(names) if names else selected_studies(cfg)
    for name in chosen:
        require_family(cfg, name.removeprefix("studies/"))
    run_stage(cfg, run_dir, "data", force, quiet_if_done=not force)
    summaries = run_studies(cfg, run_dir, chosen, force)
    if RunDir(run_dir, cfg).is_done("firmware", fingerprint(cfg, "firmware")):
        run_stage(cfg, run_dir, "report", quiet_if_done=True)
    else:
        print("[studies] report not rebuilt: the main job is not up to date for this config (`l1ad run`)")
    return summaries
