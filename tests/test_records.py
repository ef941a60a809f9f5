"""Typed records between stages: the check behind ``write_record`` / ``read_record`` and what it refuses."""

from __future__ import annotations

import json
from typing import Any, Literal, TypedDict

import numpy as np
import pytest

from firmware.records import PointResult, RTLRecord
from l1ad.artifacts import ScanPaths
from l1ad.config import ScanPoint
from l1ad.errors import InputError
from l1ad.io import read_record, write_record
from l1ad.scan import finished, point_id
from l1ad.typed_schema import record_problems
from reports.records import StudyRecord


class Inner(TypedDict):
    kind: Literal["a", "b"]
    values: list[int]


class _Outer(TypedDict):
    name: str
    figure: float | None
    inner: Inner


class Outer(_Outer, total=False):
    per_signal: dict[str, Inner]


GOOD: dict[str, Any] = {"name": "x", "figure": 1, "inner": {"kind": "a", "values": [1, 2]}}


def test_a_record_of_the_right_shape_passes_with_keys_it_does_not_name() -> None:
    assert record_problems(Outer, GOOD) == []
    assert record_problems(Outer, {**GOOD, "figure": None, "extra": [1, "two"]}) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"name": None}, ".name is null, not string"),
        ({"figure": "1.0"}, ".figure is string '1.0', not number"),
        ({"figure": True}, ".figure is boolean True, not number"),
        ({"inner": {"kind": "c", "values": []}}, ".inner.kind is 'c', not one of ['a', 'b']"),
        ({"inner": {"kind": "a", "values": [1.5]}}, ".inner.values[0] is number 1.5, not integer"),
        ({"inner": {"kind": "a"}}, ".inner has no 'values' (Inner)"),
        ({"per_signal": {"s1": []}}, ".per_signal.s1 is an array, not an object (Inner)"),
    ],
)
def test_each_kind_of_problem_is_named_by_its_key_path(change: dict, problem: str) -> None:
    assert record_problems(Outer, {**GOOD, **change}) == [problem]


def test_a_missing_required_key_is_named() -> None:
    assert record_problems(Outer, {"name": "x"}) == ["the record has no 'figure', 'inner' (Outer)"]


def test_write_record_refuses_a_record_its_readers_would_refuse_and_writes_nothing(tmp_path) -> None:
    path = tmp_path / "rtl.json"
    with pytest.raises(TypeError, match=r"rtl.json: not a RTLRecord record: the record has no"):
        write_record(path, RTLRecord, {"latency_cycles": 3})
    assert not path.exists()
    # numpy scalars are what the stages compute: written as JSON numbers
    write_record(
        path, Outer, {**GOOD, "figure": np.float64(0.5), "inner": {"kind": "b", "values": [np.int64(3)]}}
    )
    assert read_record(path, Outer)["inner"]["values"] == [3]


def test_read_record_names_the_file_of_another_version(tmp_path) -> None:
    path = tmp_path / "csim_validation.json"
    path.write_text(json.dumps({"name": "x", "figure": 1.0}))  # as an older l1ad wrote it: no "inner"
    with pytest.raises(InputError) as err:
        read_record(path, Outer)
    message = str(err.value)
    assert str(path) in message and "'inner'" in message and "--force" in message
    assert "\n" not in message


def test_a_scan_result_this_version_would_not_write_counts_as_unfinished(tmp_path) -> None:
    scan, point = ScanPaths(tmp_path), ScanPoint(model="ae", bits=6)
    result_file = scan.point(point_id(point)).result
    result_file.parent.mkdir(parents=True)
    result: PointResult = {
        "id": point_id(point),
        "point": {"model": "ae", "bits": 6},
        "fingerprint": "abc",
        "family": "l1",
        "trigger_fpr": 2.5e-5,
        "auc": {"Ato4l": {"float": 0.9, "quantized": 0.89, "csim": 0.89}},
        "tpr_at_trigger": {"Ato4l": {"float": 0.1, "quantized": 0.1, "csim": None}},
        "input_format": "ap_fixed<16,9>",
        "efficiency_at_rate": {
            "rate_hz": 1000.0,
            "n_background": 10,
            "source": "test set background",
            "min_ratio": None,
            "notes": [],
            "signals": {},
        },
        "csim_exact_fraction": 1.0,
        "csim_within_1lsb_fraction": 1.0,
        "saturated_fraction": 0.0,
        "resources": {"lut": 10},
        "hgq_ebops": None,
        "has_convolution": False,
        "hls_project": "scan/points/x/hls_project",
        "seconds": 1.0,
        "convert_compile_seconds": 1.0,
    }
    result_file.write_text(json.dumps(result))
    assert finished(scan, point, "abc") == result
    assert finished(scan, point, "other settings") is None
    del result["efficiency_at_rate"]  # a result of a version before the efficiency at the rate
    result_file.write_text(json.dumps(result))
    assert finished(scan, point, "abc") is None


def test_a_study_ends_in_its_record_and_its_markdown_or_writes_nothing(tmp_path) -> None:
    from l1ad.config import Config
    from training.studies.base import Study

    run = Study("toy", "A toy study", Config(), tmp_path / "studies" / "toy", tmp_path)
    with pytest.raises(TypeError, match="has no 'data'"):
        run.finish({"plots": []}, [*run.heading(), "text"])
    assert not run.paths.json.exists() and not run.paths.markdown.exists()
    run.finish({"data": {"source": "synthetic"}}, [*run.heading(), "text", *run.plot_links(["roc.png"])])
    assert read_record(run.paths.json, StudyRecord) == {
        "title": "A toy study",
        "data": {"source": "synthetic"},
    }
    assert (
        run.paths.markdown.read_text() == "## A toy study\n\ntext\n![roc.png](../studies/toy/plots/roc.png)\n"
    )


def test_every_record_of_a_real_run_is_of_its_type_and_an_older_one_is_refused_by_name(
    tiny_run, tmp_path
) -> None:
    """The tiny run's stage records satisfy their classes (the readers' view of the writers); in a copy of
    the run whose quantize record lacks a figure (as an older l1ad wrote it), the report refuses that file
    in one line and leaves the report as it was."""
    import shutil

    from firmware.records import FirmwareValidation
    from l1ad.artifacts import RunPaths
    from l1ad.config import load_config
    from l1ad.io import read_json
    from l1ad.pipeline import run_stage
    from quantize.records import QuantizeInfo
    from training.records import TrainInfo

    config_file, run_dir, _ = tiny_run
    config, run = load_config(config_file), RunPaths(run_dir)
    for name in config.run.models:
        assert record_problems(TrainInfo, read_json(run.train.info(name))) == []
        assert record_problems(QuantizeInfo, read_json(run.quantize.info(name))) == []
        assert record_problems(FirmwareValidation, read_json(run.firmware.model(name).validation)) == []
        if run.firmware.model(name).rtl_record.is_file():
            assert record_problems(RTLRecord, read_json(run.firmware.model(name).rtl_record)) == []

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    name = config.run.models[0]
    info_file = RunPaths(copy).quantize.info(name)
    info = json.loads(info_file.read_text())
    del info["trigger_fpr"]
    info_file.write_text(json.dumps(info))
    report = RunPaths(copy).report.json
    before = report.read_bytes()
    with pytest.raises(InputError) as err:
        run_stage(config, copy, "report", force=True)
    assert str(info_file) in str(err.value) and "'trigger_fpr'" in str(err.value)
    assert "\n" not in str(err.value)
    assert report.read_bytes() == before
