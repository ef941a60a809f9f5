"""The studies of `l1ad studies` (and `l1ad run --with-studies`) as tasks on the Dask cluster (``pipeline.run_studies``, ``cluster.parallel_studies``).

A tiny config with three studies (gaussian, nae, mpdr; mpdr reads nae's results, so it runs after it),
real code, the same data copied into separate run directories: run one after another in this process and
side by side on a two-worker LocalCluster, the studies write the same figures (thread counts are equal
here: ``train.threads: 1``), each into its own folder, recorded in the manifest, with a log per study in
RUN_DIR/logs and a line on the console when each starts and ends. A rerun skips them; a failing study
leaves the others' results in place; a run killed during a study resumes to the same results.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from l1ad.config import Config, load_config
from l1ad.errors import L1adError
from l1ad.pipeline import _priorities, _width, fingerprint, order_studies, run_stage, run_studies
from l1ad.rundir import RunDir
from training.stage import read_scores

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ("gaussian", "mpdr", "nae")  # mpdr before nae on purpose: run_studies runs it after nae
CHAIN = ("train",)

TINY = {
    "run": {"name": "tiny-studies", "models": ["ae"], "studies": list(STUDIES)},
    "train": {"device": "cpu", "threads": 1},
    "data": {"l1": {"n_background": 3000, "n_signal": 300}, "rate_sample": 0},
    "studies": {
        # the tiny settings of test_gaussian_study, test_nae and test_mpdr
        "gaussian": {"n_events": 1500, "epochs": [1, 2]},
        "nae": {
            "hidden": [16, 8],
            "latent": 3,
            "pretrain_epochs": 1,
            "epochs": 1,
            "batch_size": 64,
            "learning_rate": 1.0e-4,
            "latent_steps": 3,
            "visible_steps": 3,
            "max_train_events": 300,
        },
        "mpdr": {
            "ae_hidden": [16],
            "ae_latent": 3,
            "ae_epochs": 2,
            "energy_hidden": [16],
            "epochs": 1,
            "batch_size": 64,
            "learning_rate": 1.0e-3,
            "latent_steps": 3,
            "visible_steps": 3,
            "max_train_events": 300,
        },
    },
    "cluster": {"workers": 2, "parallel_studies": True},
}

DRIVER = """
import signal
import sys


def _terminate(signum, frame):
    raise KeyboardInterrupt  # as the CLI does


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    from l1ad.config import load_config
    from l1ad.pipeline import run_studies

    config = load_config(sys.argv[1])
    try:
        run_studies(config, sys.argv[2], config.run.studies)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(130)
"""


def _timing(path: str) -> bool:
    return any(word in part for part in path.split("/") for word in ("seconds", "timing"))


def _figures(obj: object, prefix: str = "") -> dict[str, object]:
    """Every leaf of a study.json by its path, timings left out."""
    if isinstance(obj, dict):
        return {k: v for key, value in obj.items() for k, v in _figures(value, f"{prefix}/{key}").items()}
    if isinstance(obj, list):
        return {k: v for i, value in enumerate(obj) for k, v in _figures(value, f"{prefix}/{i}").items()}
    return {} if _timing(prefix) else {prefix: obj}


def _study(run_dir: Path, name: str) -> dict:
    return json.loads((run_dir / "studies" / name / "study.json").read_text())


def _files(run_dir: Path, name: str) -> list[str]:
    folder = run_dir / "studies" / name
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _assert_same_results(got: Path, want: Path) -> None:
    for name in STUDIES:
        assert _files(got, name) == _files(want, name), name
        a, b = _figures(_study(got, name)), _figures(_study(want, name))
        assert a.keys() == b.keys(), name
        differ = {k: (a[k], b[k]) for k in a if a[k] != b[k]}
        assert not differ, f"{name}: {list(differ.items())[:5]}"


def _copy_data(base: Path, run_dir: Path) -> Path:
    run_dir.mkdir(parents=True)
    shutil.copytree(base / "data", run_dir / "data")
    shutil.copy(base / "manifest.json", run_dir / "manifest.json")
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The data once, then the studies one after another (``serial``) and on the cluster (``parallel``)."""
    tmp = tmp_path_factory.mktemp("studies")
    config_path = tmp / "tiny.yaml"
    config_path.write_text(yaml.safe_dump(TINY))
    config = load_config(config_path)
    run_stage(config, tmp / "base", "data")
    serial, parallel = _copy_data(tmp / "base", tmp / "serial"), _copy_data(tmp / "base", tmp / "parallel")
    start = time.perf_counter()
    # the train stage as the chain of `l1ad run` beside them (train -> quantize -> firmware there)
    serial_summaries = run_studies(config, serial, STUDIES, parallel=False, chain=CHAIN)
    serial_s = time.perf_counter() - start
    console = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(console):  # also catches the lines printed by the client's event thread
        parallel_summaries = run_studies(config, parallel, STUDIES, chain=CHAIN)
    parallel_s = time.perf_counter() - start
    print(f"tiny studies: one after another {serial_s:.1f} s, on 2 Dask workers {parallel_s:.1f} s")
    return {
        "tmp": tmp,
        "config": config,
        "config_path": config_path,
        "serial": serial,
        "parallel": parallel,
        "serial_summaries": serial_summaries,
        "parallel_summaries": parallel_summaries,
        "console": console.getvalue(),
    }


