"""Interruptions: kill `l1ad run` during every stage, rerun, and get the uninterrupted run's results.

One run directory, killed progressively: during data, then (rerun) during train, quantize,
firmware and report, then a rerun to the end. SIGKILL of the whole process group is the harsh
case (nothing unwinds: temporary folders stay behind); SIGTERM, a batch system's polite kill,
must unwind and remove the stage's temporary folder. After every kill the manifest parses and
every stage it records has its complete folder; each rerun redoes only the killed stage and what
follows it; the finished run leaves no temporary files and equals an uninterrupted run of the
same config (the session's tiny run, conftest.py: data files byte-identical, AUCs within 1e-3, csim
agreement, saturation and trigger thresholds identical). The TINY config (tests/pipeline_helpers.py),
RTL simulation included, real stages via the CLI.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import pytest

from tests.pipeline_helpers import TINY, write_config

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("ocdn", "ae", "nurd")
STAGES = ("data", "train", "quantize", "firmware", "report")

# What each stage's folder holds when complete.
COMPLETE = {
    "data": ["summary.json", "dijet_splits.h5", "l1_splits.h5", "jet_images_splits.h5"],
    "train": [f"{m}/{f}" for m in MODELS for f in ("info.json", "scores.h5")],
    "quantize": [f"{m}/{f}" for m in MODELS for f in ("info.json", "scores.h5", "qmodel.h5")],
    "firmware": [f"{m}/{f}" for m in MODELS for f in ("csim_validation.json", "csim_scores.h5")],
    "report": ["report.json", "report.md", "report.html"],
}

# Where to kill: the stage, a file inside its temporary folder that shows it is well under way
# (the first model or data family done, the next one in progress), and the signal.
PLAN = (
    ("data", "l1", signal.SIGKILL),
    ("train", "ocdn/info.json", signal.SIGKILL),
    ("quantize", "ocdn/info.json", signal.SIGTERM),
    ("firmware", "ocdn/csim_validation.json", signal.SIGKILL),
    ("report", "plots/ocdn_scores.png", signal.SIGKILL),
)

TIMEOUT_S = 600  # a guard against a hung run, not a speed limit: the machine may be shared


class Cli:
    """``l1ad run`` in a subprocess of its own process group, its output collected line by line."""

    def __init__(self, config: Path, run_dir: Path) -> None:
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
        command = [
            sys.executable,
            "-m",
            "l1ad.cli",
            "run",
            "--config",
            str(config),
            "--run-dir",
            str(run_dir),
        ]
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: g++ children die with it
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def started(self, stage: str) -> bool:
        """True once the stage itself runs (not skipped as up to date)."""
        return any(
            line.startswith(f"[{stage}] ") and "up to date" not in line and " done in " not in line
            for line in self.lines
        )

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while not condition():
            assert self.proc.poll() is None, (
                f"l1ad exited ({self.proc.returncode}) before {what}:\n{self.output}"
            )
            assert time.monotonic() < deadline, f"no {what} after {TIMEOUT_S} s:\n{self.output}"
            time.sleep(0.02)

    def kill(self, sig: int) -> int:
        if sig == signal.SIGKILL:
            os.killpg(self.proc.pid, sig)  # the harsh case: the whole job, nothing unwinds
        else:
            os.kill(self.proc.pid, sig)  # the polite case: l1ad alone, it must unwind
        rc = self.finish()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers (a g++ still compiling)
        except ProcessLookupError:
            pass
        return rc

    def finish(self) -> int:
        rc = self.proc.wait(timeout=TIMEOUT_S)
        self.reader.join(timeout=10)
        return rc


def partials(run_dir: Path, stage: str | None = None) -> list[Path]:
    """Temporary folders and files (of one stage's folder, or anywhere in the run directory)."""
    if stage is None:
        return sorted(run_dir.rglob("*.partial"))
    return sorted(run_dir.glob(f".{stage}.*.partial"))


def recorded_stages(run_dir: Path) -> dict:
    path = run_dir / "manifest.json"
    return json.loads(path.read_text())["stages"] if path.exists() else {}


def assert_consistent(run_dir: Path) -> dict:
    """The manifest parses and every stage it records has its complete, readable folder."""
    stages = recorded_stages(run_dir)
    for stage in stages:
        folder = run_dir / stage
        for name in COMPLETE[stage]:
            assert (folder / name).is_file(), f"{stage} recorded but {name} missing"
        for path in folder.rglob("*.json"):
            json.loads(path.read_text())
        for path in folder.rglob("*.h5"):
            with h5py.File(path, "r") as f:
                f.visit(lambda name, f=f: f[name][()] if isinstance(f[name], h5py.Dataset) else None)
    return stages


def test_killed_in_every_stage_resumes_to_the_uninterrupted_results(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    config = write_config(tmp_path / "tiny.yaml", TINY)
    run_dir = tmp_path / "run"
    for k, (stage, marker, sig) in enumerate(PLAN):
        cli = Cli(config, run_dir)

        def under_way(stage: str = stage, marker: str = marker, cli: Cli = cli) -> bool:
            return cli.started(stage) and any((p / marker).exists() for p in partials(run_dir, stage))

        cli.wait_until(under_way, f"{stage} under way ({marker})")
        rc = cli.kill(sig)
        # resumed: this run redid the stage killed last time, not the ones finished before it
        for earlier in STAGES[: max(k - 1, 0)]:
            assert not cli.started(earlier), f"{earlier} redone after a kill during a later stage"
        stages = assert_consistent(run_dir)
        assert set(stages) == set(STAGES[:k]), f"killed during {stage}: manifest records {sorted(stages)}"
        if sig == signal.SIGKILL:
            assert partials(run_dir, stage), "SIGKILL leaves the temporary folder behind"
        else:
            assert rc == 130 and "interrupted; rerun the same command to resume" in cli.output, cli.output
            assert partials(run_dir, stage) == [], "SIGTERM unwinds: the temporary folder is removed"

    final = Cli(config, run_dir)
    assert final.finish() == 0, final.output
    assert "[check] passed" in final.output
    assert [s for s in STAGES if final.started(s)] == ["report"]  # the report is always rewritten
    assert set(assert_consistent(run_dir)) == set(STAGES)
    assert partials(run_dir) == [], "leftovers of the killed runs were cleaned up"
    assert not (run_dir / ".checkpoints").exists() or not any((run_dir / ".checkpoints").iterdir())

    # the uninterrupted run, asked for only now: another pytest-xdist worker may be building it meanwhile
    _, ref_dir, failures = request.getfixturevalue("tiny_run")
    assert failures == []
    # data files byte-identical
    data_files = sorted(p.relative_to(ref_dir) for p in (ref_dir / "data").rglob("*") if p.is_file())
    assert data_files and data_files == sorted(
        p.relative_to(run_dir) for p in (run_dir / "data").rglob("*") if p.is_file()
    )
    for rel in data_files:
        assert (run_dir / rel).read_bytes() == (ref_dir / rel).read_bytes(), rel
    # the same figures
    got, want = (json.loads((d / "report" / "report.json").read_text())["models"] for d in (run_dir, ref_dir))
    assert set(got) == set(want) == set(MODELS)
    for name in MODELS:
        for signal_name, figures in want[name]["per_signal"].items():
            for version, auc in figures["auc"].items():
                assert abs(got[name]["per_signal"][signal_name]["auc"][version] - auc) <= 1e-3, (
                    name,
                    version,
                )
        assert got[name]["csim"] == want[name]["csim"]
        assert got[name]["saturation"] == want[name]["saturation"]
        assert _untimed(got[name]["trigger"]) == _untimed(want[name]["trigger"])


def _untimed(trigger: dict) -> dict:
    """The trigger record without the rate sample's scoring speed (the only figure that may differ)."""
    sample = {k: v for k, v in trigger["background_sample"].items() if k != "events_per_second"}
    return {**trigger, "background_sample": sample}
