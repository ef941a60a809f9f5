"""The quiet console: a stage's output all in its log, only step lines and progress bars on the console."""

from __future__ import annotations

import subprocess
import sys
import time

from l1ad.console import LogEcho, is_step_line

STAGE = r"""
import os, sys, warnings
from pathlib import Path
from l1ad.console import quiet_stage

import logging

logger = logging.getLogger("like_tensorflow")
with quiet_stage(Path(sys.argv[1])):
    logger.addHandler(logging.StreamHandler())  # made on first use, as TensorFlow's: it keeps sys.stderr
    print("  ocdn: csim == QKeras on 100% of events")
    print("    epoch 1/8: CE 0.69")
    print("Epoch 1/5")
    os.write(2, b"2026-12-07 W tensorflow: a C++ warning\n")
    warnings.warn("constraints.serialize() is deprecated")
    sys.stderr.write("scoring:  50%|#####     | 1/2\rscoring: 100%|##########| 2/2\n")
    print("  ae: done")
    print('  File "x.py", line 3, in <module>')  # a traceback's line is detail, not a step
print("[firmware] done")
with quiet_stage(Path(sys.argv[1]).with_name("report.log")):
    logger.warning("a warning in the next stage")  # its log, not a closed file
"""


def test_a_stage_shows_its_steps_and_keeps_everything_in_its_log(tmp_path) -> None:
    log = tmp_path / "logs" / "firmware.log"
    result = subprocess.run(
        [sys.executable, "-c", STAGE, str(log)], capture_output=True, timeout=120, check=True
    )
    stdout, stderr = result.stdout.decode(), result.stderr.decode()  # bytes: "\r" kept as written
    assert stdout.split("\n") == [
        "  ocdn: csim == QKeras on 100% of events",
        "\rscoring: 100%|##########| 2/2",
        "  ae: done",
        "[firmware] done",
        "",
    ]
    assert stderr == ""
    text = log.read_text()
    for line in ("    epoch 1/8", "Epoch 1/5", "a C++ warning", "constraints.serialize()", "scoring:  50%"):
        assert line in text
    assert "a warning in the next stage" in (log.parent / "report.log").read_text()
    assert "[firmware] done" not in text  # printed after the block


def test_the_echo_redraws_a_progress_bar_in_place_and_skips_detail(tmp_path) -> None:
    path = tmp_path / "stage.log"
    path.write_text("from an earlier run\n")

    class Out:
        text = ""

        def write(self, s: str) -> None:
            Out.text += s

        def flush(self) -> None:
            pass

    echo = LogEcho(path, Out(), steps_only=True)
    with path.open("a") as f:
        f.write("  nurd: tracing\n    detail\nbar 10%\rbar 40%")
        f.flush()
        time.sleep(1.2)  # the thread copies every 0.5 s: the unfinished bar is shown as it is
        assert Out.text == "  nurd: tracing\n\rbar 40%"
        f.write("\rbar 100%\n")
    echo.stop()
    assert Out.text == "  nurd: tracing\n\rbar 40%\rbar 100%\n"
    assert is_step_line("[data] done") and is_step_line("  l1: rate sample") and not is_step_line("    x")


def test_a_refused_stage_leaves_the_run_directory_as_it_was(tmp_path) -> None:
    """Bad input ends a stage with an L1adError: its log goes (or goes back to what it held before)."""
    import pytest

    from l1ad.console import quiet_stage
    from l1ad.errors import InputError

    log = tmp_path / "run" / "logs" / "data.log"
    with pytest.raises(InputError), quiet_stage(log):
        print("  dijet: reading")
        raise InputError(tmp_path / "bad.h5", "'X' has shape (3,), expected 2 dimensions")
    assert not (tmp_path / "run").exists()

    with quiet_stage(log):
        print("  dijet: read")
    before, stat = log.read_text(), log.stat()
    with pytest.raises(InputError), quiet_stage(log):
        print("  l1: reading")
        raise InputError(tmp_path / "bad.h5", "empty")
    assert log.read_text() == before and log.stat().st_mtime_ns == stat.st_mtime_ns