def test_a_study_runs_after_the_studies_it_reads() -> None:
    assert order_studies(["mpdr", "gaussian", "nae", "anomalyclr"]) == [
        "studies/nae",
        "studies/anomalyclr",
        "studies/mpdr",
        "studies/gaussian",
    ]
    default = Config().run.studies  # the default order already has mpdr after both
    assert order_studies(default) == [f"studies/{s}" for s in default]
    assert order_studies(["mpdr", "mpdr"]) == ["studies/mpdr"]
    # how many can run at once: nae and mpdr alone make a chain (run here, no cluster); with gaussian, two
    assert (
        _width(order_studies(["mpdr", "nae"])) == 1
        and _width(order_studies(["nae", "mpdr", "gaussian"])) == 2
    )
    assert _width(order_studies(default)) == 5


def test_the_longest_chain_starts_first(tmp_path: Path) -> None:
    pending = order_studies(Config().run.studies)
    prio = _priorities(RunDir(tmp_path, Config()), pending)
    # anomalyclr (170 s) and mpdr (49 s, waits for it) make the longest chain; gaussian the shortest
    assert max(prio, key=prio.get) == "studies/anomalyclr" and min(prio, key=prio.get) == "studies/gaussian"
    assert prio["studies/nae"] > prio["studies/oneclass"]  # nae 58 s, then mpdr 49 s


def test_studies_ran_as_tasks_with_logs_and_console_lines(runs) -> None:
    run_dir, console = runs["parallel"], runs["console"]
    rd = RunDir(run_dir, runs["config"])
    pids = set()
    for name in STUDIES:
        stage = f"studies/{name}"
        assert re.search(rf"^\[{stage}\] started on worker \S+ \(1 CPU thread\), log: ", console, re.M), (
            console
        )
        assert re.search(rf"^\[{stage}\] done in [0-9.]+ s on worker \S+ -> ", console, re.M), console
        log = (run_dir / "logs" / f"{name}.log").read_text()
        header = re.search(r"==== \S+ (\S+) on Dask worker \S+ \(pid (\d+), CPU threads: 1\)", log)
        assert header and header.group(1) == stage, log
        pids.add(int(header.group(2)))
        # the study's own output went to its log, not to the console
        assert f"[{stage}] done in " in log
        assert f"  {name}: logistic regression" in log if name == "gaussian" else f"  [{name}] seed 1" in log
        record = rd.stage_record(stage)
        assert record["fingerprint"] == fingerprint(runs["config"], stage) and record["seconds"] > 0
        assert (run_dir / stage / "study.json").is_file()
    assert os.getpid() not in pids and len(pids) == 2, "two worker processes, not this one"
    assert "gaussian: logistic regression" not in console and "[nae] seed 1" not in console
    assert re.search(r"^\[studies\] 3 done beside train in [0-9.]+ s of wall time", console, re.M)
    # mpdr started only after nae ended (it quotes nae's results)
    assert console.index("[studies/nae] done in") < console.index("[studies/mpdr] started")
    assert "nae/nae" in _study(run_dir, "mpdr")["external"]
    assert not list(run_dir.rglob("*.partial"))
    assert not [p for p in (run_dir / ".checkpoints").rglob("*") if p.is_file()], "checkpoints removed"


def test_the_chain_ran_beside_them_with_the_results_it_has_alone(runs) -> None:
    """`l1ad run`'s chain as a task: its output in logs/chain.log and copied to the console, its figures
    those of the chain run in this process (the same threads), its CPU seconds recorded."""
    run_dir, console = runs["parallel"], runs["console"]
    log = (run_dir / "logs" / "chain.log").read_text()
    assert re.search(r"^==== \S+ chain on Dask worker \S+ \(pid \d+, CPU threads: \d+\)", log, re.M), log
    assert "[train] done in " in log and "[train] done in " in console, console
    assert "[chain] started" not in console and "[chain] done" not in console
    got = read_scores(run_dir / "train" / "ae" / "scores.h5")[0]
    want = read_scores(runs["serial"] / "train" / "ae" / "scores.h5")[0]
    assert got.shape == want.shape and np.array_equal(got, want)
    for run in (run_dir, runs["serial"]):
        record = RunDir(run, runs["config"]).stage_record("train")
        assert record["fingerprint"] == fingerprint(runs["config"], "train") and record["cpu_seconds"] > 0


def test_the_same_outputs_as_one_after_another(runs) -> None:
    _assert_same_results(runs["parallel"], runs["serial"])
    assert _figures(runs["parallel_summaries"]) == _figures(runs["serial_summaries"])


