"""The README's two commands, timed as a new user meets them: on a fresh clone of this repository.

    python scripts/bench_readme.py [--skip-run] [--skip-rerun] [--skip-studies] [--skip-tests] [--keep DIR] [--cold]

Clones the committed HEAD into a temporary folder (no ``.venv``, no run directory), then times
``bash scripts/setup.sh`` (Python packages from the local pip cache; da4ml's numba solver compiled),
``bash scripts/run.sh`` (the main job; its set-up step is then a no-op), the main job again after a change
to one model's quantize config (``quantize.ae.learning_rate``: the CI loop's rerun), ``l1ad studies`` and
``bash scripts/test.sh --durations=20``. Each README command on a fresh clone costs set-up plus its
own time. Records per-stage seconds (the run's manifest), per-study seconds, the slowest tests and
the machine's load average sampled every 10 s (other work on the machine slows everything), in
``benchmarks/readme.json`` (written after each step), and prints Markdown tables for BENCHMARKS.md.
``--cold`` gives the commands empty user caches, as on a new CI machine: YoWASP's compiled Yosys and
l1ad's C simulation builds (``XDG_CACHE_HOME``, ``L1AD_CSIM_CACHE``); pip keeps its own download cache.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

DURATION = re.compile(r"^([\d.]+)s (call|setup|teardown)\s+(\S+)")
SUMMARY = re.compile(r"(\d+) passed")


class LoadSampler:
    """Samples the 1-minute load average every 10 s in a thread: the figure that says whether a
    timing was taken on a quiet machine."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(10):
            self.samples.append(os.getloadavg()[0])

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        s = self.samples or [os.getloadavg()[0]]
        return {"mean": sum(s) / len(s), "max": max(s)}


ENV: dict[str, str] = {}  # what --cold adds to the environment of every timed command


def timed(cmd: list[str], cwd: Path, log: Path) -> tuple[float, dict, str]:
    """Run ``cmd`` in ``cwd`` with output to ``log``; return wall seconds, load figures and the output."""
    sampler = LoadSampler()
    t = time.perf_counter()
    with log.open("w") as out:
        env = {**os.environ, **ENV}
        rc = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - t
    load = sampler.stop()
    text = log.read_text()
    if rc != 0:
        sys.exit(f"bench_readme: {' '.join(cmd)} failed (exit {rc}); see {log}")
    return seconds, load, text


def measure(script: str, args: list[str], clone: Path, logs: Path, setup: dict) -> tuple[dict, str]:
    """``bash scripts/<script> ARGS`` in the clone, timed: its record (with the set-up it followed) and output."""
    seconds, load, text = timed(
        ["bash", f"scripts/{script}", *args], clone, logs / f"{script.split('.')[0]}.log"
    )
    print(f"\n{script}: {seconds:.0f} s, with set-up {seconds + setup['seconds']:.0f} s", flush=True)
    record = {
        "commit": setup["commit"],
        "setup": setup,
        "seconds": seconds,
        "with_setup_seconds": seconds + setup["seconds"],
        "load": load,
    }
    return record, text


