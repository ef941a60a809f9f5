"""The run directory's layout (l1ad/artifacts.py): every path it names lies under the run directory and
names one thing, and the relative paths that JSON records store keep their historical spelling.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from l1ad.artifacts import RELATIVE, RunPaths

# An argument for each parameter name of the path methods.
SAMPLE = {
    "model": "ocdn",
    "seed": 3,
    "bits": 6,
    "family": "l1",
    "stage": "studies/nae",
    "name": "nae",
    "point_id": "p0",
}


def named_paths(obj: Any, prefix: str) -> dict[str, Path]:
    """Every path reachable from ``obj``'s public properties and methods (called with ``SAMPLE``)."""
    found: dict[str, Path] = {}
    for attr in dir(type(obj)):
        if attr.startswith("_") or attr in ("NAME", "study_records"):  # a file name; a search of the disk
            continue
        member = getattr(type(obj), attr)
        if isinstance(member, property):
            value = getattr(obj, attr)
        else:
            value = member(obj, *(SAMPLE[p] for p in list(inspect.signature(member).parameters)[1:]))
        if isinstance(value, Path):
            found[f"{prefix}.{attr}"] = value
        else:
            found.update(named_paths(value, f"{prefix}.{attr}"))
    return found


def test_every_path_is_under_the_run_directory_and_distinct(tmp_path: Path) -> None:
    root = tmp_path / "run"
    paths = named_paths(RunPaths(root), "run")
    assert len(paths) > 40  # the walk reached every stage's layout
    outside = [k for k, p in paths.items() if p == root or not p.is_relative_to(root)]
    assert not outside
    by_path: dict[Path, list[str]] = {}
    for key, path in paths.items():
        by_path.setdefault(path, []).append(key)
    assert not [keys for keys in by_path.values() if len(keys) > 1]


def test_relative_paths_keep_their_spelling() -> None:
    """What info.json, csim_validation.json, rtl.json and report.json record (and older runs hold)."""
    assert str(RELATIVE.data.splits("dijet")) == "data/dijet_splits.h5"
    assert str(RELATIVE.data.rate_sample("l1")) == "data/l1_rate.h5"
    assert str(RELATIVE.train.checkpoint("ae", 42)) == "train/ae/seed42"
    assert str(RELATIVE.quantize.qmodel("nurd")) == "quantize/nurd/qmodel.h5"
    assert str(RELATIVE.firmware.model("ocdn").hls_project) == "firmware/ocdn/hls_project"
    assert str(RELATIVE.firmware.model("ocdn").rtl) == "firmware/ocdn/rtl"
    assert str(RELATIVE.report.plots / "x.png") == "report/plots/x.png"
    assert (
        str(RELATIVE.scan.point("ae-b6-rf1-latency").hls_project)
        == "scan/points/ae-b6-rf1-latency/hls_project"
    )
    assert str(RELATIVE.scan.plots / "pareto_ae_lut.png") == "scan/plots/pareto_ae_lut.png"
    assert str(RunPaths("runs/r").log("studies/nae")) == "runs/r/logs/nae.log"


def test_study_records_lists_finished_studies_by_name(tmp_path: Path) -> None:
    run = RunPaths(tmp_path)
    assert run.study_records() == {}
    for name in ("nae", "gaussian"):
        run.study(name).json.parent.mkdir(parents=True)
        run.study(name).json.write_text("{}")
    run.study("oneclass").root.mkdir()  # unfinished: no study.json
    assert list(run.study_records().items()) == [
        ("gaussian", tmp_path / "studies" / "gaussian" / "study.json"),
        ("nae", tmp_path / "studies" / "nae" / "study.json"),
    ]
