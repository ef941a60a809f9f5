"""Bad input through the real command line: one line naming the file, exit 2, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def l1ad(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "l1ad.cli", *args], capture_output=True, text=True, cwd=ROOT)


def corrupt_h5(path: Path) -> None:
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)  # an HDF5 signature, then nothing


def nan_npy(path: Path) -> None:
    a = np.random.default_rng(0).normal(size=(100, 6)).astype(np.float32)
    a[:, 5] = a[:, 5] > 0
    a[7, 2] = np.nan
    np.save(path, a)


@pytest.mark.parametrize(
    "name, make, problem",
    [
        ("events.features.h5", corrupt_h5, "truncated or corrupt"),
        ("empty.h5", lambda p: p.write_bytes(b""), "empty"),
        ("prepared.npy", nan_npy, "NaN"),
    ],
)
def test_bad_dijet_file(tmp_path, name, make, problem):
    bad = tmp_path / name
    make(bad)
    config = tmp_path / "c.yaml"
    config.write_text(f"data:\n  dijet:\n    source: {bad}\n")
    run_dir = tmp_path / "run"
    out = l1ad("data", "--config", str(config), "--run-dir", str(run_dir))
    assert out.returncode == 2, out.stderr
    line = out.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert str(bad) in line and problem in line
    # the stage's temporary folder is gone and nothing was recorded
    assert not run_dir.exists() or not any(run_dir.iterdir())


def test_missing_l1_directory(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        f"data:\n  dijet:\n    n_background: 20000\n  l1:\n    source: {tmp_path / 'nowhere'}\n"
    )
    out = l1ad("data", "--config", str(config), "--run-dir", str(tmp_path / "run"))
    assert out.returncode == 2
    assert "nowhere" in out.stderr and out.stderr.strip().count("\n") == 0


def test_check_without_report(tmp_path):
    out = l1ad("check", "--run-dir", str(tmp_path))
    assert out.returncode == 2
    assert "no report.json" in out.stderr