def slowest_tests(text: str, n: int = 20) -> list[dict]:
    rows = [m.groups() for line in text.splitlines() if (m := DURATION.match(line.strip()))]
    rows = sorted(((float(s), when, test) for s, when, test in rows), reverse=True)[:n]
    return [{"seconds": s, "when": when, "test": test} for s, when, test in rows]


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python scripts/bench_readme.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--skip-run", action="store_true", help="do not time scripts/run.sh")
    parser.add_argument(
        "--skip-rerun", action="store_true", help="do not time the rerun after one model's change"
    )
    parser.add_argument("--skip-studies", action="store_true", help="do not time l1ad studies")
    parser.add_argument("--skip-tests", action="store_true", help="do not time scripts/test.sh")
    parser.add_argument("--keep", help="clone into this (new) folder and keep it, instead of a temporary one")
    parser.add_argument("--cold", action="store_true", help="empty user caches (YoWASP, C simulation builds)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(args.keep) if args.keep else Path(tmp) / "l1ad"
        commit = subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True).strip()
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        logs = ROOT / "benchmarks" / "readme_logs"
        logs.mkdir(parents=True, exist_ok=True)
        out = ROOT / "benchmarks" / "readme.json"
        # what an earlier call measured stays (e.g. the main job, when this call times only the tests)
        result: dict = json.loads(out.read_text()) if out.is_file() else {}
        result.update({"cpus": os.cpu_count(), "python": sys.version.split()[0]})
        if args.cold:
            pip_cache = subprocess.check_output(
                [sys.executable, "-m", "pip", "cache", "dir"], text=True
            ).strip()
            ENV.update(
                {
                    "XDG_CACHE_HOME": f"{tmp}/cache",
                    "L1AD_CSIM_CACHE": f"{tmp}/cache/l1ad/csim",
                    "PIP_CACHE_DIR": pip_cache,
                }
            )

        def save(step: str, record: dict) -> None:
            result[step] = {**record, "cold_caches": args.cold}
            out.write_text(json.dumps(result, indent=2) + "\n")

        run_dir = clone / "runs" / "default"
        seconds, load, _ = timed(["bash", "scripts/setup.sh"], clone, logs / "setup.log")
        setup = {"commit": commit, "seconds": seconds, "load": load}
        print(f"set-up (fresh .venv): {seconds:.0f} s (load {load['mean']:.1f})", flush=True)

        if not args.skip_run:
            record, _ = measure("run.sh", ["--run-dir", str(run_dir)], clone, logs, setup)
            # the standard library only (no l1ad import): this runs with any Python, before a .venv exists
            manifest = json.loads((run_dir / "manifest.json").read_text())
            stages = {
                s: {"seconds": r["seconds"], "cpu_seconds": r.get("cpu_seconds")}
                for s, r in manifest["stages"].items()
            }
            # `l1ad run` ends with the gate: a failed gate exits non-zero, which `timed` refuses
            save("run", {**record, "stages": stages, "gate_passed": True})
            print("| stage | wall s | CPU s |\n|---|---|---|")
            for s, v in stages.items():
                print(f"| {s} | {v['seconds']:.0f} | {v['cpu_seconds'] or 0:.0f} |")

        l1ad = str(clone / ".venv" / "bin" / "l1ad")
        if not args.skip_run and not args.skip_rerun:
            changed = clone / "changed.yaml"  # the default config with the AE's QAT learning rate changed
            edit = (
                "import sys, yaml; c = yaml.safe_load(open(sys.argv[1])); "
                "c['quantize']['ae']['learning_rate'] *= 2; yaml.safe_dump(c, open(sys.argv[2], 'w'))"
            )
            py = str(clone / ".venv" / "bin" / "python")
            subprocess.run([py, "-c", edit, "configs/default.yaml", str(changed)], cwd=clone, check=True)
            seconds, load, text = timed(
                [l1ad, "run", "--config", str(changed), "--run-dir", str(run_dir)], clone, logs / "rerun.log"
            )
            kept = [line for line in text.splitlines() if "up to date, kept" in line]
            save("rerun_one_model", {"commit": commit, "seconds": seconds, "load": load, "kept": kept})
            print(f"\nrerun after quantize.ae changed: {seconds:.0f} s; " + "; ".join(kept), flush=True)
        if not args.skip_studies:
            seconds, load, _ = timed(
                [l1ad, "studies", "--run-dir", str(run_dir)], clone, logs / "studies.log"
            )
            manifest = json.loads((run_dir / "manifest.json").read_text())
            per_study = {s: r["seconds"] for s, r in manifest["stages"].items() if s.startswith("studies/")}
            save("studies", {"commit": commit, "seconds": seconds, "load": load, "per_study": per_study})
            print(f"\nl1ad studies: {seconds:.0f} s ({per_study})", flush=True)

        if not args.skip_tests:
            record, text = measure("test.sh", ["--durations=20"], clone, logs, setup)
            passed = SUMMARY.search(text.splitlines()[-1] if text else "")
            record.update(
                {"passed": int(passed.group(1)) if passed else None, "slowest": slowest_tests(text)}
            )
            save("tests", record)
            print("| test | phase | seconds |\n|---|---|---|")
            for r in record["slowest"]:
                print(f"| {r['test']} | {r['when']} | {r['seconds']:.0f} |")

    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
