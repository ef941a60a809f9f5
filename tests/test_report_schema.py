"""report.json, the CI contract, against its shipped JSON Schema (docs/report.schema.json).

The shipped file is what ``reports.records`` generates (regenerate: ``python -m reports.records >
docs/report.schema.json``), a real run's report.json validates against it with the jsonschema package a
user's CI job would use, and a report with a figure of the wrong type or a missing figure does not.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from reports.records import SCHEMA_VERSION, report_schema

SHIPPED = Path(__file__).resolve().parents[1] / "docs" / "report.schema.json"


def test_the_shipped_schema_is_the_generated_one_and_valid() -> None:
    shipped = json.loads(SHIPPED.read_text())
    assert shipped == report_schema(), "regenerate: python -m reports.records > docs/report.schema.json"
    jsonschema.Draft202012Validator.check_schema(shipped)


def test_a_real_report_validates_and_a_broken_one_does_not(tiny_run) -> None:
    _, run_dir, _ = tiny_run
    report = json.loads((run_dir / "report" / "report.json").read_text())
    validator = jsonschema.Draft202012Validator(json.loads(SHIPPED.read_text()))
    validator.validate(report)
    assert report["schema"] == SCHEMA_VERSION

    def broken(path: tuple[str, ...], value: object = None, delete: bool = False) -> dict:
        bad = copy.deepcopy(report)
        node = bad
        for key in path[:-1]:
            node = node[key]
        if delete:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        return bad

    model = next(iter(report["models"]))
    signal = next(iter(report["models"][model]["efficiency_at_rate"]["signals"]))
    for bad in (
        broken(("models", model, "auc", "csim"), "0.9"),
        broken(("models", model, "efficiency_at_rate", "signals", signal, "ratio"), [0.9]),
        broken(("models", model, "resources", "lut"), delete=True),
        broken(("models", model, "csim", "exact_fraction"), None),
        broken(("schema",), SCHEMA_VERSION - 1),
    ):
        with pytest.raises(jsonschema.ValidationError):
            validator.validate(bad)
