"""What a person sees of a long run: step lines and progress bars on the console, everything in a log.

A stage writes all it likes (Keras' epoch lines, TensorFlow's warnings, compilers, hls4ml) with plain
``print`` or to the file descriptors; ``quiet_stage`` sends all of it to the stage's log file and copies
to the console only

- **step lines**: a line that starts with ``[`` (``[firmware] done``) or with two spaces, a name and a
  colon or a column gap (``  ocdn: csim == QKeras on 100% of events``): one per model and step, the
  convention every stage prints its steps with, and
- **progress bars**: tqdm's carriage-return updates, redrawn in place.

Deeper-indented lines (``    epoch 3/8: ...``), Keras' own progress and library warnings stay in the log.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from l1ad.errors import L1adError

# "[stage] ...", or two spaces, a name and a colon or a column gap ("  ocdn: ...", "  dijet       source=...");
# not a traceback's "  File ..." nor deeper-indented detail
STEP_LINE = re.compile(r"^(\[|  [\w./-]+(:| {2,}))")
_ACTIVE: list[Path] = []  # the files redirect_output sends this process's output to, innermost last


@contextlib.contextmanager
def redirect_output(path: str | Path) -> Iterator[None]:
    """Send this process's stdout and stderr to ``path`` (appended) while the block runs: Python's
    streams and file descriptors 1 and 2, so TensorFlow's C++ logging and compilers' output go there too.

    For a process that runs one task at a time (a Dask worker with one thread): other threads of the
    process writing meanwhile land in the same file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _ACTIVE.append(path)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    # Python's streams for the block write to file descriptors 1 and 2 and are never closed: a logging
    # handler created inside the block keeps its stream, and writes to the console after it, not to a
    # closed file (TensorFlow's logger is made on first use)
    streams = [open(fd, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False) for fd in (1, 2)]
    with open(path, "a", buffering=1, encoding="utf-8", errors="replace") as log:
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            with contextlib.redirect_stdout(streams[0]), contextlib.redirect_stderr(streams[1]):
                yield
        finally:
            for stream in (*streams, sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
                with contextlib.suppress(Exception):
                    stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            _ACTIVE.pop()


def active_log() -> Path | None:
    """The file ``redirect_output`` sends this process's output to now (None: none)."""
    return _ACTIVE[-1] if _ACTIVE else None


def is_step_line(line: str) -> bool:
    """True for the lines the console shows (see the module docstring)."""
    return bool(STEP_LINE.match(line))


class LogEcho:
    """Copies what is appended to a log file onto ``out``, in a thread, until ``stop``: all of it, or with
    ``steps_only`` the step lines and progress bars (``is_step_line``)."""

    def __init__(self, path: Path, out: TextIO | None = None, steps_only: bool = False) -> None:
        self.path = path
        self.out = out
        self.steps_only = steps_only
        self._offset = path.stat().st_size if path.exists() else 0  # what earlier runs wrote stays there
        self._pending = ""  # an unfinished line (steps_only)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("r", errors="replace", newline="") as f:
            f.seek(self._offset)
            text = f.read()
            self._offset = f.tell()
        out = self.out or sys.stdout
        if text and not self.steps_only:
            out.write(text)
        elif text:
            out.write(self._steps(text))
        out.flush()

    def _steps(self, text: str) -> str:
        *lines, self._pending = (self._pending + text).split("\n")
        shown = []
        for line in lines:
            last = line.rsplit("\r", 1)[-1]
            if "\r" in line or is_step_line(last):  # a finished progress bar, or a step
                shown.append(("\r" if "\r" in line else "") + last + "\n")
        if "\r" in self._pending:  # a progress bar being drawn: its latest state, in place
            shown.append("\r" + self._pending.rsplit("\r", 1)[-1])
        return "".join(shown)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._copy()

    def stop(self) -> None:
        """Copy what is left and end the thread (idempotent)."""
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join()
            self._copy()


def _console() -> TextIO:
    """Where the console is now: a duplicate of file descriptor 1 when ``sys.stdout`` writes to it (it is
    redirected to the log next), else ``sys.stdout`` itself (a capture, or an outer log)."""
    with contextlib.suppress(AttributeError, OSError, ValueError, io.UnsupportedOperation):
        if sys.stdout.fileno() == 1:
            sys.stdout.flush()
            return os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8", errors="replace")
    return sys.stdout


@contextlib.contextmanager
def quiet_stage(log: Path) -> Iterator[None]:
    """Run the block with its output appended to ``log`` (follow it with ``tail -f``) and its step lines
    and progress bars on the console. When the block ends with an ``L1adError`` (bad input, a refused
    design: its one-line message says it all) the log is put back as it was, so the run directory is
    unchanged. Nothing changes when the output already goes to ``log`` (a study run as a Dask task, whose
    task log is this one)."""
    log = Path(log)
    if active_log() == log:
        yield
        return
    console = _console()
    created = [d for d in log.parents if not d.exists()]  # the folders made for the log, deepest first
    before = log.stat() if log.exists() else None
    log.parent.mkdir(parents=True, exist_ok=True)
    echo = LogEcho(log, console, steps_only=True)
    try:
        with redirect_output(log):
            yield
    except L1adError:
        if before is None:
            log.unlink(missing_ok=True)
            for folder in created:
                with contextlib.suppress(OSError):
                    folder.rmdir()
        else:
            os.truncate(log, before.st_size)
            os.utime(log, ns=(before.st_atime_ns, before.st_mtime_ns))
        raise
    finally:
        echo.stop()
        if console is not sys.stdout:
            console.close()