def test_a_rerun_skips_them_and_a_failed_study_leaves_the_others(runs, tmp_path: Path) -> None:
    config = runs["config"]
    run_dir = runs["tmp"] / "failing"
    shutil.copytree(runs["parallel"], run_dir)
    console = io.StringIO()
    with contextlib.redirect_stdout(console):
        assert run_studies(config, run_dir, STUDIES) == runs["parallel_summaries"]  # from the manifest
    assert "started" not in console.getvalue() and "[studies]" not in console.getvalue()

    # a gaussian study that fails at once, and an mpdr to redo (other settings): mpdr still finishes
    broken = dataclasses.replace(config)
    broken.studies = dataclasses.replace(
        config.studies,
        gaussian=dataclasses.replace(config.studies.gaussian, epochs=(0, 5)),
        mpdr=dataclasses.replace(config.studies.mpdr, visible_steps=2),
    )
    before = RunDir(run_dir, config).read_manifest()["stages"]
    console = io.StringIO()
    with contextlib.redirect_stdout(console), pytest.raises(L1adError, match="studies.gaussian"):
        run_studies(broken, run_dir, STUDIES)
    out = console.getvalue()
    assert re.search(r"^\[studies/gaussian\] failed: L1adError: studies.gaussian", out, re.M), out
    assert "[studies/mpdr] done in" in out and "[studies/nae]" not in out  # nae was up to date
    after = RunDir(run_dir, broken).read_manifest()["stages"]
    assert after["studies/gaussian"] == before["studies/gaussian"]  # the failed study's old record and folder
    assert after["studies/nae"] == before["studies/nae"]
    assert (
        after["studies/mpdr"]["fingerprint"]
        == fingerprint(broken, "studies/mpdr")
        != fingerprint(config, "studies/mpdr")
    )
    assert "Traceback" in (run_dir / "logs" / "gaussian.log").read_text()
    assert not list(run_dir.rglob("*.partial"))


def _driver_run(runs: dict, name: str) -> tuple[list[str], dict[str, str], Path]:
    """The command running the studies in a process of their own on the run folder ``name`` (a copy of the
    base run's data), its environment and that folder."""
    tmp = runs["tmp"]
    driver = tmp / "driver.py"
    driver.write_text(DRIVER)
    run_dir = _copy_data(tmp / "base", tmp / name)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    return [sys.executable, str(driver), str(runs["config_path"]), str(run_dir)], env, run_dir


def _start(command: list[str], env: dict[str, str], **options: Any) -> subprocess.Popen:
    """``command`` started with its output and errors in one text pipe (``options``: more ``Popen`` arguments)."""
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **options
    )


def _wait_for_nae(proc: subprocess.Popen, run_dir: Path) -> None:
    """Wait (240 s at most) until nae writes into its temporary folder on a worker."""
    deadline = time.monotonic() + 240
    while not list((run_dir / "studies").glob(".nae.*.partial")):
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "nae never under way"
        time.sleep(0.02)


def test_a_killed_run_resumes_to_the_same_results(runs) -> None:
    command, env, run_dir = _driver_run(runs, "killed")
    proc = _start(command, env, start_new_session=True)  # workers in its process group
    _wait_for_nae(proc, run_dir)  # kill while nae is under way
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    recorded = RunDir(run_dir, runs["config"]).read_manifest()["stages"]
    for stage in recorded:
        assert (run_dir / stage).is_dir(), f"{stage} recorded without its folder"
    assert "studies/mpdr" not in recorded  # it waits for nae

    proc = _start(command, env, start_new_session=True)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    for stage, record in recorded.items():  # what was done before the kill is not redone
        assert RunDir(run_dir, runs["config"]).stage_record(stage) == record, stage
        assert f"[{stage}] started" not in out
    assert "[studies/nae] started" in out
    assert not list(run_dir.rglob("*.partial")), "the killed run's temporary folders are cleaned up"
    assert not [p for p in (run_dir / ".checkpoints").rglob("*") if p.is_file()], "checkpoints removed"
    _assert_same_results(run_dir, runs["serial"])


def test_sigterm_unwinds_and_the_rerun_resumes(runs) -> None:
    command, env, run_dir = _driver_run(runs, "terminated")
    proc = _start(command, env)
    _wait_for_nae(proc, run_dir)
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted" in out, out
    print(f"SIGTERM to exit: {time.monotonic() - start:.1f} s")
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not list(run_dir.rglob("*.partial"))
    _assert_same_results(run_dir, runs["serial"])


def test_studies_command_runs_the_named_study_and_never_the_chain(tmp_path, capsys) -> None:
    """`l1ad studies --only gaussian`: the data stage and the study, not the chain (no report without it); a
    second call skips the finished study."""
    import yaml

    from l1ad import cli

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY | {"cluster": {"workers": 1, "parallel_studies": False}}))
    argv = ["studies", "--only", "gaussian", "--config", str(config), "--run-dir", str(tmp_path / "run")]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "run" / "studies" / "gaussian" / "study.json").is_file()
    assert "[train]" not in out and "report not rebuilt: the main job is not up to date" in out
    assert cli.main(argv) == 0
    assert "[studies/gaussian]" not in capsys.readouterr().out  # finished: skipped without a word
