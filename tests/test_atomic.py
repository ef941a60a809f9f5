"""Atomic artifacts (l1ad/io.py): a killed writer never leaves a half-written file or folder in place,
and its leftovers are removed by the next writer of the same path (never a live writer's)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from l1ad.io import atomic_dir, atomic_path, remove_stale_partials, write_json

ROOT = Path(__file__).resolve().parents[1]


def _killed_writer(code: str) -> None:
    """Run ``code`` in a child that SIGKILLs itself where the code says; assert it died so."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == -signal.SIGKILL, out.stderr


def test_killed_folder_writer_leaves_old_folder_or_none_and_its_leftovers_go(tmp_path: Path) -> None:
    stage = tmp_path / "train"
    stage.mkdir()
    (stage / "old.txt").write_text("complete")
    # Killed while writing the new folder: the old one stays, whole.
    _killed_writer(
        f"""
        import os, signal
        from l1ad.io import atomic_dir
        with atomic_dir({str(stage)!r}) as out:
            (out / "half.txt").write_text("half")
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    assert sorted(p.name for p in stage.iterdir()) == ["old.txt"]
    left = sorted(tmp_path.glob(".train.*.partial"))
    assert len(left) == 1 and (left[0] / "half.txt").is_file()
    # Killed in the middle of the swap (old folder moved aside, new one not yet in place):
    # the folder is absent, never half-deleted, so a resume redoes the stage.
    _killed_writer(
        f"""
        import os, signal
        from l1ad import io
        replace = os.replace
        def replace_then_die(src, dst):
            replace(src, dst)
            os.kill(os.getpid(), signal.SIGKILL)
        io.os.replace = replace_then_die
        with io.atomic_dir({str(stage)!r}) as out:
            (out / "new.txt").write_text("new")
        """
    )
    assert not stage.exists()
    # The next writer removes both killed writers' leftovers and puts its folder in place.
    with atomic_dir(stage) as out:
        (out / "new.txt").write_text("new")
    assert sorted(p.name for p in stage.iterdir()) == ["new.txt"]
    assert sorted(tmp_path.glob(".*.partial")) == []


def test_killed_file_writer_leaves_the_old_file(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    write_json(manifest, {"stages": {"data": {}}})
    _killed_writer(
        f"""
        import os, signal
        from l1ad.io import atomic_path
        with atomic_path({str(manifest)!r}) as tmp:
            tmp.write_text('{{"stages": ')
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    assert json.loads(manifest.read_text()) == {"stages": {"data": {}}}
    assert len(list(tmp_path.glob(".manifest.json.*.partial"))) == 1
    write_json(manifest, {"stages": {}})
    assert list(tmp_path.glob(".manifest.json.*.partial")) == []


def test_a_live_writers_temporary_files_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "data"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        mine = tmp_path / f".data.{live.pid}.abc.partial"
        mine.mkdir()
        dead = tmp_path / ".data.999999999.abc.partial"  # above any pid_max: no such process
        dead.mkdir()
        assert remove_stale_partials(target) == [dead]
        assert mine.is_dir() and not dead.exists()
    finally:
        live.kill()
        live.wait()


def test_an_exception_removes_the_temporary_folder(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(tmp_path / "firmware") as out:
            (out / "x").write_text("x")
            raise KeyboardInterrupt
    with pytest.raises(ValueError):
        with atomic_path(tmp_path / "a.json") as tmp:
            tmp.write_text("{")
            raise ValueError
    assert list(tmp_path.iterdir()) == []


def test_only_the_paths_own_leftovers_are_removed(tmp_path: Path) -> None:
    # a killed writer of data.json beside the folder data: cleaning for one leaves the other's
    json_leftover = tmp_path / ".data.json.999999999.abc.partial"
    json_leftover.write_text("{")
    assert remove_stale_partials(tmp_path / "data") == []
    assert remove_stale_partials(tmp_path / "data.json") == [json_leftover]


def test_concurrent_stage_records_are_all_kept(tmp_path: Path) -> None:
    """Two l1ad processes finishing stages of one run directory (two studies, say) keep both records:
    the manifest's read-modify-write holds a lock."""
    code = """
        import sys
        from l1ad.config import Config
        from l1ad.rundir import RunDir
        rd = RunDir(sys.argv[1], Config())
        for k in range(8):
            rd.record_stage(f"{sys.argv[2]}{k}", "fp", 0.0, {})
        """
    writers = [
        subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(tmp_path), tag], cwd=ROOT)
        for tag in ("a", "b")
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    stages = json.loads((tmp_path / "manifest.json").read_text())["stages"]
    assert sorted(stages) == sorted(f"{t}{k}" for t in "ab" for k in range(8))
