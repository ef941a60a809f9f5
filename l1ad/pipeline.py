"""The stages of an l1ad run and the make-like driver that runs them.

data -> train -> quantize -> firmware -> report, plus the full-precision studies
(``studies/<name>``, upstream ``data``) that ``l1ad study`` runs and ``run.studies``
adds to ``l1ad run``. Each stage reads its upstream stages' folders in the run
directory and writes only its own folder. Asking for a stage runs the upstream
stages that are missing or stale for the config, and skips those already done
(resume); ``force`` redoes the asked-for stage. The report only reads artifacts
and is cheap, so it is always rewritten.
"""

from __future__ import annotations

import hashlib
import importlib
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from l1ad.config import Config
from l1ad.errors import L1adError
from l1ad.io import atomic_dir
from l1ad.rundir import RunDir


@dataclass(frozen=True)
class Stage:
    name: str
    function: str  # "module:function" with signature (config, out_dir, run_dir) -> summary dict
    config_keys: tuple[str, ...]  # config entries that define the stage's outputs
    upstream: tuple[str, ...]
    help: str
    always: bool = False  # rerun every time (cheap, and reads artifacts outside its upstream chain)

    def load(self) -> Callable[[Config, Path, Path], dict[str, Any]]:
        module, function = self.function.split(":")
        return getattr(importlib.import_module(module), function)


STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage(
            "data",
            "training.stage:run_data",
            ("data", "run.seed", "run.models"),
            (),
            "generate (or read) the three data families and write model-ready splits",
        ),
        Stage(
            "train",
            "training.stage:run_train",
            ("train", "run.seed", "run.n_seeds", "metrics"),
            ("data",),
            "train the float scorers (OCDN, L1 autoencoder, NuRD) on background, N seeds",
        ),
        Stage(
            "quantize",
            "quantize.stage:run_quantize",
            ("quantize", "train.device", "run.seed", "metrics"),
            ("train",),
            "QKeras quantization-aware retraining from the float weights, and the bit-width scan",
        ),
        Stage(
            "firmware",
            "firmware.stage:run_firmware",
            ("firmware", "metrics"),
            ("quantize",),
            "hls4ml HLS projects, g++ C simulation on the test set, csim-vs-QKeras validation",
        ),
        Stage(
            "report",
            "reports.stage:run_report",
            ("metrics", "check", "firmware.budget"),
            ("firmware",),
            "report.md / report.json and plots from the run's artifacts",
            always=True,
        ),
    )
}

STUDIES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage(
            "studies/oneclass",
            "training.studies.oneclass:run_oneclass_study",
            ("studies.oneclass", "metrics", "run.seed", "train.device"),
            ("data",),
            "one-class comparison on dijet features: OC-SVM, Deep SVDD, bottleneck AE, OCDN",
        ),
        Stage(
            "studies/gaussian",
            "training.studies.gaussian:run_gaussian_study",
            ("studies.gaussian", "run.seed"),
            (),
            "1-D Gaussian toy: what a background-only BCE classifier tags",
        ),
        Stage(
            "studies/anomalyclr",
            "training.studies.anomalyclr:run_anomalyclr_study",
            ("studies.anomalyclr", "metrics", "run.seed", "train.device"),
            ("data",),
            "AnomalyCLR representations + AE against the raw-input AE on L1 objects",
        ),
        Stage(
            "studies/nae",
            "training.studies.nae:run_nae_study",
            ("studies.nae", "metrics", "run.seed", "train.device"),
            ("data",),
            "normalized autoencoder against the plain AE on L1 objects",
        ),
        Stage(
            "studies/nurd",
            "training.studies.nurd:run_nurd_study",
            ("studies.nurd", "train.nurd", "metrics", "run.seed", "train.device"),
            ("data",),
            "NuRD lambda comparison, mass decorrelation and the conv-AE baseline on jet images",
        ),
        Stage(
            "studies/mpdr",
            "training.studies.mpdr:run_mpdr_study",
            ("studies.mpdr", "metrics", "run.seed", "train.device"),
            ("data",),
            "manifold projection-diffusion recovery (MPDR-S, MPDR-R) against AE and NAE on L1 objects",
        ),
    )
}


def lookup(stage: str) -> Stage:
    """The stage or study called ``stage`` (studies also answer to their short name)."""
    if stage in STAGES:
        return STAGES[stage]
    key = stage if stage.startswith("studies/") else f"studies/{stage}"
    if key in STUDIES:
        return STUDIES[key]
    known = ", ".join([*STAGES, *(k.split("/", 1)[1] for k in STUDIES)])
    raise L1adError(f"unknown stage or study {stage!r} (known: {known})")


def checkpoint_dir(run_dir: str | Path, stage: str) -> Path:
    """Where a stage keeps training checkpoints: outside its temporary folder, so an
    interrupted stage resumes from them on rerun; removed once the stage succeeds."""
    return Path(run_dir) / ".checkpoints" / lookup(stage).name


def fingerprint(config: Config, stage: str) -> str:
    """Hash of the stage's config entries chained with its upstream stages' fingerprints."""
    s = lookup(stage)
    own = config.fingerprint(*s.config_keys)
    chain = "".join(fingerprint(config, u) for u in s.upstream)
    return hashlib.sha256((own + chain).encode()).hexdigest()[:16]


def run_stage(
    config: Config, run_dir: str | Path, stage: str, force: bool = False, quiet_if_done: bool = False
) -> dict[str, Any]:
    """Run ``stage`` (and the upstream stages it needs) in ``run_dir``; return its summary."""
    s = lookup(stage)
    stage = s.name
    rd = RunDir(run_dir, config)
    for upstream in s.upstream:
        run_stage(config, run_dir, upstream, force=False, quiet_if_done=True)
    fp = fingerprint(config, stage)
    if not force and not s.always and rd.is_done(stage, fp):
        if not quiet_if_done:
            print(f"[{stage}] up to date in {rd.stage_dir(stage)}, skipped (use --force to redo)", flush=True)
        return rd.stage_record(stage)["summary"]
    print(f"[{stage}] {s.help}", flush=True)
    if config.train.threads > 0:
        import torch

        torch.set_num_threads(config.train.threads)
    start = time.perf_counter()
    function = s.load()
    with atomic_dir(rd.stage_dir(stage)) as out:
        summary = function(config, out, rd.path)
    seconds = time.perf_counter() - start
    rd.record_stage(stage, fp, seconds, summary)
    shutil.rmtree(checkpoint_dir(run_dir, stage), ignore_errors=True)
    print(f"[{stage}] done in {seconds:.1f} s -> {rd.stage_dir(stage)}", flush=True)
    return summary
