"""What a stage is handed to spread its work: a task runner (the orchestration picks which one).

A task is (key, function, arguments); a ``TaskRunner`` runs a list of them, calls ``store(key, result)`` as
each finishes and returns the number of workers it used (0: this process). ``run_here`` runs them one after
another in this process; ``l1ad.cluster.cluster_runner`` on the Dask cluster of the ``cluster`` section.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Task = tuple[Any, Callable[..., Any], tuple[Any, ...]]
TaskRunner = Callable[[list[Task], Callable[[Any, Any], None], str], int]


def run_here(tasks: list[Task], store: Callable[[Any, Any], None], desc: str) -> int:
    """A ``TaskRunner`` that runs the tasks one after another in this process, with a progress bar."""
    from tqdm import tqdm

    for key, function, args in tqdm(tasks, desc=desc, unit="chunk"):
        store(key, function(*args))
    return 0
