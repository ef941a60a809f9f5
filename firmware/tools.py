"""The external programs l1ad runs (g++, make, Verilator, Yosys, Vivado, vendor HLS): found, started, waited
for and accounted in one place.

``require`` finds a program or refuses in one line that says how to install it; ``start`` runs one in the
background with its output in a log file beside its work (stdout and stderr together, ``<stem>.log``);
``Process.wait`` ends it at a timeout and reports its wall time and its own CPU time (``os.wait4`` on its
process: other jobs sharing the cores do not add to it); ``run`` is start then wait, failing with the
log's last line. Programs that libraries start themselves (hls4ml's ``build_lib.sh`` in
``hls_model.compile``, da4ml's ``make``) are not run here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from l1ad.errors import L1adError


def find(name: str) -> str | None:
    """The path of program ``name`` on PATH, None when it is not there."""
    return shutil.which(name)


def require(name: str, how: str) -> str:
    """The path of program ``name`` on PATH; else an error saying ``how`` to install it."""
    path = find(name)
    if path is None:
        raise L1adError(f"{name} not found on PATH: {how}")
    return path


def version(cmd: Sequence[str]) -> str:
    """What ``cmd`` (a version query such as ``g++ --version``) prints; "" when the program is missing."""
    try:
        return subprocess.run(list(cmd), capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


class Process:
    """A program started by ``start``. A thread reaps it the moment it ends (``os.wait4``: its own CPU
    time), so ``seconds`` is the program's wall time, not the time until the caller asked."""

    def __init__(self, popen: subprocess.Popen, what: str, log: Path) -> None:
        self.popen, self.what, self.log = popen, what, log
        self.started = time.perf_counter()
        self.returncode: int | None = None
        self.seconds: float | None = None
        self.cpu_seconds: float | None = None
        self._ended = threading.Event()
        threading.Thread(target=self._reap, daemon=True).start()

    def _reap(self) -> None:
        _, status, usage = os.wait4(self.popen.pid, 0)
        self.seconds = time.perf_counter() - self.started
        self.cpu_seconds = round(usage.ru_utime + usage.ru_stime, 2)
        self.returncode = self.popen.returncode = os.waitstatus_to_exitcode(status)
        self._ended.set()

    def wait(self, timeout_s: float | None = None, check: bool = True) -> Process:
        """Wait until the program ends, at most ``timeout_s`` seconds from its start (then it is stopped
        and ``subprocess.TimeoutExpired`` raised); with ``check`` a non-zero exit is an error naming
        the program, its folder and the last line of its log."""
        left = None if timeout_s is None else max(0.0, self.started + timeout_s - time.perf_counter())
        if not self._ended.wait(left):
            self.stop()
            raise subprocess.TimeoutExpired(self.popen.args, timeout_s or 0)
        if check and self.returncode != 0:
            raise L1adError(
                f"{self.what} failed (exit {self.returncode}, log {self.log}): {self.last_line()}"
            )
        return self

    def output(self) -> str:
        """What the program wrote (its log)."""
        return self.log.read_text(errors="replace") if self.log.is_file() else ""

    def last_line(self) -> str:
        lines = self.output().strip().splitlines()
        return lines[-1] if lines else "no output"

    def stop(self) -> None:
        """End the program if it still runs (the work it was for failed or was interrupted)."""
        if not self._ended.is_set():
            self.popen.kill()
            self._ended.wait()

    @property
    def ended(self) -> bool:
        return self._ended.is_set()


def start(
    cmd: Sequence[str],
    cwd: str | Path,
    what: str,
    log: str | Path,
    env: Mapping[str, str] | None = None,
) -> Process:
    """Start ``cmd`` in ``cwd`` in the background, its stdout and stderr in ``log`` (relative to ``cwd``);
    ``env`` adds to this process's environment."""
    cwd = Path(cwd)
    log_path = cwd / log
    log_path.parent.mkdir(parents=True, exist_ok=True)
    environment: dict[str, Any] | None = {**os.environ, **env} if env is not None else None
    with open(log_path, "w") as out:
        popen = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Process(popen, what, log_path)


def run(
    cmd: Sequence[str],
    cwd: str | Path,
    what: str,
    log: str | Path,
    env: Mapping[str, str] | None = None,
    timeout_s: float | None = None,
    check: bool = True,
) -> Process:
    """``start`` and ``Process.wait``: the ended program (its ``returncode``, ``seconds``, ``cpu_seconds``,
    ``output()``)."""
    return start(cmd, cwd, what, log, env).wait(timeout_s, check)
