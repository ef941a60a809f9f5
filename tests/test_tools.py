"""The one runner of external programs (firmware/tools.py): log, exit status, timeout, CPU time, discovery."""

from __future__ import annotations

import subprocess
import sys

import pytest

from firmware import tools
from l1ad.errors import L1adError


def test_a_program_runs_with_its_output_in_its_log_and_its_own_cpu_time(tmp_path) -> None:
    burn = (
        "import sys\nx = 0\nfor i in range(3_000_000): x += i\nprint('done'); print('warn', file=sys.stderr)"
    )
    ran = tools.run([sys.executable, "-c", burn], tmp_path, "a busy loop", "logs/busy.log")
    assert ran.returncode == 0 and ran.output() == "done\nwarn\n"
    assert (tmp_path / "logs" / "busy.log").is_file()
    assert 0 < ran.cpu_seconds <= ran.seconds + 0.5


def test_a_failure_names_the_program_and_its_last_line(tmp_path) -> None:
    cmd = [sys.executable, "-c", "print('compiling'); raise SystemExit('error: no such type ap_fixed<0,0>')"]
    with pytest.raises(
        L1adError, match=r"g\+\+ build failed \(exit 1, log .*build.log\): error: no such type"
    ):
        tools.run(cmd, tmp_path, "g++ build", "build.log")
    assert tools.run(cmd, tmp_path, "g++ build", "build.log", check=False).returncode == 1


def test_a_program_past_its_timeout_is_stopped(tmp_path) -> None:
    started = tools.start(
        [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path, "a sleeper", "s.log"
    )
    with pytest.raises(subprocess.TimeoutExpired):
        started.wait(timeout_s=0.5)
    assert started.ended and started.returncode != 0


def test_a_missing_program_is_refused_in_one_line() -> None:
    assert tools.find("no-such-program-l1ad") is None
    with pytest.raises(L1adError, match="no-such-program-l1ad not found on PATH: install it"):
        tools.require("no-such-program-l1ad", "install it")
    assert tools.version(["no-such-program-l1ad", "--version"]) == ""
