"""The identity of a design-space scan point: its folder name, its fingerprint, its finished result.

Shared by the scan's runner (``l1ad.scan``) and its report (``reports.scan``), which must agree on them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from l1ad.artifacts import ScanPaths
from l1ad.config import Config, ScanPoint, grid_points
from l1ad.io import read_json


def scan_points(config: Config) -> list[ScanPoint]:
    """The scan's points: ``scan.points`` when given, else the grid of models x bits x reuse factors x strategies."""
    return list(config.scan.points or grid_points(config.scan))


def point_id(point: ScanPoint) -> str:
    """A folder name that says what the point is, e.g. ``ae-b6-rf4-latency``, ``ae-hgq1e-06-b6-rf1-latency``
    or, with the model's configured formats (bits 0) but its own input format quantized_bits(10, 7),
    ``ae-bcfg-rf1-da-in10.7``."""
    quantizer = f"-hgq{point.beta:g}" if point.quantizer == "hgq" else ""
    strategy = "da" if point.strategy == "distributed_arithmetic" else point.strategy.lower()
    fmt = f"-in{point.input_width}.{point.input_integer}" if point.input_format else ""
    bits = f"b{point.bits}" if point.bits else "bcfg"  # 0: quantize.<model>'s own formats
    return f"{point.model}{quantizer}-{bits}-rf{point.reuse_factor}-{strategy}{fmt}"


def point_fingerprint(config: Config, point: ScanPoint) -> str:
    """Hash of everything a point's results depend on: the float models (the train stage's chain),
    the model's QAT settings, the scan epochs, the firmware section and the point itself."""
    from l1ad.pipeline import fingerprint

    keys = [f"quantize.{point.model}", "scan.epochs", "scan.synth", "firmware", "metrics", "run.seed"]
    own = config.fingerprint(*keys, *(["scan.hgq_learning_rate"] if point.quantizer == "hgq" else []))
    blob = fingerprint(config, "train") + own + json.dumps(dataclasses.asdict(point), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def finished(scan: ScanPaths, point: ScanPoint, fp: str) -> dict[str, Any] | None:
    """The point's result when it was finished with the same fingerprint, else None."""
    path = scan.point(point_id(point)).result
    if not path.is_file():
        return None
    result = read_json(path)
    return result if isinstance(result, dict) and result.get("fingerprint") == fp else None
