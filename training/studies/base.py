"""The frame every full-precision study runs in, so that a study file holds its method and its claim.

``Study`` is one study's run: where it writes (``studies/<name>/``), its checkpoints (a rerun resumes),
its seeds, its device, the label of its plots, its score files, and how it ends (study.json as a typed
record, study.md with its heading and figure links). ``MethodRuns`` is one method's runs over the
seeds: per-run figures and test scores, aggregated as every study reports them (``aggregate_runs``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from l1ad.artifacts import RunPaths, StudyPaths
from l1ad.config import Config
from training.data.splits import Splits, read_splits
from training.stage import write_scores
from training.studies.common import aggregate_runs, write_study


class Study:
    """One study's run: ``name`` (its folder under ``studies/`` and its console tag) and ``title`` (the
    heading of its study.md section), on ``config`` in the run directory ``run_dir``, writing into ``out``."""

    def __init__(self, name: str, title: str, config: Config, out: str | Path, run_dir: str | Path) -> None:
        self.name, self.title, self.config = name, title, config
        self.out, self.run_dir = Path(out), Path(run_dir)
        self.paths = StudyPaths(self.out)
        # survives an interruption: a rerun resumes every training that checkpoints its epochs
        self.checkpoints = RunPaths(self.run_dir).checkpoints(f"studies/{name}")
        self.seeds = tuple(config.run.seed + k for k in range(config.run.n_seeds))

    @functools.cached_property
    def device(self) -> str:
        """The torch device of ``train.device`` (``training.device``)."""
        from training.device import torch_device

        return torch_device(self.config.train.device)

    def splits(self, family: str) -> Splits:
        """The run's model-ready splits of ``family`` (the data stage's)."""
        return read_splits(RunPaths(self.run_dir).data.splits(family))

    def data_label(self, source: str) -> str:
        """The data label of this study's plots (synthetic or the file's name)."""
        from reports.stage import data_label

        return data_label(source)

    def log(self, text: str) -> None:
        """One console line tagged with the study's name."""
        print(f"  [{self.name}] {text}", flush=True)

    def write_scores(
        self, scores: dict[str, Sequence[np.ndarray]], splits: Splits, n_background: int = 1
    ) -> None:
        """Each method's test scores (one row per run) as ``scores/<method>.h5``."""
        for key, rows in scores.items():
            write_scores(
                self.out / "scores" / f"{key}.h5", np.stack(rows), splits.test.y, splits.classes, n_background
            )

    def heading(self) -> list[str]:
        """The first lines of the study's study.md section."""
        return [f"## {self.title}", ""]

    def plot_links(self, files: Sequence[str], alt: str | None = None) -> list[str]:
        """study.md lines showing ``files`` of the study's plots folder (links relative to report/), each
        described by its file name or by ``alt``."""
        return [f"![{alt or f}](../studies/{self.name}/plots/{f})" for f in files]

    def finish(self, study: dict[str, Any], markdown_lines: Sequence[str]) -> None:
        """Write study.json (``title`` first) and study.md (the lines, one per line) atomically."""
        write_study(self.out, {"title": self.title, **study}, "\n".join(markdown_lines) + "\n")


class MethodRuns:
    """One method's runs over seeds: each run's record (its figures per signal under ``signals``, and what
    the study adds) and its test scores."""

    def __init__(self, label: str, size: dict[str, int] | None = None) -> None:
        self.label, self.size = label, size
        self.records: list[dict[str, Any]] = []
        self.scores: list[np.ndarray] = []

    def add(self, scores: np.ndarray, record: dict[str, Any]) -> None:
        """One run: its test scores and its record."""
        self.scores.append(scores)
        self.records.append(record)

    def entry(self, **extra: Any) -> dict[str, Any]:
        """The method's study.json entry: label, runs, per-run records, their aggregate over runs, size,
        then ``extra``."""
        return {
            "label": self.label,
            "n_runs": len(self.records),
            "per_run": self.records,
            "aggregate": aggregate_runs(self.records),
            "size": self.size,
            **extra,
        }
