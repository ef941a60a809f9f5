"""Wall time of the studies part of `l1ad run`, one after another vs side by side on the Dask cluster.

    python scripts/bench_studies.py [--config FILE | --small] [--run-dir DIR] [--workers N] [--studies a b ...]

Prepares the data once (RUN_DIR/base), copies it to RUN_DIR/serial and RUN_DIR/parallel, runs the studies
(`l1ad.pipeline.run_studies`) in a fresh process for each mode (as `l1ad run` would after the deployable
chain, with `cluster.parallel_studies` false and true), then compares every number of each study's
study.json between the two runs (timings aside): the results must not depend on where and with how many
threads a study ran beyond float noise. Prints a table and writes RUN_DIR/bench_studies.json.

`--small` takes the default config with smaller studies (fewer epochs and events: a few minutes in all
on 2 cores); without it and without --config, configs/default.yaml.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from l1ad.artifacts import RunPaths

ROOT = Path(__file__).resolve().parents[1]

# The default config with every study cut to a few tens of seconds on 2 cores (data as by default).
SMALL: dict[str, Any] = {
    "run": {"name": "bench-studies-small"},
    "data": {"rate_sample": 0},
    "studies": {
        "oneclass": {
            "n_seeds": 1,
            "max_train_events": 20000,
            "ocsvm_n_train": 3000,
            "svdd_epochs": 3,
            "bae_epochs": 3,
            "epochs_ocdn": 2,
        },
        "gaussian": {"n_events": 10000, "epochs": [1, 5, 10]},
        "anomalyclr": {"epochs": 1, "max_train_events": 10000, "ae_epochs": 2, "n_ae_seeds": 1},
        "nae": {"pretrain_epochs": 5, "epochs": 1, "max_train_events": 20000},
        "mpdr": {"ae_epochs": 3, "epochs": 1, "max_train_events": 10000},
        "nurd": {"lambdas": [0.0, 0.1], "epochs": 3, "ae_epochs": 3, "max_train_events": 20000},
    },
}


def _timing_key(path: str) -> bool:
    return any(word in part for part in path.split("/") for word in ("seconds", "timing", "time_"))


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        return {k: v for key, value in obj.items() for k, v in _flatten(value, f"{prefix}/{key}").items()}
    if isinstance(obj, list):
        return {k: v for i, value in enumerate(obj) for k, v in _flatten(value, f"{prefix}/{i}").items()}
    return {prefix: obj}


def compare_studies(a: Path, b: Path) -> dict[str, Any]:
    """Per study: numbers compared, how many differ, the largest absolute difference (timings aside)."""
    out = {}
    for name, path in RunPaths(a).study_records().items():
        x = _flatten(json.loads(path.read_text()))
        y = _flatten(json.loads(RunPaths(b).study(name).json.read_text()))
        keys = [k for k in x if not _timing_key(k)]
        numbers = [k for k in keys if isinstance(x[k], float | int) and not isinstance(x[k], bool)]
        differ = [k for k in keys if x[k] != y.get(k)]
        diffs = [abs(x[k] - y[k]) for k in numbers if isinstance(y.get(k), float | int) and x[k] != y[k]]
        out[name] = {
            "same_keys": set(x) == set(y),
            "numbers": len(numbers),
            "differing": len(differ),
            "max_abs_difference": max(diffs, default=0.0),
            "first_differing": differ[:5],
        }
    return out


def _one(config: Path, run_dir: Path, parallel: bool, studies: list[str]) -> None:
    """Child process: run the studies in one mode; print the wall time as JSON on the last line."""
    from l1ad.config import load_config
    from l1ad.pipeline import run_studies
    from training.stage import selected_studies

    cfg = load_config(config)
    start = time.perf_counter()
    run_studies(cfg, run_dir, studies or selected_studies(cfg), parallel=parallel)
    print(json.dumps({"wall_s": time.perf_counter() - start}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path)
    parser.add_argument("--small", action="store_true", help="the default config with smaller studies")
    parser.add_argument("--run-dir", type=Path, default=Path("runs/bench_studies"))
    parser.add_argument("--workers", type=int, default=0, help="cluster.workers (0: one per core)")
    parser.add_argument("--studies", nargs="*", default=[], help="default: run.studies of the config")
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=("serial", "parallel"),
        default=["serial", "parallel"],
        help="modes to (re)run; the others' results are read from RUN_DIR/bench_studies.json of an earlier call",
    )
    parser.add_argument("--one", choices=("serial", "parallel"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        _one(args.config, args.run_dir, args.one == "parallel", args.studies)
        return

    import yaml

    from l1ad.config import load_config
    from l1ad.pipeline import run_stage

    root = args.run_dir
    root.mkdir(parents=True, exist_ok=True)
    base_config = args.config or ROOT / "configs" / "default.yaml"
    overrides = yaml.safe_load(base_config.read_text()) or {}
    if args.small:
        overrides = _merge(overrides, SMALL)
    overrides = _merge(overrides, {"cluster": {"workers": args.workers}})
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(overrides))
    cfg = load_config(config)
    run_stage(cfg, root / "base", "data", quiet_if_done=True)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    result: dict[str, Any] = {"config": str(base_config), "small": args.small, "cores": os.cpu_count()}
    earlier = root / "bench_studies.json"
    for mode in ("serial", "parallel"):
        if mode not in args.modes:
            result[mode] = json.loads(earlier.read_text())[mode]
            continue
        run_dir = root / mode
        shutil.rmtree(run_dir, ignore_errors=True)
        run_dir.mkdir()
        base, run = RunPaths(root / "base"), RunPaths(run_dir)
        shutil.copytree(base.data.root, run.data.root)
        shutil.copy(base.manifest, run.manifest)
        command = [
            sys.executable,
            __file__,
            "--one",
            mode,
            "--config",
            str(config),
            "--run-dir",
            str(run_dir),
        ]
        command += ["--studies", *args.studies] if args.studies else []
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        total = time.perf_counter() - start
        (root / f"{mode}.out").write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            sys.exit(f"{mode} run failed ({proc.returncode}); see {root / f'{mode}.out'}")
        stages = json.loads(RunPaths(run_dir).manifest.read_text())["stages"]
        result[mode] = {
            "wall_s": round(json.loads(proc.stdout.strip().splitlines()[-1])["wall_s"], 1),
            "process_s": round(total, 1),
            "studies_s": {
                k.split("/", 1)[1]: v["seconds"] for k, v in stages.items() if k.startswith("studies/")
            },
        }
        print(f"{mode}: {result[mode]}", flush=True)
    result["comparison"] = compare_studies(root / "serial", root / "parallel")
    result["speedup"] = round(result["serial"]["wall_s"] / result["parallel"]["wall_s"], 2)
    (root / "bench_studies.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        "\n| study | serial s | parallel s | numbers | differing | max abs diff |\n|---|---|---|---|---|---|"
    )
    for name, c in result["comparison"].items():
        print(
            f"| {name} | {result['serial']['studies_s'].get(name)} | {result['parallel']['studies_s'].get(name)} | "
            f"{c['numbers']} | {c['differing']} | {c['max_abs_difference']:.2g} |"
        )
    print(
        f"| **studies part (wall)** | **{result['serial']['wall_s']}** | **{result['parallel']['wall_s']}** | "
        f"| | speedup {result['speedup']}x |"
    )
    print(f"written {root / 'bench_studies.json'}")


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


if __name__ == "__main__":
    main()
