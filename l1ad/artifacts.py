"""Where every artifact of a run lives: each file a stage writes and another reads is named here once.

A run directory holds one folder per stage (``data/``, ``train/``, ``quantize/``, ``firmware/``,
``report/``, ``studies/<name>/``, ``scan/``) plus ``byo/<name>/``, the manifest and the logs.
``RunPaths(run_dir)`` answers every path. Each stage folder's layout is a small class rooted at that
folder, so a stage writing into its temporary folder (``l1ad.io.atomic_dir``) and the stages reading
the finished one use the same names: the train stage writes ``TrainPaths(out).info(model)``, the
quantize stage reads ``RunPaths(run_dir).train.info(model)``. JSON records store paths relative to
the run directory (``RELATIVE``), so a run directory can be moved. Imports nothing from the stages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

# Written beside the model's HLS sources (``ModelFirmwarePaths.hls_sources``) by ``firmware.trigger``:
# ``#include "trigger_threshold.h"`` resolves there.
TRIGGER_HEADER = "trigger_threshold.h"
TRIGGER_RECORD = "trigger_threshold.json"


def hls_sources(project: Path) -> Path:
    """The C++ sources of an hls4ml project (hls4ml's ``firmware/`` folder inside the project)."""
    return project / "firmware"


@dataclass(frozen=True)
class DataPaths:
    """``data/``: written by the data stage (``training.stage.run_data``), read by every later stage."""

    root: Path

    def splits(self, family: str) -> Path:
        """The model-ready train/val/test splits of ``family`` (``training.data.splits``)."""
        return self.root / f"{family}_splits.h5"

    def preprocessing(self, family: str) -> Path:
        """The normalisation fitted on ``family``'s training background; read again by the rate sample,
        the L1 studies (``training.l1_events``) and ``l1ad csim`` on raw L1 objects."""
        return self.root / f"{family}_preprocessing.json"

    def rate_sample(self, family: str) -> Path:
        """Further generated background of ``family`` (``training.data.rate``, synthetic sources only),
        on which the firmware stage sets the trigger threshold."""
        return self.root / f"{family}_rate.h5"

    def generated(self, family: str) -> Path:
        """The folder of ``family``'s generated source files in their real layouts (synthetic sources)."""
        return self.root / family

    @property
    def summary(self) -> Path:
        """Per-family sources and counts (``summary.json``), read by the report and the scan report."""
        return self.root / "summary.json"


@dataclass(frozen=True)
class TrainPaths:
    """``train/``: written by the train stage (``training.stage.run_train``), one folder per model."""

    root: Path

    def checkpoint(self, model: str, seed: int) -> Path:
        """The float scorer of ``model`` trained with ``seed`` (the scorer's own ``save`` layout)."""
        return self.root / model / f"seed{seed}"

    def scores(self, model: str) -> Path:
        """Float test-set scores of every seed (``training.stage.write_scores``)."""
        return self.root / model / "scores.h5"

    def rate_scores(self, model: str) -> Path:
        """Float scores of the deployed seed on the family's rate sample (``training.stage.write_rate_scores``)."""
        return self.root / model / "rate_scores.h5"

    def info(self, model: str) -> Path:
        """The model's record: family, splits, deployed seed and checkpoint, AUC per seed."""
        return self.root / model / "info.json"


@dataclass(frozen=True)
class QuantizePaths:
    """``quantize/``: written by the quantize stage (``quantize.stage.run_quantize``), one folder per model."""

    root: Path

    def qmodel(self, model: str) -> Path:
        """The QKeras model after quantization-aware training."""
        return self.root / model / "qmodel.h5"

    def scores(self, model: str) -> Path:
        """Exact QKeras test-set scores (``training.stage.write_scores``)."""
        return self.root / model / "scores.h5"

    def rate_scores(self, model: str) -> Path:
        """Exact QKeras scores of the family's rate sample (``training.stage.write_rate_scores``)."""
        return self.root / model / "rate_scores.h5"

    def clipped_scores(self, model: str) -> Path:
        """Float test-set scores with the inputs clipped to the declared input format's range: what the
        input format alone costs (``training.stage.write_scores``)."""
        return self.root / model / "float_clipped_scores.h5"

    def clipped_rate_scores(self, model: str) -> Path:
        """Float scores of the rate sample with the inputs clipped to the input format's range."""
        return self.root / model / "float_clipped_rate_scores.h5"

    def info(self, model: str) -> Path:
        """The model's record: family, splits, qmodel, bits, input format, trigger FPR."""
        return self.root / model / "info.json"


@dataclass(frozen=True)
class ModelFirmwarePaths:
    """One model's firmware folder: ``firmware/<model>/`` (the firmware stage), ``scan/points/<id>/``
    (a scan point) or ``byo/<name>/`` (``l1ad firmware --model``), written by ``firmware.stage.build_firmware``
    and its callers."""

    root: Path

    @property
    def hls_project(self) -> Path:
        """The complete hls4ml project."""
        return self.root / "hls_project"

    @property
    def hls_sources(self) -> Path:
        """The project's C++ sources, where the trigger threshold header goes."""
        return hls_sources(self.hls_project)

    @property
    def csim_scores(self) -> Path:
        """C-simulation test-set scores (``training.stage.write_scores``)."""
        return self.root / "csim_scores.h5"

    @property
    def rate_scores(self) -> Path:
        """Firmware scores (RTL, else C simulation) of the family's rate sample (``write_rate_scores``)."""
        return self.root / "rate_scores.h5"

    @property
    def validation(self) -> Path:
        """csim against QKeras, resources and trigger (``csim_validation.json``); written last, so its
        presence marks the model's firmware as complete."""
        return self.root / "csim_validation.json"

    @property
    def rtl(self) -> Path:
        """The RTL folder (``firmware.rtl``): Verilog, Vivado script, testbench."""
        return self.root / "rtl"

    @property
    def rtl_record(self) -> Path:
        """The RTL's Verilator check and synthesis figures (``rtl.json``), read by the report."""
        return self.rtl / "rtl.json"


@dataclass(frozen=True)
class FirmwarePaths:
    """``firmware/``: written by the firmware stage (``firmware.stage.run_firmware``), one folder per model."""

    root: Path

    def model(self, model: str) -> ModelFirmwarePaths:
        """The firmware folder of the deployed scorer ``model``."""
        return ModelFirmwarePaths(self.root / model)


@dataclass(frozen=True)
class ScanPointPaths(ModelFirmwarePaths):
    """``scan/points/<id>/``: one design-space scan point (``l1ad.scan.run_point``), a model firmware
    folder plus the point's own model, result and log."""

    @property
    def qmodel(self) -> Path:
        """The point's QKeras model (a QKeras point)."""
        return self.root / "qmodel.h5"

    @property
    def proxy(self) -> Path:
        """The point's HGQ proxy model (an HGQ point)."""
        return self.root / "proxy.h5"

    @property
    def result(self) -> Path:
        """The point's figures and fingerprint; present once the point finished."""
        return self.root / "result.json"

    @property
    def log(self) -> Path:
        """What the point printed while it ran."""
        return self.root / "log.txt"


@dataclass(frozen=True)
class WriteupPaths:
    """A folder that ends in a section of the report: its figures (``<NAME>.json``), its Markdown
    (``<NAME>.md``, image links relative to ``report/``) and its plots."""

    root: Path
    NAME: ClassVar[str]

    @property
    def json(self) -> Path:
        """The figures, read by the report (and, for ``report.json``, by ``l1ad check``)."""
        return self.root / f"{self.NAME}.json"

    @property
    def markdown(self) -> Path:
        """The Markdown section."""
        return self.root / f"{self.NAME}.md"

    @property
    def plots(self) -> Path:
        """The folder of the figures the Markdown links."""
        return self.root / "plots"


@dataclass(frozen=True)
class ReportPaths(WriteupPaths):
    """``report/``: written by the report stage (``reports.stage.run_report``); ``report.json`` is the CI
    contract that ``l1ad check`` reads."""

    NAME: ClassVar[str] = "report"

    @property
    def html(self) -> Path:
        """report.md as one self-contained page, plots embedded (``reports.html``): a CI artifact."""
        return self.root / "report.html"


@dataclass(frozen=True)
class StudyPaths(WriteupPaths):
    """``studies/<name>/``: written by one full-precision study (``training.studies``), read by the report."""

    NAME: ClassVar[str] = "study"


@dataclass(frozen=True)
class ScanPaths(WriteupPaths):
    """``scan/``: written by ``l1ad scan`` (points by ``l1ad.scan``, ``scan.json``, ``scan.md`` and the
    Pareto plots by ``reports.scan``), read by the report."""

    NAME: ClassVar[str] = "scan"

    def point(self, point_id: str) -> ScanPointPaths:
        """The folder of the point ``point_id`` (``l1ad.scan.point_id``)."""
        return ScanPointPaths(self.root / "points" / point_id)

    def failed(self, point_id: str) -> Path:
        """The error of a point that failed, kept until it succeeds."""
        return self.root / "failed" / f"{point_id}.json"


@dataclass(frozen=True)
class RunPaths:
    """A run directory: the folder of each stage (named as its stage, ``studies/<name>`` included),
    the manifest (``l1ad.rundir``), the logs and checkpoints of ``l1ad.pipeline``. ``root`` may be
    given as a string."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def stage(self, stage: str) -> Path:
        """The folder of ``stage`` (a stage name of ``l1ad.pipeline``: ``train``, ``studies/nae``, ...)."""
        return self.root / stage

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def manifest_lock(self) -> Path:
        """Held while a process updates the manifest."""
        return self.root / ".manifest.lock"

    def log(self, stage: str) -> Path:
        """All the output of ``stage`` (``studies/nae`` -> ``logs/nae.log``; the console shows its step lines)."""
        return self.root / "logs" / f"{stage.removeprefix('studies/').replace('/', '_')}.log"

    def checkpoints(self, stage: str) -> Path:
        """Training checkpoints of ``stage``: outside its temporary folder, so an interrupted stage resumes."""
        return self.root / ".checkpoints" / stage

    @property
    def data(self) -> DataPaths:
        return DataPaths(self.stage("data"))

    @property
    def train(self) -> TrainPaths:
        return TrainPaths(self.stage("train"))

    @property
    def quantize(self) -> QuantizePaths:
        return QuantizePaths(self.stage("quantize"))

    @property
    def firmware(self) -> FirmwarePaths:
        return FirmwarePaths(self.stage("firmware"))

    @property
    def report(self) -> ReportPaths:
        return ReportPaths(self.stage("report"))

    @property
    def scan(self) -> ScanPaths:
        return ScanPaths(self.stage("scan"))

    def study(self, name: str) -> StudyPaths:
        """The folder of the study ``name`` (``oneclass``, ``nae``, ...)."""
        return StudyPaths(self.stage(f"studies/{name}"))

    def study_records(self) -> dict[str, Path]:
        """Study name -> its ``study.json``, for every study that finished in this run directory."""
        studies = self.stage("studies")
        names = [d.name for d in sorted(studies.iterdir())] if studies.is_dir() else []
        return {name: self.study(name).json for name in names if self.study(name).json.is_file()}

    def byo(self, name: str) -> ModelFirmwarePaths:
        """The firmware folder of a bring-your-own model (``l1ad firmware --model``; ``name``: the file's stem)."""
        return ModelFirmwarePaths(self.root / "byo" / name)


# The same paths relative to the run directory: what JSON records store (``str(RELATIVE.data.splits(f))``).
RELATIVE = RunPaths(Path())
