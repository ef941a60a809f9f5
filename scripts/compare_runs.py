"""Are two run directories' results the same? Every HDF5 dataset and every JSON figure, timings aside.

    python scripts/compare_runs.py RUN_A RUN_B [STAGE ...]   # default stages: data train quantize firmware

For a change that must not move any figure (a refactor, a faster schedule): run the same config with
the code before and after, then compare. Reads the stage folders of RUN_A and looks each file up in
RUN_B; HLS projects and RTL sources are skipped (their bytes carry paths and stamps), their JSON records
are compared. Keys naming a time, a speed or a path are ignored. Prints each difference and a total;
exits 1 when anything differs or is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

UNTIMED = ("seconds", "events_per_second", "finished_at", "created", "hls_project", "path", "log")


def leaves(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every leaf of a JSON document with its path (``/a/0/b``)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from leaves(value, f"{prefix}/{key}")
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from leaves(value, f"{prefix}/{i}")
    else:
        yield prefix, obj


def compare_h5(a: Path, b: Path) -> tuple[int, list[str]]:
    """(datasets compared, differences) of two HDF5 files, dataset by dataset (NaN equals NaN)."""
    names: list[str] = []
    differences = []
    with h5py.File(a, "r") as x, h5py.File(b, "r") as y:
        x.visit(lambda n: names.append(n) if isinstance(x[n], h5py.Dataset) else None)
        for name in names:
            if name not in y:
                differences.append(f"{name}: missing")
                continue
            u, v = x[name][()], y[name][()]
            floats = isinstance(u, np.ndarray) and u.dtype.kind == "f"
            if not (np.array_equal(u, v, equal_nan=True) if floats else np.array_equal(u, v)):
                differences.append(f"{name}: differs")
    return len(names), differences


def compare_json(a: Path, b: Path) -> tuple[int, list[str]]:
    """(figures compared, differences) of two JSON files, timings and paths aside."""
    x, y = dict(leaves(json.loads(a.read_text()))), dict(leaves(json.loads(b.read_text())))
    keys = [k for k in x if not any(word in k for word in UNTIMED)]
    return len(keys), [f"{k}: {x[k]!r} != {y.get(k)!r}" for k in keys if x[k] != y.get(k)]


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python scripts/compare_runs.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument("stages", nargs="*", default=["data", "train", "quantize", "firmware"])
    args = parser.parse_args()
    compared, differing = 0, 0
    for stage in args.stages:
        for fa in sorted((args.run_a / stage).rglob("*")):
            rel = fa.relative_to(args.run_a)
            skipped = "hls_project" in rel.parts or ("rtl" in rel.parts and fa.suffix != ".json")
            if not fa.is_file() or skipped or fa.suffix not in (".h5", ".json"):
                continue
            fb = args.run_b / rel
            if not fb.is_file():
                print(f"{rel}: missing in {args.run_b}")
                differing += 1
                continue
            n, differences = (compare_h5 if fa.suffix == ".h5" else compare_json)(fa, fb)
            compared += n
            differing += len(differences)
            for d in differences:
                print(f"{rel}: {d}")
    print(f"{compared} values compared, {differing} differ or are missing")
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()
