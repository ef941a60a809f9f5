"""Environment drift seen from outside: a faked Keras 3 / TF 2.16 / numpy 2 install stops the `l1ad`
command with one line naming the problem and exit code 2, and the Python API with an exception.

The versions are faked with a ``<name>-<version>.dist-info`` folder put first on PYTHONPATH: package
metadata is read in path order, which is what l1ad's check reads (nothing is imported or installed).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _fake(tmp_path: Path, name: str, version: str) -> dict[str, str]:
    info = tmp_path / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return dict(os.environ, PYTHONPATH=str(tmp_path))


@pytest.mark.parametrize(
    "name, version, phrase",
    [
        ("keras", "3.3.3", "keras 3.3.3 is Keras 3"),
        ("tensorflow", "2.16.1", "tensorflow 2.16.1 ships Keras 3"),
        ("numpy", "2.0.1", "l1ad needs numpy<2"),
    ],
)
def test_command_stops_with_one_line_and_exit_2(tmp_path: Path, name: str, version: str, phrase: str) -> None:
    env = _fake(tmp_path, name, version)
    out = subprocess.run(
        [sys.executable, "-m", "l1ad.cli", "check", "--run-dir", str(tmp_path / "run")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("l1ad: error: ") and phrase in out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert "tensorflow 2.14.1, keras 2.14" in out.stderr  # says what to install


def test_entry_point_says_the_same(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "l1ad"
    if not script.is_file():
        pytest.skip("the l1ad entry point is not installed in this environment")
    out = subprocess.run(
        [str(script), "--help"], env=_fake(tmp_path, "keras", "3.0.0"), capture_output=True, text=True
    )
    assert out.returncode == 2 and out.stderr.startswith("l1ad: error: keras 3.0.0 is Keras 3")


def test_python_api_raises(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import l1ad"],
        cwd=ROOT,
        env=_fake(tmp_path, "keras", "3.3.3"),
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1
    assert "l1ad.envcheck.EnvironmentDriftError: keras 3.3.3 is Keras 3" in out.stderr


def test_the_pinned_stack_passes(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "l1ad.cli", "check", "--run-dir", str(tmp_path / "run")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    # past the environment check: the command now fails on the missing report, as bad input
    assert out.returncode == 2 and "report.json" in out.stderr and "Keras" not in out.stderr


def test_the_lock_pins_every_dependency_within_pyproject() -> None:
    """requirements.lock (what scripts/setup.sh installs, without resolution) holds every dependency of
    pyproject.toml, dev tools included, at one exact version its specifier admits; torch is installed
    before it (the CPU build) and left out."""
    import tomllib
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    lock = {}
    for line in (root / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            lock[canonicalize_name(name)] = version
    for text in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        if name == "torch":
            assert name not in lock
            continue
        assert name in lock, f"{name} is not in requirements.lock"
        assert requirement.specifier.contains(lock[name], prereleases=True), f"{name}=={lock[name]} vs {text}"
