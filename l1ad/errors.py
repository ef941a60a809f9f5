"""Expected failures of l1ad: bad input files, bad configs, failed gates.

The CLI prints one line for an ``L1adError`` and exits with its ``exit_code``;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class L1adError(Exception):
    """A failure the user can fix; printed as one line, exit code 2."""

    exit_code = 2


class InputError(L1adError):
    """A file (data, model, config) that cannot be used: names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class DesignError(L1adError):
    """A design l1ad will not build here (e.g. a distributed-arithmetic layer too large to solve):
    names the layer, its size and the limit."""


class GateError(L1adError):
    """A CI gate (``l1ad check``) failed: names the model and the figure."""

    exit_code = 1
