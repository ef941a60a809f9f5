"""Benchmarks (not tests): data generation rate and memory, and the end-to-end run time.

    python scripts/bench.py data [--events 1000000]   # events/s and peak RSS per family
    python scripts/bench.py run  [--config configs/default.yaml]
    python scripts/bench.py csim [--events 1000000] [--run-dir runs/default]   # sharded C simulation
    python scripts/bench.py rtl [--run-dir runs/default] [--no-synthesize]   # RTL of the deployed scorers

Each measurement runs in a fresh subprocess so its peak resident memory is its own.
Results are printed as a Markdown table and written to ``benchmarks/<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# `tests.test_resources` (the calibration network) is not an installed package: import it from the checkout.
sys.path.insert(0, str(ROOT))

GENERATE = {
    "dijet": "from training.data.dijet import generate_dijet_features as g; g(P / 'd.h5', N, N // 10, seed=1)",
    "l1": "from training.data.l1generator import generate_l1_sample as g; g(P / 'l.h5', 'background', N, seed=1)",
    "jet_images": (
        "from training.data.jetgenerator import generate_jet_images as g; "
        "g(P / 'j.h5', N * 2 // 5, N * 2 // 5, N // 5, 20, seed=1)"
    ),
}

CHILD = """
import json, resource, sys, time
from pathlib import Path
P, N = Path(sys.argv[1]), int(sys.argv[2])
t = time.perf_counter()
{code}
dt = time.perf_counter() - t
print(json.dumps({{"seconds": dt, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def bench_data(n_events: int) -> dict:
    results = {}
    for family, code in GENERATE.items():
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run(
                [sys.executable, "-c", CHILD.format(code=code), tmp, str(n_events)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            size = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 2**20
        r.update({"events": n_events, "events_per_second": n_events / r["seconds"], "file_mb": size})
        results[family] = r
        print(
            f"| {family} | {n_events} | {r['seconds']:.1f} | {r['events_per_second']:.3g} | "
            f"{r['peak_rss_mb']:.0f} | {size:.0f} |",
            flush=True,
        )
    return results


def bench_run(config: str) -> dict:
    from l1ad.artifacts import RunPaths

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "l1ad.cli", "run", "--config", config, "--run-dir", tmp],
            cwd=ROOT,
            check=True,
        )
        seconds = time.perf_counter() - t
        manifest = json.loads(RunPaths(tmp).manifest.read_text())
        report = json.loads(RunPaths(tmp).report.json.read_text())
    stages = {s: r["seconds"] for s, r in manifest["stages"].items()}
    firmware = {name: m["firmware"] for name, m in report["models"].items()}
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"total {seconds:.0f} s; stages {stages}; peak RSS {peak:.0f} MB")
    for name, fw in firmware.items():
        print(
            f"  {name}: convert+compile {fw['convert_compile_seconds']:.1f} s, "
            f"csim {fw['csim_events_per_second']:.0f} events/s"
        )
    return {
        "config": config,
        "seconds": seconds,
        "stage_seconds": stages,
        "peak_rss_mb": peak,
        "firmware": firmware,
    }


def bench_csim(config: str, run_dir: str, n_events: int, chunk_events: int) -> dict:
    """Events/s of the AE's C simulation over an ADC2021 background file: a plain loop here, then
    Dask with 1 and 2 workers (each time includes starting the LocalCluster and loading the library)."""
    import h5py

    from l1ad import api
    from l1ad.config import load_config
    from training.data.l1generator import generate_l1_sample

    api.firmware(config, run_dir)  # the AE firmware to score with (skipped when up to date)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        events = Path(tmp) / "background.h5"
        generate_l1_sample(events, "background", n_events, seed=7)
        cfg = load_config(config)
        reference = None
        for label, workers in (("in-process loop", 0), ("dask, 1 worker", 1), ("dask, 2 workers", 2)):
            cfg.cluster.workers = workers
            out = Path(tmp) / f"scores_{workers}.h5"
            s = api.csim("ae", events, out, cfg, run_dir, chunk_events=chunk_events, in_process=workers == 0)
            with h5py.File(out, "r") as f:
                scores = f["score"][...]
            reference = scores if reference is None else reference
            results[label] = {
                "workers": workers,
                "seconds": s["seconds"],
                "events_per_second": s["events_per_second"],
                "identical_to_loop": bool((scores == reference).all()),
            }
            print(f"| {label} | {n_events} | {s['seconds']:.1f} | {s['events_per_second']:.0f} |", flush=True)
    loop = results["in-process loop"]["events_per_second"]
    for r in results.values():
        r["speedup_vs_loop"] = r["events_per_second"] / loop
    return {"events": n_events, "chunk_events": chunk_events, "model": "ae", "runs": results}


def bench_rtl(config: str, run_dir: str, synthesize: bool) -> dict:
    """The firmware stage with ``firmware.rtl`` on (and ``synthesize``) in ``run_dir`` (its upstream
    stages made if missing; the firmware stage redone when its config changed), then each deployed
    scorer's ``rtl.json``: RTL == csim, Verilator build seconds and events/s, Yosys seconds and cells."""
    from l1ad import api
    from l1ad.artifacts import RunPaths
    from l1ad.config import load_config

    cfg = load_config(config)
    cfg.firmware.rtl.enabled, cfg.firmware.rtl.synthesize = True, synthesize
    api.firmware(cfg, run_dir)
    manifest = json.loads(RunPaths(run_dir).manifest.read_text())
    results = {}
    for name in cfg.run.models:
        r = json.loads(RunPaths(run_dir).firmware.model(name).rtl_record.read_text())
        r.pop("yosys", None)
        results[name] = r
        print(
            f"| {name} | {r['events']} | {r['exact_fraction']:.4%} | {r['trace_seconds'] + r['write_seconds']:.0f} | "
            f"{r['build_seconds']:.0f} | {r['events_per_second']:.0f} | {r['latency_cycles']} | "
            f"{r['synth_seconds'] if r['synth_seconds'] is not None else 'n/a'} | {r['lut']} | {r['ff']} | "
            f"{r['carry']} | {r['dsp']} | {r['da4ml_cost']:.0f} |",
            flush=True,
        )
    seconds = manifest["stages"]["firmware"]["seconds"]
    print(f"firmware stage (hls4ml + csim + RTL) {seconds:.0f} s")
    return {
        "part": cfg.firmware.part,
        "clock_period_ns": cfg.firmware.clock_period_ns,
        "firmware_stage_seconds": seconds,
        "models": results,
    }


def bench_rtl_calibration() -> dict:
    """Yosys figures of the published hls4ml jet tagger's 6-bit, 75%-pruned QKeras network
    (REFERENCE.md; rebuilt with random weights as ``tests/test_resources.py`` does), traced to RTL
    without its softmax (inputs ``ap_fixed<16,6>`` as in the published design), next to the published
    Vivado figures (Latency strategy: multiplications on DSPs, where da4ml's RTL uses adder graphs)."""
    import tensorflow as tf

    from firmware import rtl, synthesis
    from l1ad.fixedpoint import FixedFormat
    from tests.test_resources import PUBLISHED, jet_tagger_qkeras6_pruned

    model = jet_tagger_qkeras6_pruned()
    logits = tf.keras.Model(model.input, model.get_layer("output").output)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        traced = rtl.trace_qkeras(logits, input_format=FixedFormat(True, 16, 6))
        project = rtl.write_rtl(traced, Path(tmp), name="jet_tagger", clock_period_ns=5.0)
        write_seconds = time.perf_counter() - t
        figures = synthesis.synthesize(tmp, "xcup")
    published = PUBLISHED["qkeras6_pruned75"]
    result = {
        "model": "jet tagger 16-64-32-32-5, QKeras 6-bit, 75% pruned (random weights), logits",
        "trace_write_seconds": write_seconds,
        "latency_cycles": project.latency_cycles,
        "da4ml_cost": project.cost,
        "yosys": figures,
        "published": published,
    }
    print(
        f"| jet tagger 6-bit pruned | {figures['lut']} | {figures['ff']} | {figures['carry']} | {figures['dsp']} | "
        f"{project.cost:.0f} | {project.latency_cycles} | {figures['seconds']:.0f} | "
        f"{published['lut']} LUT, {published['dsp']} DSP, {published['latency_cycles']} cycles |"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python scripts/bench.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="what", required=True)
    d = sub.add_parser("data", help="generation rate and peak memory per family")
    d.add_argument("--events", type=int, default=1_000_000)
    r = sub.add_parser("run", help="wall time of `l1ad run` in a fresh run directory")
    r.add_argument("--config", default="configs/default.yaml")
    c = sub.add_parser("csim", help="sharded C simulation: events/s in a loop and with 1 and 2 Dask workers")
    c.add_argument("--config", default="configs/default.yaml")
    c.add_argument("--run-dir", default="runs/default", help="its AE firmware is made if missing")
    c.add_argument("--events", type=int, default=1_000_000)
    c.add_argument("--chunk-events", type=int, default=50_000)
    t = sub.add_parser("rtl", help="RTL per deployed scorer: Verilator build and events/s, Yosys figures")
    t.add_argument("--config", default="configs/default.yaml")
    t.add_argument("--run-dir", default="runs/default", help="its firmware stage is redone with RTL")
    t.add_argument("--no-synthesize", action="store_true", help="skip Yosys")
    t.add_argument(
        "--calibration", action="store_true", help="instead: Yosys on the published jet tagger (REFERENCE.md)"
    )
    args = parser.parse_args()
    if args.what == "data":
        print(
            "| family | events | seconds | events/s | peak RSS (MB) | file (MB) |\n|---|---|---|---|---|---|"
        )
        result = bench_data(args.events)
    elif args.what == "csim":
        print("| how | events | seconds | events/s |\n|---|---|---|---|")
        result = bench_csim(args.config, args.run_dir, args.events, args.chunk_events)
    elif args.what == "rtl" and args.calibration:
        print(
            "| network | Yosys LUT | FF | CARRY | DSP | da4ml cost | latency (cycles) | Yosys (s) | published (Vivado HLS) |"
            "\n|---|---|---|---|---|---|---|---|---|"
        )
        result = bench_rtl_calibration()
    elif args.what == "rtl":
        print(
            "| model | events | RTL == csim | trace + write (s) | Verilator build (s) | events/s | latency (cycles) "
            "| Yosys (s) | LUT | FF | CARRY | DSP | da4ml cost |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        )
        result = bench_rtl(args.config, args.run_dir, not args.no_synthesize)
    else:
        result = bench_run(args.config)
    result = {
        "machine": {
            "cpus": __import__("os").cpu_count(),
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        },
        "results": result,
    }
    name = "rtl_calibration" if args.what == "rtl" and args.calibration else args.what
    out = ROOT / "benchmarks" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
