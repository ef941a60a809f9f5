"""The run directory: one sub-folder per stage plus ``manifest.json``.

The manifest records the config, seeds, package versions, git commit and, per
stage, a fingerprint of the config entries the stage depends on (and of its
upstream stages) with its timing. A stage whose folder exists and whose
fingerprint matches is skipped on rerun (resume); each stage writes into a
temporary folder that replaces its real folder only when the stage succeeds, so
the manifest never points at half-written outputs.
"""

from __future__ import annotations

import fcntl
import subprocess
import time
from pathlib import Path
from typing import Any

from l1ad.artifacts import RunPaths
from l1ad.config import Config
from l1ad.envcheck import installed_versions
from l1ad.errors import InputError
from l1ad.io import read_json, write_json


def git_commit() -> str | None:
    """The commit of the l1ad checkout, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


class RunDir:
    """A run directory and its manifest (its paths: ``paths``, ``l1ad.artifacts``)."""

    def __init__(self, path: str | Path, config: Config) -> None:
        self.path = Path(path)
        self.paths = RunPaths(self.path)
        self.config = config

    def read_manifest(self) -> dict[str, Any]:
        path = self.paths.manifest
        if not path.exists():
            return {}
        manifest = read_json(path)
        if not isinstance(manifest, dict):
            raise InputError(path, "manifest is not a JSON object")
        return manifest

    def stage_record(self, stage: str) -> dict[str, Any] | None:
        return self.read_manifest().get("stages", {}).get(stage)

    def is_done(self, stage: str, fingerprint: str) -> bool:
        """True when ``stage`` finished with this fingerprint and its folder is present."""
        record = self.stage_record(stage)
        return bool(record and record.get("fingerprint") == fingerprint and self.paths.stage(stage).is_dir())

    def record_stage(
        self,
        stage: str,
        fingerprint: str,
        seconds: float,
        summary: dict[str, Any],
        cpu_seconds: float | None = None,
        models: dict[str, str] | None = None,
    ) -> None:
        """Write the stage's record into the manifest (atomically, after its outputs are in place):
        wall ``seconds`` and, when given, the ``cpu_seconds`` of its process and the tools it ran, and
        the fingerprint of each deployed model's part (``models``, stages with a folder per model).

        The read-modify-write holds a lock on the run directory, so two l1ad processes finishing
        stages of one run directory at once (two studies, say) both keep their records.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.paths.manifest_lock, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or when the process dies
            self._record_stage(stage, fingerprint, seconds, summary, cpu_seconds, models)

    def _record_stage(
        self,
        stage: str,
        fingerprint: str,
        seconds: float,
        summary: dict[str, Any],
        cpu_seconds: float | None,
        models: dict[str, str] | None,
    ) -> None:
        manifest = self.read_manifest()
        manifest.update(
            {
                "name": self.config.run.name,
                "config": self.config.to_dict(),
                "seeds": [self.config.run.seed + k for k in range(self.config.run.n_seeds)],
                "versions": installed_versions(),
                "git_commit": git_commit(),
            }
        )
        stages = manifest.setdefault("stages", {})
        stages[stage] = {
            "fingerprint": fingerprint,
            "seconds": round(seconds, 2),
            "cpu_seconds": None if cpu_seconds is None else round(cpu_seconds, 2),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "summary": summary,
            **({"models": models} if models else {}),
        }
        write_json(self.paths.manifest, manifest)
