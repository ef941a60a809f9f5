"""Benchmark (not a test): the model shapes hls4ml users bring, each through one `l1ad firmware --model`.

    python scripts/bench_byo.py [--small] [--only NAME ...] [--keep DIR]

Builds every shape of ``tests/byo_shapes.py`` at the public examples' sizes (``--small``: the test suite's
sizes), saves it as a user would, and runs `l1ad firmware --model M --data X.npy --labels y.npy` with the
default options (plus ``--logits`` where a softmax ends the model) in a fresh process each; the float
Conv2D tagger runs a second time with ``--io-type io_stream``. Prints a Markdown table (convert and
compile + csim seconds, agreement, latency, LUT, DSP, resource source) and writes ``benchmarks/byo.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `tests.byo_shapes` is not an installed package

EXTRA_RUNS = {"float_conv2d_bn": [["--io-type", "io_stream"]]}


def agreement(row: dict) -> str:
    """The row's agreement in its own terms: bit-exact fraction, or the float model's differences."""
    if row["exact_expected"]:
        return f"{row['exact_fraction']:.2%} bit-exact"
    o = max(row["outputs"], key=lambda o: o["max_abs_diff"])
    text = f"max {o['max_abs_diff']:.3g}, 99.9% {o['p999_abs_diff']:.3g}"
    if o["argmax_agreement"] is not None:
        text += f", argmax {o['argmax_agreement']:.1%}"
    return text


def auc_text(row: dict) -> str:
    """Mean AUC over the classes, reference / csim, of the first output with labels that fit."""
    for o in row["outputs"]:
        if o.get("auc"):
            ref, csim = o["auc"]["reference"], o["auc"]["csim"]
            return f"{sum(ref) / len(ref):.4f} / {sum(csim) / len(csim):.4f}"
    return "-"


def run_one(name: str, full: bool, folder: Path, extra: list[str]) -> dict:
    from tests.byo_shapes import SHAPES

    shape = SHAPES[name](full)
    args = shape.save(folder / "model")
    run_dir = folder / "run"
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "l1ad.cli", "firmware", *args, *extra, "--run-dir", str(run_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    wall = time.perf_counter() - t
    rows = list((run_dir / "byo").glob("*/csim_validation.json"))
    if out.returncode != 0 or not rows:
        return {
            "shape": name,
            "flags": shape.flags + extra,
            "failed": (out.stderr or out.stdout).strip()[-400:],
        }
    row = json.loads(rows[0].read_text())
    res = row["resources"]
    return {
        "shape": name,
        "flags": shape.flags + extra,
        "input_shape": list(shape.X.shape[1:]),
        "route": row["precision_route"],
        "convert_s": row["convert_seconds"],
        "compile_csim_s": row["compile_and_csim_seconds"],
        "wall_s": wall,
        "agreement": agreement(row),
        "auc_reference_csim": auc_text(row),
        "n_events": row["n_events"],
        "latency_ns": res["latency_ns"],
        "lut": res["lut"],
        "dsp": res["dsp"],
        "resource_source": res["source"],
        "notes": row["notes"],
    }


def main() -> None:
    from tests.byo_shapes import SHAPES

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--small", action="store_true", help="the test suite's sizes instead of the public ones"
    )
    parser.add_argument("--only", nargs="+", choices=sorted(SHAPES), help="these shapes only")
    parser.add_argument("--keep", type=Path, help="keep models and runs under this folder")
    args = parser.parse_args()
    rows = []
    for name in args.only or SHAPES:
        for extra in [[], *EXTRA_RUNS.get(name, [])]:
            label = "_".join([name, *[e for e in extra if not e.startswith("--")]])
            with tempfile.TemporaryDirectory() as tmp:
                folder = (args.keep / label) if args.keep else Path(tmp)
                row = run_one(name, not args.small, folder, extra)
            print(json.dumps(row), flush=True)
            rows.append(row)
    print(
        "\n| model | flags | types | convert s | compile + csim s | agreement | AUC ref / csim | latency ns | LUT | DSP |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "failed" in r:
            print(f"| {r['shape']} | {' '.join(r['flags'])} | failed: {r['failed'][-120:]} |||||||")
            continue
        print(
            f"| {r['shape']} {tuple(r['input_shape'])} | {' '.join(r['flags'])} | {r['route']} | {r['convert_s']:.0f} | "
            f"{r['compile_csim_s']:.0f} | {r['agreement']} | {r['auc_reference_csim']} | {r['latency_ns']:g} | "
            f"{r['lut']:,.0f} | {r['dsp']} |"
        )
    result = {
        "machine": platform.node(),
        "python": platform.python_version(),
        "full": not args.small,
        "rows": rows,
    }
    if not args.small and not args.only:
        (ROOT / "benchmarks" / "byo.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
